//! Starting the real app, as `udesk-calls serve` does, on 127.0.0.1:0 with
//! its own temporary database. Both test supports (`common` and
//! `graphql_support`) start their apps here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use udesk_calls::{Settings, Store, StoreOptions};

/// A server running in this test's runtime.
pub struct RunningServer {
    pub address: SocketAddr,
    /// The served store, shared with the server.
    pub store: Arc<Store>,
    pub db_path: PathBuf,
    /// Holds the database; removed when dropped.
    pub dir: tempfile::TempDir,
    /// Send (or drop) to shut the server down.
    pub stop: oneshot::Sender<()>,
    pub served: JoinHandle<std::io::Result<()>>,
}

pub async fn start_server(settings: Settings) -> RunningServer {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db_path = dir.path().join("calls.db");
    let store = Arc::new(
        Store::open(&StoreOptions {
            path: db_path.clone(),
            default_offset: settings.default_offset,
            readers: 4,
        })
        .expect("the store opens"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(udesk_calls::serve(
        listener,
        store.clone(),
        settings,
        async move {
            let _ = stopped.await;
        },
    ));
    RunningServer {
        address,
        store,
        db_path,
        dir,
        stop,
        served,
    }
}
