//! What a query document costs once its fragments are expanded, measured
//! before async-graphql sees it.
//!
//! async-graphql's checks (recursion depth, directives, validation, depth
//! and complexity) walk every fragment spread into its fragment, so a 1 KB
//! document whose fragments each spread the previous one twice makes them
//! walk 2^N paths: minutes of CPU and gigabytes before any limit applies.
//! This pass measures the document in one walk instead: each fragment is
//! measured once and its measure reused wherever it is spread, so its cost
//! is linear in the document's length however many times the fragments
//! multiply. A cycle of fragments or a nesting past [`MAX_NESTING`] stops
//! the walk, which keeps its recursion bounded.

use std::collections::{HashMap, HashSet};
use std::ops::Add;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The longest query document accepted, in bytes. GraphiQL's introspection
/// query has 2 KB and a dashboard's rarely 10 KB; every token is at least a
/// byte, so this also bounds the tokens the parser reads.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The most fields a document may select once its fragments are expanded
/// (counting `__typename`). GraphiQL's introspection query expands to 227
/// and a page with every field of a call to 109.
pub const MAX_SELECTIONS: u64 = 5_000;

/// The most aliased fields once fragments are expanded. A dashboard asking
/// for a few dozen figures side by side fits many times over.
pub const MAX_ALIASES: u64 = 256;

/// The most directives (`@include`, `@skip`) once fragments are expanded.
pub const MAX_DIRECTIVES: u64 = 256;

/// The deepest nesting of fields, fragment spreads and inline fragments,
/// counted as async-graphql's own recursion check counts it (its limit is
/// 32). GraphiQL's introspection query nests 15 levels.
pub const MAX_NESTING: usize = 32;

/// The size of a document or of a part of it, fragments expanded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    pub selections: u64,
    pub aliases: u64,
    pub directives: u64,
    /// Levels of nesting below the measured selection set.
    pub height: usize,
}

impl Add for Measure {
    type Output = Measure;

    /// Saturating: a hostile document may claim more than 2^64 fields.
    fn add(self, other: Measure) -> Measure {
        Measure {
            selections: self.selections.saturating_add(other.selections),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
            height: self.height.max(other.height),
        }
    }
}

/// Why a document is refused before validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit: the query is too costly (`QUERY_TOO_COMPLEX`).
    TooComplex(String),
    /// Fragments that spread themselves: the document is invalid
    /// (`BAD_USER_INPUT`), as the GraphQL spec says.
    FragmentCycle(String),
}

/// Refuses a document longer than [`MAX_DOCUMENT_BYTES`], before parsing.
pub fn check_length(query: &str) -> Result<(), Refusal> {
    if query.len() > MAX_DOCUMENT_BYTES {
        return Err(Refusal::TooComplex(format!(
            "Query is too complex: the document has {} bytes, the limit is {MAX_DOCUMENT_BYTES}; \
             send a shorter query",
            query.len()
        )));
    }
    Ok(())
}

/// Measures every operation of `document` (async-graphql validates them all).
pub fn measure(document: &ExecutableDocument) -> Result<Measure, Refusal> {
    let mut walk = Walk {
        document,
        measured: HashMap::new(),
        entered: HashSet::new(),
    };
    let mut total = Measure::default();
    for (_, operation) in document.operations.iter() {
        total = total + walk.selection_set(&operation.node.selection_set.node, 0)?;
    }
    Ok(total)
}

/// Refuses a measure over the limits; `what` names what was measured
/// ("the query", "the batch's queries together").
pub fn check(measure: &Measure, what: &str) -> Result<(), Refusal> {
    let over = |count: u64, limit: u64, things: &str, advice: &str| {
        Refusal::TooComplex(format!(
            "Query is too complex: {what} select {count} {things} once fragments are expanded, \
             the limit is {limit}; {advice}"
        ))
    };
    if measure.selections > MAX_SELECTIONS {
        return Err(over(
            measure.selections,
            MAX_SELECTIONS,
            "fields",
            "spread fragments fewer times",
        ));
    }
    if measure.aliases > MAX_ALIASES {
        return Err(over(
            measure.aliases,
            MAX_ALIASES,
            "aliased fields",
            "ask for fewer figures at once",
        ));
    }
    if measure.directives > MAX_DIRECTIVES {
        return Err(over(
            measure.directives,
            MAX_DIRECTIVES,
            "directives",
            "use fewer @include and @skip",
        ));
    }
    Ok(())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's measure, taken once.
    measured: HashMap<&'a str, Measure>,
    /// Fragments being measured: meeting one again is a cycle.
    entered: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    /// The measure of `set`, found `nesting` levels below its operation.
    fn selection_set(&mut self, set: &'a SelectionSet, nesting: usize) -> Result<Measure, Refusal> {
        let mut total = Measure::default();
        for selection in &set.items {
            let below = nesting + 1;
            if below > MAX_NESTING {
                return Err(too_deep());
            }
            let mut part = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let children = if field.selection_set.node.items.is_empty() {
                        Measure::default()
                    } else {
                        self.selection_set(&field.selection_set.node, below)?
                    };
                    Measure {
                        selections: 1,
                        aliases: u64::from(field.alias.is_some()),
                        directives: field.directives.len() as u64,
                        height: 0,
                    } + children
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    Measure {
                        directives: inline.directives.len() as u64,
                        ..Measure::default()
                    } + self.selection_set(&inline.selection_set.node, below)?
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    Measure {
                        directives: spread.directives.len() as u64,
                        ..Measure::default()
                    } + self.fragment(&spread.fragment_name.node, below)?
                }
            };
            part.height += 1;
            if nesting + part.height > MAX_NESTING {
                return Err(too_deep());
            }
            total = total + part;
        }
        Ok(total)
    }

    /// The measure of the fragment `name` (nothing for an unknown one:
    /// validation names it), taken the first time it is spread.
    fn fragment(&mut self, name: &'a str, nesting: usize) -> Result<Measure, Refusal> {
        if let Some(measure) = self.measured.get(name) {
            return Ok(*measure);
        }
        let Some((name, fragment)) = self.document.fragments.get_key_value(name) else {
            return Ok(Measure::default());
        };
        let name = name.as_str();
        if !self.entered.insert(name) {
            return Err(Refusal::FragmentCycle(format!(
                "the fragment {name} spreads itself, directly or through other fragments; \
                 fragments must not form cycles"
            )));
        }
        let measure = self.selection_set(&fragment.node.selection_set.node, nesting)?;
        self.entered.remove(name);
        self.measured.insert(name, measure);
        Ok(measure)
    }
}

fn too_deep() -> Refusal {
    Refusal::TooComplex(format!(
        "Query is nested too deep: more than {MAX_NESTING} levels of fields, fragment spreads \
         and inline fragments"
    ))
}

#[cfg(test)]
mod tests;
