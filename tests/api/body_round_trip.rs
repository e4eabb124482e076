//! Any push in gives the same bytes back: whatever JSON text (spacing,
//! escapes, number spellings, key order, duplicate keys, any Unicode) or
//! form body a sender posts, gzipped or not, `CallEvent.body` serves it
//! byte for byte, whether it was compressed as it arrived (alone or as a
//! delta of its call's previous push) or stored as received and
//! compressed later by the upkeep.

use std::io::Write;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use udesk_calls::config::Settings;

use crate::support::TestApp;
use crate::support::app::WEBHOOK;
use crate::support::calls::synthetic_call;
use crate::support::db::{count, event_bodies};

/// A JSON value written out as a sender might: the text, not a tree, so
/// spacing and spellings are the property's to vary.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number(),
        string(),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            (proptest::collection::vec(inner.clone(), 0..6), space())
                .prop_map(|(items, gap)| format!("[{gap}{}{gap}]", items.join(&format!(",{gap}")))),
            (proptest::collection::vec((string(), inner), 0..6), space()).prop_map(
                |(fields, gap)| {
                    let fields: Vec<String> = fields
                        .into_iter()
                        .map(|(key, value)| format!("{key}{gap}:{gap}{value}"))
                        .collect();
                    format!("{{{gap}{}{gap}}}", fields.join(","))
                }
            ),
        ]
    })
}

fn space() -> impl Strategy<Value = String> {
    proptest::sample::select(vec!["", " ", "\n", "\t", "\r\n  "]).prop_map(str::to_owned)
}

/// Numbers as JSON allows them to be spelled, including spellings a parser
/// would normalise away (`1.50`, `-0`, `1E+2`).
fn number() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        "(0|[1-9][0-9]{0,20})",
        proptest::option::of("[0-9]{1,6}"),
        proptest::option::of(("[eE]", "[+-]?", "[0-9]{1,3}")),
    )
        .prop_map(|(negative, whole, fraction, exponent)| {
            let mut text = if negative {
                "-".to_owned()
            } else {
                String::new()
            };
            text.push_str(&whole);
            if let Some(fraction) = fraction {
                text.push('.');
                text.push_str(&fraction);
            }
            if let Some((e, sign, digits)) = exponent {
                text.push_str(&e);
                text.push_str(&sign);
                text.push_str(&digits);
            }
            text
        })
}

/// A JSON string of any characters, each written raw or escaped.
fn string() -> impl Strategy<Value = String> {
    proptest::collection::vec((any::<char>(), 0..3_u8), 0..24).prop_map(|chars| {
        let mut text = String::from("\"");
        for (c, style) in chars {
            match (c, style) {
                ('"', _) => text.push_str("\\\""),
                ('\\', _) => text.push_str("\\\\"),
                (c, _) if (c as u32) < 0x20 => text.push_str(&format!("\\u{:04x}", c as u32)),
                (c, 1) if (c as u32) < 0x10000 => text.push_str(&format!("\\u{:04X}", c as u32)),
                (c, 1) => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        text.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                ('/', 2) => text.push_str("\\/"),
                (c, _) => text.push(c),
            }
        }
        text.push('"');
        text
    })
}

/// How a push is sent.
#[derive(Debug, Clone)]
enum Push {
    Json {
        fields: Vec<(String, String)>,
        gap: String,
        gzip: bool,
    },
    Form {
        fields: Vec<(String, String)>,
        gzip: bool,
    },
}

fn push() -> impl Strategy<Value = Push> {
    prop_oneof![
        3 => (proptest::collection::vec((string(), json_text()), 0..8), space(), any::<bool>())
            .prop_map(|(fields, gap, gzip)| Push::Json { fields, gap, gzip }),
        1 => (proptest::collection::vec(("[a-z_]{1,12}", any::<String>()), 0..8), any::<bool>())
            .prop_map(|(fields, gzip)| Push::Form { fields, gzip }),
    ]
}

