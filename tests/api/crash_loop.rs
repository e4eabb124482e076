//! The crash loop: 16 concurrent senders push distinct pushes while the
//! real binary is killed with SIGKILL at random moments and restarted.
//! A sender whose push got no answer (the server died under it) sends the
//! same bytes again until one is answered `200`, as Udesk retries.
//! Afterwards: no push answered `200` is missing, no push is stored twice,
//! `PRAGMA integrity_check` was ok after every restart, and `reprocess` on a
//! copy rebuilds exactly the calls and collections the live path wrote.
//!
//! CI runs the short form (a few kills, a few seconds). The long form,
//! `UDESK_CALLS_CRASH_LONG=1` (`scripts/crash-loop.sh`), pushes at least
//! 20,000 pushes and kills at least 10 times, every 1–3 s.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::support::WEBHOOK;
use crate::support::binary::{Server, binary, run};
use crate::support::calls::{Lcg, synthetic_call};
use crate::support::db::{count, event_bodies, open_read_only, projection_dump, rows};

const SENDERS: i64 = 16;

/// How hard a run is.
#[derive(Debug)]
struct Plan {
    min_pushes: usize,
    min_kills: usize,
    /// Each kill comes this long after the (re)start, at random.
    kill_after_ms: (u64, u64),
}

impl Plan {
    fn from_environment() -> Plan {
        if std::env::var_os("UDESK_CALLS_CRASH_LONG").is_some_and(|v| v != "0") {
            Plan {
                min_pushes: 20_000,
                min_kills: 10,
                kill_after_ms: (1000, 3000),
            }
        } else {
            Plan {
                min_pushes: 1_500,
                min_kills: 3,
                kill_after_ms: (300, 800),
            }
        }
    }
}

/// What the senders share: where the server is now (none while it is
/// down), what was answered `200`, and how often an answer never came.
#[derive(Default)]
struct Shared {
    address: RwLock<Option<String>>,
    acked: Mutex<Vec<String>>,
    unanswered: AtomicUsize,
    stop: AtomicBool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_answered_200_survive_random_kill_9_and_restarts_stored_once_and_reprocessable() {
    let plan = Plan::from_environment();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut random = Lcg::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let shared = Arc::new(Shared::default());
    let senders = start_senders(&shared);
    let began = Instant::now();

    let mut kills = 0;
    let server = loop {
        let server = Server::start(&db, &[]);
        // Off the runtime's threads, so the senders go on meanwhile.
        let checked = db.clone();
        tokio::task::spawn_blocking(move || assert_integrity(&checked, kills))
            .await
            .unwrap();
        *shared.address.write().unwrap() = Some(server.address.clone());
        let (low, high) = plan.kill_after_ms;
        let wait = low + random.next(high - low + 1);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let acked = shared.acked.lock().unwrap().len();
        if kills >= plan.min_kills && acked >= plan.min_pushes {
            break server;
        }
        *shared.address.write().unwrap() = None;
        server.kill_hard();
        kills += 1;
    };

    // Every sender finishes the push it is on (answered 200), then stops.
    shared.stop.store(true, Ordering::SeqCst);
    let mut senders = senders;
    while let Some(joined) = senders.join_next().await {
        if let Err(error) = joined
            && error.is_panic()
        {
            std::panic::resume_unwind(error.into_panic());
        }
    }
    let mut server = server;
    server.signal("TERM");
    server
        .wait_for_exit(Duration::from_secs(20))
        .expect("the server stops on SIGTERM");

    let acked = shared.acked.lock().unwrap().clone();
    let connection = open_read_only(&db);
    let stored: HashSet<String> = event_bodies(&db);
    let lost = acked.iter().filter(|body| !stored.contains(*body)).count();
    let events = count(&connection, "SELECT count(*) FROM events") as usize;
    let duplicated = events
        - count(
            &connection,
            "SELECT count(DISTINCT body_sha256) FROM events",
        ) as usize;
    let redelivered = count(
        &connection,
        "SELECT count(*) FROM events WHERE deliveries > 1",
    );
    eprintln!(
        "crash loop ({plan:?}, seed {seed}): {} pushes answered 200 from {SENDERS} senders, \
         {kills} kills in {:.1?}; {} sends got no answer and were sent again ({redelivered} of \
         them had been stored: counted as redeliveries); {events} events; \
         acknowledged and lost: {lost}; duplicated events: {duplicated}",
        acked.len(),
        began.elapsed(),
        shared.unanswered.load(Ordering::Relaxed),
    );
    assert_eq!(lost, 0, "pushes answered 200 were lost");
    assert_eq!(duplicated, 0, "pushes were stored twice");
    assert_eq!(
        acked.iter().collect::<HashSet<_>>().len(),
        acked.len(),
        "each push was answered 200 once"
    );
    assert_eq!(
        events,
        acked.len(),
        "every stored event is a push answered 200"
    );
    assert!(kills >= plan.min_kills && acked.len() >= plan.min_pushes);
    assert_integrity(&db, kills);
    assert_reprocess_rebuilds_the_live_projection(&db, dir.path());
}

/// `PRAGMA integrity_check` on the file the running server serves.
fn assert_integrity(db: &Path, kills: usize) {
    let result = rows(&open_read_only(db), "PRAGMA integrity_check");
    assert_eq!(
        result,
        vec![vec!["ok".to_owned()]],
        "integrity after {kills} kills"
    );
}

/// `reprocess` on a copy of the stopped server's database gives the very
/// calls and collections the live path wrote.
fn assert_reprocess_rebuilds_the_live_projection(db: &Path, dir: &Path) {
    let copy = dir.join("copy.db");
    std::fs::copy(db, &copy).unwrap();
    let wal = Path::new(&format!("{}-wal", db.display())).to_owned();
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", copy.display())).unwrap();
    }
    let (code, _, stderr) = run(binary().arg("reprocess").arg("--db").arg(&copy));
    assert_eq!(code, 0, "{stderr}");
    let live = projection_dump(&open_read_only(db));
    let rebuilt = projection_dump(&open_read_only(&copy));
    assert!(live[0].1.len() > 1, "the live database has calls");
    assert!(
        live == rebuilt,
        "reprocess differs from the live projection"
    );
}

/// Starts the senders. Each sends the pushes of fresh calls, in an order
/// of its own choosing, each push until it is answered 200.
fn start_senders(shared: &Arc<Shared>) -> JoinSet<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut senders = JoinSet::new();
    for sender in 0..SENDERS {
        let (client, shared) = (client.clone(), shared.clone());
        senders.spawn(async move {
            let mut order = Lcg::new(sender as u64);
            for call in 0.. {
                let conversation_id = 1_000_000 * (sender + 1) + call;
                let mut bodies = synthetic_call(conversation_id, 4);
                // Out of order now and then, so the merge has work to do.
                if order.next(3) == 0 {
                    bodies.swap(0, 3);
                }
                for body in bodies {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    deliver(&client, &shared, body).await;
                }
            }
        });
    }
    senders
}

/// Sends one push until it is answered 200; any other answer but a 503 is
/// a failure.
async fn deliver(client: &reqwest::Client, shared: &Shared, body: String) {
    loop {
        let address = shared.address.read().unwrap().clone();
        let Some(address) = address else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        match client
            .post(format!("{address}{WEBHOOK}"))
            .body(body.clone())
            .send()
            .await
        {
            Ok(response) if response.status() == 200 => {
                shared.acked.lock().unwrap().push(body);
                return;
            }
            Ok(response) if response.status() == 503 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(response) => panic!("a push was answered {}", response.status()),
            Err(_) => {
                shared.unanswered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
