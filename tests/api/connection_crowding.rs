//! Connections that only hold a place give way to one that sends a
//! request, whatever address they share with it: a client address at its
//! share has its own longest-waiting connection closed for a newcomer, as
//! the cap in all has, and a WebSocket not yet initialised counts as waiting.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use udesk_calls::Settings;
use udesk_calls::config::HttpLimits;

use crate::support::TestApp;
use crate::support::calls::synthetic_call;
use crate::support::db::count;

/// How soon a holder opens its next connection once one is closed.
const REOPEN_AFTER: Duration = Duration::from_millis(100);

const API_TOKEN: &str = "crowding-api-token-0123456789";

/// A connection from `local` (a loopback address) to `server`.
async fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// What the server says on `socket` within `wait`, until it closes.
async fn said_within(socket: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(wait, socket.read_to_end(&mut answer))
        .await
        .is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

const LIVEZ: &[u8] = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn an_address_at_its_share_closes_its_longest_waiting_connection_and_only_busy_ones_get_503()
{
    let app = TestApp::start_with(Settings {
        http_limits: HttpLimits {
            max_connections_per_address: 3,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(connect_from("127.0.0.1", app.address).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Silent long enough that they are no requests on their way.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut newcomer = connect_from("127.0.0.1", app.address).await;
    newcomer.write_all(LIVEZ).await.unwrap();
    let (answer, _) = said_within(&mut newcomer, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let (oldest, closed) = said_within(&mut silent[0], Duration::from_secs(2)).await;
    assert!(closed && oldest.is_empty(), "{oldest:?}, closed: {closed}");
    let (_, younger_closed) = said_within(&mut silent[2], Duration::from_millis(200)).await;
    assert!(!younger_closed, "the youngest silent connection was closed");

    // Three pushes whose bodies are on their way cannot be closed.
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut socket = connect_from("127.0.0.1", app.address).await;
        socket
            .write_all(b"POST /webhooks/udesk/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        busy.push(socket);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut refused = connect_from("127.0.0.1", app.address).await;
    let (answer, _) = said_within(&mut refused, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

    let mut other = connect_from("127.0.0.2", app.address).await;
    other.write_all(LIVEZ).await.unwrap();
    let (answer, _) = said_within(&mut other, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
}

/// The ways the holders below keep a connection without a request.
#[derive(Clone, Copy, Debug)]
enum Holder {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head one line at a time, slowly.
    Trickling,
    /// Upgrades `/graphql` to a WebSocket without a token, and never
    /// sends `connection_init`.
    UninitialisedWebSocket,
}

/// Keeps one connection of `kind` open until `until`, opening another a
/// moment after the server closes it; returns how many it opened.
async fn keep_holding(address: SocketAddr, kind: Holder, until: Instant) -> usize {
    let mut opened = 0;
    while Instant::now() < until {
        if opened > 0 {
            tokio::time::sleep(REOPEN_AFTER).await;
        }
        let Ok(mut socket) = TcpStream::connect(address).await else {
            continue;
        };
        opened += 1;
        match kind {
            Holder::Silent | Holder::Trickling => {}
            Holder::UninitialisedWebSocket => {
                let upgrade = "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n";
                if socket.write_all(upgrade.as_bytes()).await.is_err() {
                    continue;
                }
            }
        }
        let (mut reader, mut writer) = socket.into_split();
        let trickle = async {
            if !matches!(kind, Holder::Trickling) {
                return std::future::pending().await;
            }
            let _ = writer
                .write_all(b"POST /webhooks/udesk/calls HTTP/1.1\r\n")
                .await;
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        let closed = async {
            let mut buffer = [0; 1024];
            while let Ok(read) = reader.read(&mut buffer).await {
                if read == 0 {
                    break;
                }
            }
        };
        tokio::select! {
            () = closed => {}
            () = trickle => {}
            () = tokio::time::sleep_until(until.into()) => {}
        }
    }
    opened
}

/// Pushes a new call every `gap` until shortly before `until`, each of
/// which must be answered `200`; how many were sent, and the slowest answer.
async fn push_until(
    app: &TestApp,
    client: &reqwest::Client,
    first_id: i64,
    gap: Duration,
    until: Instant,
) -> (i64, Duration) {
    let (mut pushes, mut slowest) = (0, Duration::ZERO);
    while Instant::now() + Duration::from_millis(500) < until {
        let body = synthetic_call(first_id + pushes, 1).remove(0);
        let sent = Instant::now();
        let response = client
            .post(app.url(crate::support::WEBHOOK))
            .body(body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "push {pushes}, {:?} after it was sent, got no answer: {error:?}",
                    sent.elapsed()
                )
            });
        assert_eq!(response.status(), 200, "push {pushes}");
        slowest = slowest.max(sent.elapsed());
        pushes += 1;
        tokio::time::sleep(gap).await;
    }
    (pushes, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_holders_on_the_pushers_own_address_never_keep_a_push_out() {
    let app = TestApp::start_with(Settings {
        api_tokens: vec![API_TOKEN.into()],
        ..Settings::open_local()
    })
    .await;
    let limits = HttpLimits::default();
    assert!(limits.max_connections_per_address < 300);
    let until = Instant::now() + Duration::from_secs(6);
    let kinds = [
        Holder::Silent,
        Holder::Trickling,
        Holder::UninitialisedWebSocket,
    ];
    // The holders run on a thread of their own, as another machine's
    // clients would, not on the threads serving the app.
    let address = app.address;
    let holders = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let holders: Vec<_> = (0..300)
                .map(|index| tokio::spawn(keep_holding(address, kinds[index % 3], until)))
                .collect();
            let mut opened = 0;
            for holder in holders {
                opened += holder.await.unwrap();
            }
            opened
        })
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    // One pusher opens a connection per push; another keeps one alive,
    // idle between its pushes, as an HTTP client's pool does.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let kept = reqwest::Client::new();
    let ((fresh_pushes, fresh_slowest), (kept_pushes, kept_slowest)) = tokio::join!(
        push_until(&app, &fresh, 9_000_000, Duration::from_millis(50), until),
        push_until(&app, &kept, 9_500_000, Duration::from_millis(400), until),
    );
    let pushes = fresh_pushes + kept_pushes;
    let slowest = fresh_slowest.max(kept_slowest);
    let opened = tokio::task::spawn_blocking(move || holders.join().unwrap())
        .await
        .unwrap();
    assert!(fresh_pushes >= 20, "only {fresh_pushes} pushes were sent");
    assert!(
        kept_pushes >= 5,
        "only {kept_pushes} pushes were sent on one connection"
    );
    assert!(
        opened > 300,
        "no holder was closed to make room ({opened} opened)"
    );
    assert_eq!(count(&app.db(), "SELECT count(*) FROM events"), pushes);
    eprintln!(
        "300 holders on the pushers' address ({opened} connections opened): {pushes} pushes \
         answered 200, the slowest in {slowest:.2?}"
    );
}

#[tokio::test]
async fn one_address_holds_at_most_sixteen_websockets_and_pushes_from_it_still_get_in() {
    use crate::support::subscriber::{Subscriber, Upgrade};
    let app = TestApp::start_with(Settings {
        http_limits: HttpLimits {
            max_connections_per_address: 17,
            ..HttpLimits::default()
        },
        ..Settings::open_local()
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(Subscriber::connect(&app, None).await);
    }
    let refused = Subscriber::open(&app, Upgrade::default()).await.err();
    assert_eq!(refused, Some(503));
    let (status, answer) = app.push(synthetic_call(77, 1).remove(0)).await;
    assert_eq!(status, 200, "{answer}");
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while Subscriber::open(&app, Upgrade::default()).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "the WebSocket's place was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_graphql_request_without_a_token_is_refused_before_its_body_is_read() {
    let app = TestApp::start_with(Settings {
        api_tokens: vec![API_TOKEN.into()],
        ..Settings::open_local()
    })
    .await;
    let mut socket = TcpStream::connect(app.address).await.unwrap();
    // The body would trickle in for as long as the body timeout allows.
    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    let (answer, _) = said_within(&mut socket, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
}
