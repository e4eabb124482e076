//! Slow and greedy clients: connections that never finish a request, or
//! sit idle, are closed after their timeout while ordinary pushes are
//! answered; request heads are bounded; connections are capped in all (a
//! waiting one making room for a new one); the open-files limit is raised
//! at start. Crowding from one address is in `connection_crowding`, the
//! GraphQL rate limit in `rate_limit`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use udesk_calls::Settings;
use udesk_calls::config::HttpLimits;

use crate::support::binary::{Server, binary, run};
use crate::support::calls::synthetic_call;
use crate::support::db::count;
use crate::support::{TestApp, WEBHOOK};

const TIMEOUT: Duration = Duration::from_secs(2);
/// How late after its timeout a connection may be closed.
const SLACK: Duration = Duration::from_millis(1500);
const SLOW_CONNECTIONS: usize = 300;

fn short_timeouts() -> HttpLimits {
    HttpLimits {
        header_read_timeout: TIMEOUT,
        body_read_timeout: TIMEOUT,
        keep_alive_timeout: TIMEOUT,
        max_connections: 1000,
        max_connections_per_address: 1000,
        ..HttpLimits::default()
    }
}

async fn app_with(limits: HttpLimits) -> TestApp {
    TestApp::start_with(Settings {
        http_limits: limits,
        ..Settings::open_local()
    })
    .await
}

/// The ways a client can hold a connection without finishing a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slow {
    /// Connects and sends nothing.
    ConnectOnly,
    /// Sends half a request head, then one more byte every 300 ms.
    TricklingHead,
    /// Sends a whole head and 10 bytes of a 1,000-byte body.
    PartialBody,
    /// Sends a chunked body's first chunk and stops.
    StalledChunked,
    /// Sends a request, reads the answer, then stays idle.
    IdleKeepAlive,
}

const KINDS: [Slow; 5] = [
    Slow::ConnectOnly,
    Slow::TricklingHead,
    Slow::PartialBody,
    Slow::StalledChunked,
    Slow::IdleKeepAlive,
];

/// What became of one slow connection: how long after its timeout began it
/// was closed, and what the server said first, if anything.
#[derive(Debug)]
struct Cut {
    kind: Slow,
    after: Option<Duration>,
    answer: String,
}

