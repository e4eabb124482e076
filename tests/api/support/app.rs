//! The real app, started as `udesk-calls serve` starts it, on 127.0.0.1:0
//! with its own temporary database, served in the test's runtime; a client
//! for its webhook and `/graphql`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use udesk_calls::{Settings, Store, StoreOptions, serve};

use super::calls::CallSpec;
use super::db::open_read_only;

pub const WEBHOOK: &str = "/webhooks/udesk/calls";

/// Registers an inert global tracing subscriber, once for the test binary.
///
/// tracing-core asks a callsite used for the first time while only one
/// subscriber is registered (a test's own, set for its thread) about its
/// interest from the thread using it: another test's thread, with no
/// subscriber, would then turn the span off for good and the test's
/// subscriber would never see it. With a second subscriber registered,
/// every subscriber is asked. The global one sees nothing: it is no-op.
fn register_a_global_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ =
            tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    });
}

/// A running service; stops when dropped (or with `stop_keeping_files`).
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub db_path: PathBuf,
    /// The first API token of the settings, sent with every `graphql` query.
    token: Option<String>,
    /// Send (or drop) to shut the server down.
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
    /// Holds the database; removed when dropped.
    dir: tempfile::TempDir,
}

impl TestApp {
    /// An open service (no tokens), as a local trial runs it.
    pub async fn start() -> TestApp {
        TestApp::start_with(Settings::open_local()).await
    }

    pub async fn start_with(settings: Settings) -> TestApp {
        TestApp::start_in(
            tempfile::tempdir().expect("a temporary directory"),
            settings,
        )
        .await
    }

    /// The app on `calls.db` in `dir`, which may already hold a database.
    pub async fn start_in(dir: tempfile::TempDir, settings: Settings) -> TestApp {
        TestApp::start_training_after(dir, settings, udesk_calls::storage::bodies::TRAIN_AFTER)
            .await
    }

    /// The app on `calls.db` in `dir`, training its first dictionary of
    /// bodies after `pushes` pushes instead of the default.
    pub async fn start_training_after(
        dir: tempfile::TempDir,
        settings: Settings,
        pushes: usize,
    ) -> TestApp {
        register_a_global_subscriber();
        let db_path = dir.path().join("calls.db");
        let store = Arc::new(
            Store::open(&StoreOptions {
                path: db_path.clone(),
                default_offset: settings.default_offset,
                readers: 4,
                wal_autocheckpoint: udesk_calls::storage::DEFAULT_WAL_AUTOCHECKPOINT,
                train_dictionary_after: pushes,
            })
            .expect("the store opens"),
        );
        let token = settings.api_tokens.first().cloned();
        let listener = udesk_calls::http::listen("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, store, settings, async move {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            client: reqwest::Client::new(),
            db_path,
            token,
            stop: Some(stop),
            served: Some(served),
            dir,
        }
    }

    /// `http://address` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts a body to the webhook without a token, as JSON; returns the
    /// status and the JSON answer, whatever they are.
    pub async fn push(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.push_to(WEBHOOK, body, Some("application/json")).await
    }

    /// Posts a body to `path_and_query` (the webhook, with a query); returns
    /// the status and the JSON answer, whatever they are.
    pub async fn push_to(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> (u16, Value) {
        let response = self.post(path_and_query, body, content_type).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("status {status}: the answer is not JSON: {text:?}"));
        (status, json)
    }

    /// Posts a body to the webhook with this content type; returns the status.
    pub async fn push_raw(&self, body: &str, content_type: &str) -> u16 {
        self.post(WEBHOOK, body.to_owned(), Some(content_type))
            .await
            .status()
            .as_u16()
    }

    /// Sends one push to the webhook as JSON; it must be accepted (200).
    pub async fn push_json(&self, body: &Value) {
        let response = self
            .client
            .post(self.url(WEBHOOK))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "push refused: {}",
            response.text().await.unwrap()
        );
    }

    /// Pushes each body in order; each must be accepted (200).
    pub async fn push_all(&self, bodies: &[String]) {
        for body in bodies {
            let (status, answer) = self.push(body.clone()).await;
            assert_eq!(status, 200, "{answer}");
        }
    }

    /// Pushes every push of each call in order; each must be accepted (200).
    pub async fn push_calls(&self, calls: &[CallSpec]) {
        for call in calls {
            for push in call.pushes() {
                self.push_json(&push).await;
            }
        }
    }

    async fn post(
        &self,
        path_and_query: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path_and_query)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("the server answers")
    }

    /// POSTs a query and returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        response.json().await.unwrap()
    }

    /// POSTs a query that must succeed; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let response = self.graphql(query, variables).await;
        assert!(response.get("errors").is_none(), "errors: {response:#}");
        response["data"].clone()
    }

    /// POSTs a query that must fail; returns the first error's code.
    pub async fn error_code(&self, query: &str, variables: Value) -> String {
        let response = self.graphql(query, variables).await;
        let errors = response["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors: {response:#}"));
        errors[0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A read-only connection to the served database.
    /// The `/metrics` scrape, as a token-less Prometheus sees it.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200, "/metrics");
        response.text().await.unwrap()
    }

    pub fn db(&self) -> Connection {
        open_read_only(&self.db_path)
    }

    /// Stops the server, letting the writer finish, but keeps its database
    /// (at `db_path`, until the returned directory is dropped), for commands
    /// run afterwards.
    pub async fn stop_keeping_files(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, placeholder)
    }
}
