//! `kill -9` of the running server in the middle of a burst of concurrent
//! pushes: after a restart, every push that was answered 200 is there.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::support::binary::Server;
use crate::support::calls::synthetic_call;
use crate::support::db::{event_bodies, open_read_only};

const SENDERS: usize = 24;
const ACKS_BEFORE_KILL: usize = 400;
const ROUNDS: i64 = 3;

/// Sends calls from `SENDERS` concurrent clients until the server dies;
/// returns every body that was answered 200.
async fn burst(address: String, round: i64, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS as i64 {
        let (client, address, acked) = (client.clone(), address.clone(), acked.clone());
        senders.spawn(async move {
            for call in 0.. {
                let conversation_id = round * 1_000_000 + sender * 10_000 + call + 1;
                for body in synthetic_call(conversation_id, 3) {
                    let sent = client
                        .post(format!("{address}/webhooks/udesk/calls"))
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == 200 => {
                            acked.lock().unwrap().push(body)
                        }
                        Ok(response) => panic!("unexpected answer {}", response.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            }
        });
    }
    while senders.join_next().await.is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_push_answered_200_survives_kill_9_during_a_burst() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("calls.db");
    let mut acked_total = 0;
    for round in 1..=ROUNDS {
        let server = Server::start(&db, &[]);
        let acked = Arc::new(Mutex::new(Vec::new()));
        let sending = tokio::spawn(burst(server.address.clone(), round, acked.clone()));
        while acked.lock().unwrap().len() < ACKS_BEFORE_KILL {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        server.kill_hard();
        sending.await.unwrap();

        // Restart: the server must come up on the same file, then everything acked is there.
        let restarted = Server::start(&db, &[]);
        let connection = open_read_only(&db);
        let stored: HashSet<String> = event_bodies(&db);
        let acked = acked.lock().unwrap();
        let missing = acked.iter().filter(|body| !stored.contains(*body)).count();
        assert_eq!(
            missing,
            0,
            "round {round}: {missing} of {} acknowledged pushes were lost",
            acked.len()
        );
        let orphans: i64 = connection
            .query_row(
                "SELECT count(*) FROM (SELECT DISTINCT conversation_id FROM events)
                 WHERE conversation_id NOT IN (SELECT conversation_id FROM calls)",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0, "every stored push is projected into its call");
        acked_total += acked.len();
        restarted.kill_hard();
    }
    assert!(acked_total >= ACKS_BEFORE_KILL * ROUNDS as usize);
}