/// Holds one slow connection until the server closes it (or 15 s pass).
async fn hold(address: SocketAddr, kind: Slow, established: tokio::sync::mpsc::Sender<()>) -> Cut {
    // Each kind's timeout begins on the server after this instant: at the
    // connection's acceptance, its request head, or the end of its answer.
    let started = Instant::now();
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = "POST /webhooks/udesk/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
    let mut answer = Vec::new();
    match kind {
        Slow::ConnectOnly | Slow::TricklingHead => {}
        Slow::PartialBody => {
            let request = format!("{head}Content-Length: 1000\r\n\r\n{{\"convers");
            socket.write_all(request.as_bytes()).await.unwrap();
        }
        Slow::StalledChunked => {
            let request = format!("{head}Transfer-Encoding: chunked\r\n\r\n8\r\n{{\"conver\r\n");
            socket.write_all(request.as_bytes()).await.unwrap();
        }
        Slow::IdleKeepAlive => {
            socket
                .write_all(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .unwrap();
            let mut buffer = [0; 1024];
            while !String::from_utf8_lossy(&answer).contains("\"live\"") {
                let read = socket.read(&mut buffer).await.unwrap();
                assert!(read > 0, "closed before answering");
                answer.extend_from_slice(&buffer[..read]);
            }
            answer.clear();
        }
    }
    established.send(()).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let trickle = async {
        if kind != Slow::TricklingHead {
            return std::future::pending().await;
        }
        let _ = writer.write_all(head.as_bytes()).await;
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if writer.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return std::future::pending().await;
            }
        }
    };
    let closed = async {
        let mut buffer = [0; 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(read) => answer.extend_from_slice(&buffer[..read]),
            }
        }
    };
    let after = tokio::select! {
        after = closed => Some(after),
        () = trickle => unreachable!(),
        () = tokio::time::sleep(Duration::from_secs(15)) => None,
    };
    Cut {
        kind,
        after,
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_slow_connections_are_cut_at_their_timeout_while_pushes_are_answered_within_a_second()
 {
    let app = app_with(short_timeouts()).await;
    let (established, mut connected) = tokio::sync::mpsc::channel(SLOW_CONNECTIONS);
    let mut held = tokio::task::JoinSet::new();
    for index in 0..SLOW_CONNECTIONS {
        held.spawn(hold(
            app.address,
            KINDS[index % KINDS.len()],
            established.clone(),
        ));
    }
    for _ in 0..SLOW_CONNECTIONS {
        connected.recv().await.unwrap();
    }
    let all_held = Instant::now();

    // Ordinary pushes, each on a new connection, while the slow ones are held.
    let mut slowest_push = Duration::ZERO;
    let mut pushes = 0;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    while all_held.elapsed() < TIMEOUT + SLACK {
        for body in synthetic_call(7_000_000 + pushes, 1) {
            let sent = Instant::now();
            let response = client
                .post(app.url(WEBHOOK))
                .body(body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .expect("a push is answered");
            assert_eq!(response.status(), 200);
            slowest_push = slowest_push.max(sent.elapsed());
            pushes += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let cuts: Vec<Cut> = held.join_all().await;
    let mut report = Vec::new();
    for kind in KINDS {
        let of_kind: Vec<&Cut> = cuts.iter().filter(|cut| cut.kind == kind).collect();
        let uncut: Vec<_> = of_kind.iter().filter(|cut| cut.after.is_none()).collect();
        assert!(
            uncut.is_empty(),
            "{} {kind:?} connections still open after 15 s",
            uncut.len()
        );
        let times: Vec<Duration> = of_kind.iter().filter_map(|cut| cut.after).collect();
        let (first, last) = (times.iter().min().unwrap(), times.iter().max().unwrap());
        assert!(
            *first >= TIMEOUT,
            "{kind:?} cut before its timeout, after {first:?}"
        );
        assert!(*last <= TIMEOUT + SLACK, "{kind:?} cut only after {last:?}");
        report.push(format!(
            "{} {kind:?} cut after {first:.2?}..{last:.2?}",
            of_kind.len()
        ));
    }
    // A push whose body never came is told so; the others get no answer.
    for cut in &cuts {
        match cut.kind {
            Slow::PartialBody | Slow::StalledChunked => {
                assert!(cut.answer.starts_with("HTTP/1.1 408"), "{cut:?}")
            }
            _ => assert_eq!(cut.answer, "", "{cut:?}"),
        }
    }
    assert!(pushes > 10, "only {pushes} pushes were sent");
    assert!(
        slowest_push < Duration::from_secs(1),
        "a push took {slowest_push:?}"
    );
    assert_eq!(count(&app.db(), "SELECT count(*) FROM events"), pushes);
    eprintln!(
        "{SLOW_CONNECTIONS} slow connections held (timeouts {TIMEOUT:?}): {}; {pushes} pushes meanwhile, slowest answered in {slowest_push:.2?}",
        report.join(", ")
    );
}

/// Reads what the server answers `request` with, until it closes.
async fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut socket = TcpStream::connect(address).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_request_head_over_the_limit_is_answered_431() {
    let app = TestApp::start().await;
    let big = format!(
        "GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(HttpLimits::default().max_header_bytes)
    );
    let answer = exchange(app.address, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let fine = exchange(
        app.address,
        b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine}");
}

/// What a server says first on a connection that sends nothing, if it
/// says anything within a second.
async fn first_words(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn when_every_place_is_taken_a_waiting_connection_makes_room_and_busy_ones_get_503() {
    let app = app_with(HttpLimits {
        max_connections: 4,
        ..HttpLimits::default()
    })
    .await;
    // Four connections that send nothing take every place...
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(app.address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...yet a push gets in, and the one that waited longest is closed.
    let (status, answer) = app.push(synthetic_call(1, 1).remove(0)).await;
    assert_eq!(status, 200, "{answer}");
    let oldest = first_words(&mut silent[0]).await;
    assert_eq!(oldest, "", "the oldest silent connection was answered");

    // Four pushes whose bodies are on their way cannot be closed: the next
    // connection is answered 503 at once.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut socket = TcpStream::connect(app.address).await.unwrap();
        socket
            .write_all(b"POST /webhooks/udesk/calls HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        busy.push(socket);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut extra = TcpStream::connect(app.address).await.unwrap();
    let answer = first_words(&mut extra).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    assert!(answer.contains("Retry-After: 5"), "{answer}");

    drop(busy.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = app.push(synthetic_call(2, 1).remove(0)).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was not taken again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The soft and hard `Max open files` of a running process.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_owned(), fields[4].to_owned())
}

#[test]
fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    // A shell lowers the soft limit, then becomes the service.
    let mut command = std::process::Command::new("sh");
    command
        .args(["-c", "ulimit -Sn 256 && exec \"$0\" \"$@\""])
        .arg(binary().get_program())
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("RUST_LOG", "info");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("UDESK_CALLS_") {
            command.env_remove(name);
        }
    }
    let server = Server::spawn(command);
    let (soft, hard) = open_files_limits(server.child.id());
    assert_eq!(soft, hard, "the soft limit was not raised");
}

#[test]
fn a_header_read_timeout_above_30_seconds_is_refused() {
    let (code, _, stderr) = run(binary().args(["serve", "--header-read-timeout", "31"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--header-read-timeout"), "{stderr}");
}

#[tokio::test]
async fn the_binary_closes_a_silent_connection_after_its_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("calls.db"),
        &["--header-read-timeout", "1"],
    );
    let address: SocketAddr = server
        .address
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut silent = TcpStream::connect(address).await.unwrap();
    let opened = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest))
        .await
        .expect("the connection is closed")
        .ok();
    let after = opened.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2500)).contains(&after),
        "closed after {after:?}"
    );
}
