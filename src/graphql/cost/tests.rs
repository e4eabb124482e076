use std::time::{Duration, Instant};

use async_graphql::parser::parse_query;

use super::*;

/// `query { __typename ...G<levels-1> }`, each fragment spreading the
/// previous one `fan_out` times beside an aliased `__typename`.
fn fan_out(levels: usize, fan_out: usize) -> String {
    let mut query = format!("query {{ __typename ...G{} }}\n", levels - 1);
    query.push_str("fragment G0 on Query { __typename }\n");
    for level in 1..levels {
        let spreads = vec![format!("...G{}", level - 1); fan_out].join(" ");
        query.push_str(&format!(
            "fragment G{level} on Query {{ a{level}: __typename {spreads} }}\n"
        ));
    }
    query
}

fn measured(query: &str) -> Result<Measure, Refusal> {
    measure(&parse_query(query).expect("the query parses"))
}

#[test]
fn a_fan_out_of_fragments_is_measured_in_one_walk_and_refused() {
    for (levels, spreads) in [(22, 2), (30, 2), (8, 10), (9, 10), (30, 10)] {
        let query = fan_out(levels, spreads);
        let started = Instant::now();
        let measure = measured(&query).unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(50),
            "{levels}×{spreads}: {took:?}"
        );
        assert!(measure.selections > MAX_SELECTIONS, "{measure:?}");
        let refusal = check(&measure, "the query").unwrap_err();
        assert!(
            matches!(&refusal, Refusal::TooComplex(message) if message.contains("fields once fragments are expanded")),
            "{refusal:?}"
        );
    }
    // 2^N − 1 + 1 fields: exact while it fits, saturated beyond.
    assert_eq!(measured(&fan_out(22, 2)).unwrap().selections, 1 << 22);
    assert_eq!(measured(&fan_out(30, 10)).unwrap().selections, u64::MAX);
}

#[test]
fn graphiql_s_introspection_query_is_well_within_the_limits() {
    let query = include_str!("../../../tests/payloads/graphiql-introspection.graphql");
    check_length(query).unwrap();
    let measure = measured(query).unwrap();
    check(&measure, "the query").unwrap();
    assert_eq!(measure.aliases, 0);
    assert!(measure.selections < MAX_SELECTIONS / 10, "{measure:?}");
    assert!(measure.height < MAX_NESTING, "{measure:?}");
}

#[test]
fn aliases_and_directives_are_counted_once_fragments_are_expanded() {
    let query = "{ ...A ...A b: __typename } \
                 fragment A on Query { x: __typename y: __typename @include(if: true) }";
    let measure = measured(query).unwrap();
    assert_eq!(
        measure,
        Measure {
            selections: 5,
            aliases: 5,
            directives: 2,
            height: 2,
        }
    );
    let two_hundred = format!(
        "fragment A on Query {{ {} }}",
        (0..200)
            .map(|i| format!("t{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let once = format!("{{ ...A }} {two_hundred}");
    check(&measured(&once).unwrap(), "the query").unwrap();
    let twice = format!("{{ ...A ...B }} fragment B on Query {{ ...A }} {two_hundred}");
    let refusal = check(&measured(&twice).unwrap(), "the query").unwrap_err();
    assert!(
        matches!(&refusal, Refusal::TooComplex(message) if message.contains("400 aliased fields")),
        "{refusal:?}"
    );
}

#[test]
fn fragments_spreading_themselves_are_refused_as_a_cycle() {
    for query in [
        "{ ...A } fragment A on Query { __typename ...A }",
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ... on Query { ...A } }",
    ] {
        let refusal = measured(query).unwrap_err();
        assert!(
            matches!(&refusal, Refusal::FragmentCycle(message) if message.contains("spreads itself")),
            "{query}: {refusal:?}"
        );
    }
}

#[test]
fn a_long_chain_of_fragments_is_refused_as_too_deep_without_exhausting_the_stack() {
    let mut query = String::from("{ ...F0 }\n");
    for i in 0..5_000 {
        query.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
    }
    query.push_str("fragment F5000 on Query { __typename }\n");
    let refusal = measured(&query).unwrap_err();
    assert!(
        matches!(&refusal, Refusal::TooComplex(message) if message.contains("nested too deep")),
        "{refusal:?}"
    );
    // A fragment measured shallow is still too deep where it is spread deeper.
    let deep_spread = format!(
        "{{ ...D x: calls {{ {} ...D {} }} }} fragment D on Query {{ {} __typename {} }}",
        "nodes { relatedCalls { ".repeat(8),
        "} } ".repeat(8),
        "calls { nodes { ".repeat(8),
        "} } ".repeat(8)
    );
    assert!(measured(&deep_spread).is_err());
    let shallow = "{ ...D } fragment D on Query { calls { nodes { __typename } } }";
    assert!(measured(shallow).is_ok());
}

#[test]
fn unknown_fragments_count_nothing_and_are_left_to_validation() {
    assert_eq!(measured("{ __typename ...Missing }").unwrap().selections, 1);
}

#[test]
fn documents_over_the_length_limit_are_refused_before_parsing() {
    let long = format!("{{ __typename }} # {}", "x".repeat(MAX_DOCUMENT_BYTES));
    assert!(matches!(check_length(&long), Err(Refusal::TooComplex(_))));
    assert!(check_length("{ __typename }").is_ok());
}