impl Push {
    /// The body as sent for call `id`, and its content type and gzip flag.
    fn body(&self, id: u64) -> (String, &'static str, bool) {
        match self {
            Push::Json { fields, gap, gzip } => {
                let mut parts = vec![format!("\"conversation_id\"{gap}:{gap}{id}")];
                parts.extend(
                    fields
                        .iter()
                        .map(|(key, value)| format!("{key}:{gap}{value}")),
                );
                (
                    format!("{{{gap}{}{gap}}}", parts.join(&format!(",{gap}"))),
                    "application/json",
                    *gzip,
                )
            }
            Push::Form { fields, gzip } => {
                let mut pairs = vec![("conversation_id".to_owned(), id.to_string())];
                pairs.extend(fields.iter().cloned());
                let form = serde_urlencoded::to_string(&pairs).unwrap();
                (form, "application/x-www-form-urlencoded", *gzip)
            }
        }
    }
}

async fn send(app: &TestApp, body: &str, content_type: &str, gzip: bool) -> u16 {
    let mut request = app
        .client
        .post(app.url(WEBHOOK))
        .header("content-type", content_type);
    let bytes = if gzip {
        request = request.header("content-encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body.as_bytes()).unwrap();
        encoder.finish().unwrap()
    } else {
        body.as_bytes().to_vec()
    };
    request.body(bytes).send().await.unwrap().status().as_u16()
}

async fn served_body(app: &TestApp, id: u64) -> Vec<String> {
    let data = app
        .data(
            "query($id: ID!) { call(conversationId: $id) { events { body } } }",
            json!({ "id": id.to_string() }),
        )
        .await;
    data["call"]["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| e["body"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn any_push_comes_back_byte_for_byte_compressed_on_arrival_or_later() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = runtime.block_on(TestApp::start_training_after(
        dir,
        Settings::open_local(),
        100,
    ));

    // Stored as received until the dictionary is trained, then compressed.
    let mut runner = TestRunner::new(Config::with_cases(64));
    let mut early = Vec::new();
    for id in 1..=40_u64 {
        let case = push().new_tree(&mut runner).unwrap().current();
        let (body, content_type, gzip) = case.body(id);
        assert_eq!(
            runtime.block_on(send(&app, &body, content_type, gzip)),
            200,
            "{body}"
        );
        early.push(body);
    }
    for id in 1_000..1_040 {
        runtime.block_on(app.push_all(&synthetic_call(id, 3)));
    }
    let started = Instant::now();
    // Every body looked at by the upkeep (one that compression would not
    // make smaller stays as received).
    while count(
        &app.db(),
        "SELECT count(*) FROM events WHERE id > (SELECT coalesce(max(value), 0) FROM store_state WHERE key = 'bodies_compressed_through')",
    ) > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not compressed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, body) in (1..).zip(&early) {
        assert_eq!(runtime.block_on(served_body(&app, id)), vec![body.clone()]);
    }
    // Some of them went through the upkeep's compression (those it makes
    // smaller), not only the path of bodies kept as received.
    let later = count(
        &app.db(),
        "SELECT count(*) FROM events WHERE conversation_id <= 40 AND body_dictionary IS NOT NULL",
    );
    assert!(later > 0, "no early push was compressed by the upkeep");

    // Compressed as they arrive, now that a dictionary exists: a call's
    // later pushes as deltas of its earlier ones.
    let next_id = std::sync::atomic::AtomicU64::new(10_000);
    runner
        .run(&proptest::collection::vec(push(), 1..5), |pushes| {
            let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut sent = Vec::new();
            for push in &pushes {
                let (body, content_type, gzip) = push.body(id);
                let status = runtime.block_on(send(&app, &body, content_type, gzip));
                prop_assert_eq!(status, 200, "{}", body);
                if !sent.contains(&body) {
                    sent.push(body);
                }
            }
            let served = runtime.block_on(served_body(&app, id));
            if served != sent {
                return Err(TestCaseError::fail(format!(
                    "sent {sent:?}, served {served:?}"
                )));
            }
            Ok(())
        })
        .unwrap();
    let db = app.db();
    // The property's pushes went through the compressed path (those that
    // compression makes smaller).
    let compressed = count(
        &db,
        "SELECT count(*) FROM events WHERE conversation_id >= 10000 AND body_dictionary IS NOT NULL",
    );
    assert!(compressed > 0, "none of the pushes was compressed");
    let deltas = count(
        &db,
        "SELECT count(*) FROM events WHERE conversation_id >= 10000 AND body_base IS NOT NULL",
    );
    assert!(
        deltas > 0,
        "no push was kept as a delta of its call's previous one"
    );
    assert!(
        event_bodies(&app.db_path)
            .iter()
            .all(|body| !body.is_empty())
    );
}
