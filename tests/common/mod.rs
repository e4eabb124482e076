//! Shared test support: a real server on 127.0.0.1:0 with its own temporary
//! database, a client for it, and read-only views of the database file.
#![allow(dead_code)]

pub mod binary;
pub mod server;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use server::start_server;
use tokio::sync::oneshot;
use udesk_calls::Settings;

pub const WEBHOOK: &str = "/webhooks/udesk/calls";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// An open service (no tokens), as a local trial runs it.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Settings::open_local()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        let server = start_server(settings).await;
        TestApp {
            address: format!("http://{}", server.address),
            client: reqwest::Client::new(),
            db_path: server.db_path,
            _dir: server.dir,
            stop: Some(server.stop),
            server: Some(server.served),
        }
    }

    /// Posts a JSON body to the webhook without a token.
    pub async fn push(&self, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        self.push_to(WEBHOOK, body, Some("application/json")).await
    }

    pub async fn push_to(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}{path_and_query}", self.address))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("status {status}: the answer is not JSON: {text:?}"));
        (status, json)
    }

    /// Pushes each body in order and expects 200 for each.
    pub async fn push_all(&self, bodies: &[String]) {
        for body in bodies {
            let (status, answer) = self.push(body.clone()).await;
            assert_eq!(status, 200, "{answer}");
        }
    }

    pub fn db(&self) -> Connection {
        open_read_only(&self.db_path)
    }

    /// Stops the server but keeps its database, for commands run afterwards.
    pub async fn stop_keeping_files(mut self) -> tempfile::TempDir {
        self.shut_down().await;
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._dir, placeholder)
    }

    /// Stops the server, letting the writer finish.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

pub fn open_read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("the database file opens")
}

pub fn payload(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/payloads")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded pushes of one inbound call, by file stem (e.g. `4-end`).
pub fn inbound(stem: &str) -> String {
    payload(&format!("inbound-call/{stem}.json"))
}

pub fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Every row of a query, each column rendered as text, for comparisons.
pub fn rows(db: &Connection, sql: &str) -> Vec<Vec<String>> {
    let mut statement = db.prepare(sql).unwrap();
    let columns = statement.column_count();
    statement
        .query_map([], |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_owned(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(v) => String::from_utf8_lossy(v).into(),
                        rusqlite::types::ValueRef::Blob(v) => format!("blob:{}", v.len()),
                    })
                })
                .collect()
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The merged picture of every call: `calls` and its collections, without
/// the columns that record when this particular database received things.
pub fn projection_dump(db: &Connection) -> Vec<(String, Vec<Vec<String>>)> {
    let call_columns: Vec<String> = rows(db, "SELECT name FROM pragma_table_info('calls')")
        .into_iter()
        .map(|row| row[0].clone())
        .filter(|name| !matches!(name.as_str(), "first_received_at" | "last_received_at"))
        .collect();
    let mut dump = vec![(
        "calls".to_owned(),
        rows(
            db,
            &format!(
                "SELECT {} FROM calls ORDER BY conversation_id",
                call_columns.join(", ")
            ),
        ),
    )];
    for table in udesk_calls::storage::projection::COLLECTION_TABLES {
        dump.push((
            table.to_string(),
            rows(
                db,
                &format!("SELECT * FROM {table} ORDER BY conversation_id, position"),
            ),
        ));
    }
    dump
}

/// A synthetic call of `pushes` pushes (the last is `end`), as JSON bodies.
pub fn synthetic_call(conversation_id: i64, pushes: usize) -> Vec<String> {
    let occasions = ["enqueue_succ", "agent_incall", "hangup"];
    (0..pushes)
        .map(|i| {
            let last = i + 1 == pushes;
            let occasion = if last { "end" } else { occasions[i % occasions.len()] };
            serde_json::json!({
                "conversation_id": conversation_id,
                "call_id": format!("series-{}", conversation_id / 3),
                "occasion": occasion,
                "timestamp": format!("2024-05-06 09:{:02}:{:02} +0800", i / 60, i % 60),
                "agent_id": 1000 + conversation_id % 17,
                "workflow": if conversation_id % 2 == 0 { "in" } else { "out_callback" },
                "call_result": if last { "客服接听" } else { "进行中" },
                "total_time": if last { serde_json::json!(conversation_id % 300) } else { serde_json::Value::Null },
                "ticket_numbers": if last { serde_json::json!([format!("#{conversation_id}")]) } else { serde_json::json!([]) },
                "customer_phone": format!("0{:010}", conversation_id),
            })
            .to_string()
        })
        .collect()
}
