//! The schema as clients see it: `schema.graphql` is current, every push
//! field is exposed, and everything carries a description.

use std::path::Path;

use serde_json::Value;
use udesk_calls::domain::SCALAR_FIELDS;
use udesk_calls::graphql::{Query, sdl};

fn camel_case(snake: &str) -> String {
    let mut camel = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    camel
}

/// The `Call` type's block of the SDL.
fn call_type_block(sdl: &str) -> &str {
    let start = sdl
        .find("\ntype Call implements Node {")
        .expect("the SDL has type Call");
    let end = sdl[start..].find("\n}").expect("type Call ends") + start + 1;
    &sdl[start..end]
}

#[test]
fn schema_graphql_is_what_udesk_calls_schema_prints_and_is_rewritten_when_stale() {
    let current = sdl();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != current {
        std::fs::write(&path, &current).expect("schema.graphql is writable");
        panic!("schema.graphql was stale and has been rewritten; review and commit it");
    }
}

#[test]
fn every_scalar_push_field_is_a_field_of_call() {
    let sdl = sdl();
    let call = call_type_block(&sdl);
    for field in SCALAR_FIELDS {
        // The pushed string of IVR variables is `ivrVariablesRaw`: the name
        // `ivrVariables` holds them as pairs.
        let name = match field.name {
            "ivr_variables" => "ivrVariablesRaw".to_owned(),
            other => camel_case(other),
        };
        assert!(call.contains(&format!("\n\t{name}: ")), "Call lacks {name}");
    }
}

#[test]
fn contract_fields_have_the_contract_types() {
    let sdl = sdl();
    let call = call_type_block(&sdl);
    for line in [
        "conversationId: ID!",
        "callId: String",
        "status: CallStatus!",
        "lastOccasion: String!",
        "startedAt: DateTime",
        "agentId: ID",
        "totalTime: Int",
        "customerRingAt: DateTime",
        "queueStatue: String",
        "events: [CallEvent!]!",
        "customFields: [CustomField!]!",
        "ticketNumbers: [String!]!",
        "calloutTasks: [CalloutTask!]!",
        "relatedCalls: [Call!]!",
    ] {
        assert!(call.contains(&format!("\t{line}\n")), "Call lacks `{line}`");
    }
    let bare = without_descriptions(&sdl);
    for text in [
        "scalarDateTime",
        "scalarJSON",
        "call(conversationId:ID!):Call",
        "calls(filter:CallFilter,orderBy:CallOrder=STARTED_AT_DESC,first:Int,after:String,last:Int,before:String):CallConnection!",
        "callStats(filter:CallFilter,groupBy:[CallDimension!]):[CallStatsRow!]!",
        "typeCallEvent{occasion:String!timestamp:DateTimereceivedAt:DateTime!deliveries:Int!payload:JSON!body:String!}",
        "typeCustomField{id:String!name:Stringvalue:JSON}",
        "typeCalloutTask{id:ID!name:String}",
        "typePageInfo{hasNextPage:Boolean!hasPreviousPage:Boolean!startCursor:StringendCursor:String}",
        "typeCallEdge{cursor:String!node:Call!}",
        "inputTimeRange{from:DateTimeto:DateTime}",
    ] {
        assert!(bare.contains(text), "the SDL lacks `{text}`");
    }
}

/// The SDL without descriptions and whitespace, to compare signatures.
fn without_descriptions(sdl: &str) -> String {
    let mut bare = String::new();
    for (index, part) in sdl.split("\"\"\"").enumerate() {
        if index % 2 == 0 {
            bare.extend(part.chars().filter(|c| !c.is_whitespace()));
        }
    }
    bare
}

/// Names of schema elements (types, fields, arguments, input fields, enum
/// values) of our own types that have no description.
fn undescribed(schema: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let described = |item: &Value| {
        item["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    for ty in schema["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if !described(ty) {
            missing.push(name.to_owned());
        }
        for kind in ["fields", "inputFields", "enumValues"] {
            for item in ty[kind].as_array().into_iter().flatten() {
                let item_name = format!("{name}.{}", item["name"].as_str().unwrap());
                if !described(item) {
                    missing.push(item_name.clone());
                }
                for argument in item["args"].as_array().into_iter().flatten() {
                    if !described(argument) {
                        missing.push(format!(
                            "{item_name}({})",
                            argument["name"].as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    missing
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_has_a_description() {
    let schema = async_graphql::Schema::build(
        Query,
        async_graphql::EmptyMutation,
        async_graphql::EmptySubscription,
    )
    .finish();
    let response = schema
        .execute(
            "{ __schema { types { name description
                fields { name description args { name description } }
                inputFields { name description }
                enumValues { name description } } } }",
        )
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let missing = undescribed(&data["__schema"]);
    assert!(missing.is_empty(), "without a description: {missing:?}");
}
