//! One call in full, the calls around it, agents, code lists and rejected
//! pushes, all through the real webhook and `/graphql`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::support::TestApp;
use crate::support::calls::generate_calls;

fn vendor_sample() -> Value {
    serde_json::from_str(include_str!("../../examples/seed-end.json")).unwrap()
}

const CALL: &str = "query($id: ID!) { call(conversationId: $id) { ...CallDetails } }";

async fn call(app: &TestApp, id: &str) -> Value {
    let query = format!(
        "{CALL}\n{}",
        include_str!("../../examples/call-fields.graphql")
    );
    app.data(&query, json!({ "id": id })).await["call"].clone()
}

#[tokio::test]
async fn the_vendor_sample_is_served_with_every_field_typed() {
    let app = TestApp::start().await;
    app.push_json(&vendor_sample()).await;
    let call = call(&app, "54093").await;
    assert_eq!(call["conversationId"], json!("54093"));
    assert_eq!(call["status"], json!("ENDED"));
    assert_eq!(call["lastOccasion"], json!("end"));
    assert_eq!(call["startedAt"], json!("2022-03-03T14:27:10+08:00"));
    assert_eq!(call["agentId"], json!("1941"));
    assert_eq!(call["customerId"], json!("1122333211"));
    assert_eq!(call["questionnaireId"], json!("13"));
    assert_eq!(call["totalTime"], json!(81));
    assert_eq!(call["isBlocked"], json!(true));
    assert_eq!(call["isLeaveMessage"], json!(false));
    assert_eq!(call["customerHangupAt"], json!("2019-07-24T15:23:17+08:00"));
    assert_eq!(call["agentRingAt"], Value::Null);
    assert_eq!(call["callResult"], json!("客户接听"));
    assert_eq!(call["ticketNumbers"], json!(["#12", "#13"]));
    assert_eq!(call["relevantAgents"], json!(["demo2"]));
    assert_eq!(call["agentTags"], json!(["客服标签", "show case"]));
    assert_eq!(
        call["weixinOpenids"],
        json!(["weixin_openids1", "weixin_openids2"])
    );
    assert_eq!(
        call["calloutTasks"],
        json!([{ "id": "1301", "name": "外呼任务1" }])
    );
    assert_eq!(call["ivrRecordings"][0]["id"], json!("50107001"));
    assert_eq!(call["customFields"].as_array().unwrap().len(), 13);
    assert_eq!(
        call["customFields"][9],
        json!({ "id": "SelectField_257", "name": "10项级联", "value": ["一级选项", "二级选项"] })
    );
    let answers = call["questionnaireAnswers"].as_array().unwrap();
    assert!(answers.contains(&json!({ "question": "过年回家吗?", "answer": "不回" })));
    assert_eq!(call["eventCount"], json!(1));
    assert_eq!(call["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        call["events"][0]["payload"],
        vendor_sample(),
        "the payload is the push, whole"
    );
    assert_eq!(
        call["events"][0]["timestamp"],
        json!("2019-07-24T15:23:17+08:00")
    );
    assert_eq!(call["events"][0]["deliveries"], json!(1));
}

#[tokio::test]
async fn an_unknown_call_is_null() {
    let app = TestApp::start().await;
    let data = app
        .data(
            "{ call(conversationId: \"9007199254740993\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(data["call"], Value::Null);
}

#[tokio::test]
async fn events_come_in_event_time_order_with_redeliveries_counted_and_form_bodies_as_objects() {
    let app = TestApp::start().await;
    let later = json!({ "conversation_id": 7, "occasion": "hangup", "timestamp": "2024-05-01 10:05:00 +0800", "ivr_variables": "aa:11,bb:22" });
    let earlier = json!({ "conversation_id": 7, "occasion": "agent_incall", "timestamp": "2024-05-01 10:00:00 +0800" });
    app.push_json(&later).await;
    app.push_json(&later).await;
    app.push_json(&earlier).await;
    let form =
        "conversation_id=7&occasion=end&timestamp=2024-05-01+10%3A06%3A00+%2B0800&total_time=300";
    assert_eq!(
        app.push_raw(form, "application/x-www-form-urlencoded")
            .await,
        200
    );
    let call = call(&app, "7").await;
    let occasions: Vec<&str> = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["occasion"].as_str().unwrap())
        .collect();
    assert_eq!(occasions, ["agent_incall", "hangup", "end"]);
    assert_eq!(call["events"][1]["deliveries"], json!(2));
    assert_eq!(call["events"][2]["payload"]["total_time"], json!("300"));
    assert_eq!(call["eventCount"], json!(3));
    assert_eq!(call["totalTime"], json!(300));
    assert_eq!(call["ivrVariablesRaw"], json!("aa:11,bb:22"));
    assert_eq!(
        call["ivrVariables"],
        json!([{ "name": "aa", "value": "11" }, { "name": "bb", "value": "22" }])
    );
}

#[tokio::test]
async fn unreadable_fields_show_as_parse_warnings_and_empty_values() {
    let app = TestApp::start().await;
    app.push_json(&json!({ "conversation_id": 8, "occasion": "end", "total_time": "abc", "agent_ring_at": "soon" }))
        .await;
    let call = call(&app, "8").await;
    assert_eq!(call["totalTime"], Value::Null);
    let mut fields: Vec<&str> = call["parseWarnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["agent_ring_at", "total_time"]);
    assert_eq!(
        call["parseWarnings"][0]["rawValue"]
            .as_str()
            .map(|v| v.contains("abc") || v.contains("soon")),
        Some(true)
    );
}

#[tokio::test]
async fn related_calls_share_the_call_id_and_exclude_the_call_itself() {
    let app = TestApp::start().await;
    for (id, call_id) in [
        (1, "series-a"),
        (2, "series-a"),
        (3, "series-a"),
        (4, "series-b"),
    ] {
        app.push_json(
            &json!({ "conversation_id": id, "call_id": call_id, "occasion": "end",
            "call_start_at": format!("2024-05-01 10:0{id}:00 +0800") }),
        )
        .await;
    }
    let data = app
        .data(
            "{ calls(orderBy: STARTED_AT_ASC) { nodes { conversationId relatedCalls { conversationId } } } }",
            json!({}),
        )
        .await;
    let related: Vec<Value> = data["calls"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["relatedCalls"].clone())
        .collect();
    assert_eq!(
        related[0],
        json!([{ "conversationId": "2" }, { "conversationId": "3" }])
    );
    assert_eq!(
        related[1],
        json!([{ "conversationId": "1" }, { "conversationId": "3" }])
    );
    assert_eq!(related[3], json!([]));
}

#[tokio::test]
async fn agents_show_their_latest_details_and_call_counts() {
    let app = TestApp::start().await;
    let push = |id: i64, agent: i64, email: &str, group: i64, start: &str| {
        json!({ "conversation_id": id, "occasion": "end", "agent_id": agent, "agent_email": email,
            "agent_nick_name": email.split('@').next().unwrap(), "user_group_id": group,
            "user_group_name": format!("group {group}"), "call_start_at": start })
    };
    app.push_json(&push(1, 7, "new@x.cn", 2, "2024-05-02 09:00:00 +0800"))
        .await;
    app.push_json(&push(2, 7, "old@x.cn", 1, "2024-05-01 09:00:00 +0800"))
        .await;
    app.push_json(&push(3, 9, "nine@x.cn", 1, "2024-05-01 08:00:00 +0800"))
        .await;
    let data = app
        .data(
            "{ agents { agentId email nickName groupId groupName callCount lastCallAt } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["agents"],
        json!([
            { "agentId": "7", "email": "new@x.cn", "nickName": "new", "groupId": "2", "groupName": "group 2",
              "callCount": 2, "lastCallAt": "2024-05-02T09:00:00+08:00" },
            { "agentId": "9", "email": "nine@x.cn", "nickName": "nine", "groupId": "1", "groupName": "group 1",
              "callCount": 1, "lastCallAt": "2024-05-01T08:00:00+08:00" },
        ])
    );
}

#[tokio::test]
async fn code_lists_carry_chinese_and_english_labels() {
    let app = TestApp::start().await;
    let data = app
        .data(
            "{ occasions { code nameZh nameEn } categories { code nameZh nameEn } workflows { code nameZh nameEn }
               defeatCauses { id name alias description descriptionEn } }",
            json!({}),
        )
        .await;
    assert_eq!(data["occasions"].as_array().unwrap().len(), 24);
    assert!(
        data["occasions"].as_array().unwrap().contains(
            &json!({ "code": "end", "nameZh": "通话结束", "nameEn": "the call is over" })
        )
    );
    assert_eq!(data["categories"].as_array().unwrap().len(), 10);
    assert!(
        data["workflows"]
            .as_array()
            .unwrap()
            .contains(&json!({ "code": "in", "nameZh": "呼入", "nameEn": "inbound" }))
    );
    assert_eq!(data["defeatCauses"].as_array().unwrap().len(), 18);
    assert_eq!(
        data["defeatCauses"][0],
        json!({ "id": "1", "name": "关机", "alias": "power off", "description": "关机", "descriptionEn": "phone switched off" })
    );
}

#[tokio::test]
async fn rejected_pushes_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::start().await;
    for index in 0..5 {
        assert_eq!(
            app.push_raw(&format!("not json {index}"), "application/json")
                .await,
            400
        );
    }
    assert_eq!(
        app.push_raw("{\"occasion\":\"end\"}", "application/json")
            .await,
        422
    );
    let query = "query($after: String) { rejectedPushes(first: 4, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
        nodes { id receivedAt httpStatus error contentType body } } }";
    let first = app.data(query, json!({})).await["rejectedPushes"].clone();
    assert_eq!(first["totalCount"], json!(6));
    assert_eq!(first["nodes"][0]["httpStatus"], json!(422));
    assert_eq!(first["nodes"][0]["body"], json!("{\"occasion\":\"end\"}"));
    assert_eq!(first["nodes"][1]["body"], json!("not json 4"));
    assert_eq!(first["nodes"][1]["contentType"], json!("application/json"));
    assert_eq!(first["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(first["pageInfo"]["hasPreviousPage"], json!(false));
    let second = app
        .data(query, json!({ "after": first["pageInfo"]["endCursor"] }))
        .await["rejectedPushes"]
        .clone();
    let bodies: Vec<&str> = second["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["not json 1", "not json 0"]);
    assert_eq!(second["pageInfo"]["hasNextPage"], json!(false));
    assert_eq!(second["pageInfo"]["hasPreviousPage"], json!(true));
    let bad = app.graphql(query, json!({ "after": "nope" })).await;
    assert_eq!(
        bad["errors"][0]["extensions"]["code"],
        json!("BAD_USER_INPUT")
    );
}

#[tokio::test]
async fn a_page_of_calls_loads_its_children_in_a_few_batched_reads_not_one_per_call() {
    let app = TestApp::start().await;
    let calls = generate_calls(40, 31);
    app.push_calls(&calls).await;
    let query = format!(
        "{{ calls(first: 40) {{ totalCount pageInfo {{ hasNextPage }} nodes {{ ...CallDetails }} }} }}\n{}",
        include_str!("../../examples/call-fields.graphql")
    );
    // This test's runtime runs on one thread, so the server's tasks (and the
    // `store_read` span each read opens) are seen by a subscriber set here.
    let counted = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(ReadCounter(counted.clone()));
    let data = {
        let _counting = tracing::subscriber::set_default(subscriber);
        app.data(&query, json!({})).await
    };
    let reads = counted.load(Ordering::Relaxed);
    assert_eq!(data["calls"]["nodes"].as_array().unwrap().len(), 40);
    let events = data["calls"]["nodes"][0]["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    // The page and its count, then the children: the loader answers every
    // kind asked within one batch window with one read (the related calls
    // with another). Measured: 5. One read per call would be over 40.
    assert!(
        (2..=10).contains(&reads),
        "{reads} reads for a page of 40 calls"
    );
}

/// Counts the store's reads: the `store_read` spans opened.
struct ReadCounter(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for ReadCounter {
    fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attributes.metadata().name() == "store_read" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test]
async fn events_carry_their_bodies_however_payload_or_body_is_asked_for() {
    let app = TestApp::start().await;
    let push = json!({ "conversation_id": 77, "occasion": "end", "note": "asked for" });
    app.push_json(&push).await;
    let sent = push.to_string();
    for query in [
        "{ call(conversationId: \"77\") { events { occasion payload } } }",
        "{ call(conversationId: \"77\") { events { occasion p: payload b: body } } }",
        "{ call(conversationId: \"77\") { events { occasion ...Bodies } } } fragment Bodies on CallEvent { payload body }",
        "{ call(conversationId: \"77\") { events { occasion ... on CallEvent { body payload } } } }",
    ] {
        let data = app.data(query, json!({})).await;
        let event = &data["call"]["events"][0];
        assert_eq!(event["occasion"], "end", "{query}");
        let payload = event.get("payload").or_else(|| event.get("p")).unwrap();
        assert_eq!(payload["note"], "asked for", "{query}");
        if let Some(body) = event.get("body").or_else(|| event.get("b")) {
            assert_eq!(body, &json!(sent), "{query}");
        }
    }
    // Without them the events still come, with everything else.
    let data = app
        .data(
            "{ call(conversationId: \"77\") { events { occasion deliveries receivedAt } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["call"]["events"][0]["occasion"], "end");
    assert_eq!(data["call"]["events"][0]["deliveries"], 1);
}
