//! Relay and normalized caches (urql's graphcache, Apollo's) key objects by
//! `__typename` and `id`, and refetch one with `node(id:)`. The queries here
//! are what Relay's compiler emits for a `@refetchable` fragment on `Call`:
//! the client sends exactly these documents.

use serde_json::{Value, json};
use udesk_calls::Settings;

use crate::support::TestApp;
use crate::support::calls::synthetic_call;

/// The list query, as Relay sends it: `id` added to every `Node`.
const LIST: &str = "query CallListQuery {
  calls(first: 5) {
    nodes {
      ...CallRow_call
      id
    }
  }
}

fragment CallRow_call on Call {
  conversationId
  status
  totalTime
  id
}";

/// The refetch query Relay generates for `CallRow_call @refetchable`.
const REFETCH: &str = "query CallRowRefetchQuery(
  $id: ID!
) {
  node(id: $id) {
    __typename
    ...CallRow_call
    id
  }
}

fragment CallRow_call on Call {
  conversationId
  status
  totalTime
  id
}";

async fn refetch(app: &TestApp, id: &Value) -> Value {
    let answer = app.graphql(REFETCH, json!({ "id": id })).await;
    assert!(answer.get("errors").is_none(), "{answer}");
    answer["data"]["node"].clone()
}

#[tokio::test]
async fn a_relay_client_refetches_each_call_by_its_id_and_the_ids_outlive_a_restart() {
    let app = TestApp::start().await;
    for id in [31, 32, 33] {
        for body in synthetic_call(id, 2) {
            app.push(body).await;
        }
    }
    let list = app.graphql(LIST, json!({})).await;
    let nodes = list["data"]["calls"]["nodes"].as_array().unwrap().clone();
    assert_eq!(nodes.len(), 3, "{list}");
    for node in &nodes {
        let id = &node["id"];
        assert!(id.as_str().is_some_and(|id| !id.is_empty()));
        let refetched = refetch(&app, id).await;
        assert_eq!(refetched["__typename"], "Call");
        for field in ["id", "conversationId", "status", "totalTime"] {
            assert_eq!(refetched[field], node[field], "{field}");
        }
    }
    let ids: std::collections::HashSet<&str> = nodes
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), nodes.len(), "each call has its own id");

    // The same ids name the same calls after a restart.
    let dir = app.stop_keeping_files().await;
    let app = TestApp::start_in(dir, Settings::open_local()).await;
    for node in &nodes {
        assert_eq!(
            refetch(&app, &node["id"]).await["conversationId"],
            node["conversationId"]
        );
    }

    // An id that names nothing is null, not an error.
    let missing = base64_of("Call:999999");
    for id in [missing.as_str(), "not an id", "", "QWdlbnQ6MQ=="] {
        assert_eq!(refetch(&app, &json!(id)).await, Value::Null, "{id:?}");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
