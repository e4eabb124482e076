//! A real HTTP receiver for forwarded pushes, on 127.0.0.1, that records
//! what it accepts and can misbehave: answer `500`, `429` with
//! `Retry-After`, answer too slowly, refuse some bodies with a `4xx`, or be
//! down for a while (its port closed, so connections are refused).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A request the receiver accepted (or answered too slowly, having taken it).
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

/// How often the receiver misbehaves, per request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    pub server_error: f64,
    pub throttled: f64,
    pub slow: f64,
    /// How long a slow answer takes.
    pub slow_for: Duration,
}

type Refusal = Box<dyn Fn(&[u8]) -> Option<StatusCode> + Send + Sync>;

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    faults: Mutex<Faults>,
    rng: Mutex<Option<fastrand::Rng>>,
    /// Answers a body this returns a status for with that status.
    refuse: Mutex<Option<Refusal>>,
    /// Misbehaviours so far, by kind.
    tally: Mutex<BTreeMap<&'static str, usize>>,
}

type Running = (oneshot::Sender<()>, JoinHandle<()>);

/// Shared by reference (`Arc`) between a test and a task that takes it down
/// and up.
pub struct Receiver {
    pub address: SocketAddr,
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl Receiver {
    /// A well-behaved receiver on a free port.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let receiver = Receiver {
            address,
            shared: Arc::default(),
            running: Mutex::default(),
        };
        receiver.serve(listener);
        receiver
    }

    /// The URL to forward to: `/hook` followed by `query` (`?token=…` or empty).
    pub fn url(&self, query: &str) -> String {
        format!("http://{}/hook{query}", self.address)
    }

    /// Misbehaves from now on as `faults` says, drawing from `seed`.
    pub fn set_faults(&self, faults: Faults, seed: u64) {
        *self.shared.faults.lock().unwrap() = faults;
        *self.shared.rng.lock().unwrap() = Some(fastrand::Rng::with_seed(seed));
    }

    /// Refuses the bodies `refuse` gives a status for.
    pub fn refuse(&self, refuse: impl Fn(&[u8]) -> Option<StatusCode> + Send + Sync + 'static) {
        *self.shared.refuse.lock().unwrap() = Some(Box::new(refuse));
    }

    pub fn accept_all(&self) {
        *self.shared.refuse.lock().unwrap() = None;
        *self.shared.faults.lock().unwrap() = Faults::default();
    }

    /// Everything accepted so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn received_count(&self) -> usize {
        self.shared.received.lock().unwrap().len()
    }

    /// Misbehaviours so far: `server_error`, `throttled`, `slow`, `refused`,
    /// `outage`.
    pub fn tally(&self) -> BTreeMap<&'static str, usize> {
        self.shared.tally.lock().unwrap().clone()
    }

    /// Closes the port (open connections too) until [`Receiver::up`].
    pub async fn down(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some((stop, served)) = running {
            let _ = stop.send(());
            let _ = served.await;
            *self
                .shared
                .tally
                .lock()
                .unwrap()
                .entry("outage")
                .or_default() += 1;
        }
    }

    /// Opens the same port again.
    pub async fn up(&self) {
        if self.running.lock().unwrap().is_some() {
            return;
        }
        for _ in 0..100 {
            if let Ok(listener) = TcpListener::bind(self.address).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the receiver's port {} could not be opened again",
            self.address
        );
    }

    fn serve(&self, listener: TcpListener) {
        let app = Router::new()
            .route("/hook", axum::routing::post(take))
            .with_state(self.shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        *self.running.lock().unwrap() = Some((stop, served));
    }
}

async fn take(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let count = |kind: &'static str| *shared.tally.lock().unwrap().entry(kind).or_default() += 1;
    if let Some(status) = shared
        .refuse
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|f| f(&body))
    {
        count("refused");
        return status.into_response();
    }
    let faults = *shared.faults.lock().unwrap();
    let draw = shared
        .rng
        .lock()
        .unwrap()
        .as_mut()
        .map_or(1.0, |rng| rng.f64());
    if draw < faults.server_error {
        count("server_error");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if draw < faults.server_error + faults.throttled {
        count("throttled");
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
    }
    shared.received.lock().unwrap().push(Received {
        id: header("webhook-id").unwrap_or_default(),
        timestamp: header("webhook-timestamp").unwrap_or_default(),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        query: uri.query().map(str::to_owned),
        body: body.to_vec(),
    });
    if draw < faults.server_error + faults.throttled + faults.slow {
        // Taken, but answered after the sender gave up: it will come again.
        count("slow");
        tokio::time::sleep(faults.slow_for).await;
    }
    StatusCode::NO_CONTENT.into_response()
}
