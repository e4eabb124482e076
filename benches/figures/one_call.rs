//! Section 13: what one call's history costs its next push. A push used to
//! merge every stored push of its call again, so a call of 10,000 pushes
//! answered five times slower than a new one, and a call of large pushes
//! slowed every other call's pushes on the single writer.

use std::time::{Duration, Instant};

use crate::http::{Conn, ms, post, quantile};
use crate::sections::heading;
use crate::server::{Scratch, Server};

const WEBHOOK: &str = "/webhooks/udesk/calls";
const SMALL_PUSHES: usize = 10_000;
const LARGE_PUSHES: usize = 200;
/// Bytes of padding in a large push: just under the 1 MiB body limit.
const LARGE_PADDING: usize = 900_000;

fn push(conversation_id: u64, index: usize, padding: usize) -> Vec<u8> {
    format!(
        "{{\"conversation_id\":{conversation_id},\"occasion\":\"agent_incall\",\
         \"timestamp\":\"2024-05-06 {:02}:{:02}:{:02} +0800\",\"x_push\":{index},\"padding\":\"{}\"}}",
        index / 3600 % 24,
        index / 60 % 60,
        index % 60,
        "x".repeat(padding)
    )
    .into_bytes()
}

/// Sends `body` and returns how long its answer took; panics unless `200`.
async fn send(conn: &mut Conn, host: &str, body: &[u8]) -> Duration {
    let sent = Instant::now();
    let (status, answer) = conn
        .send(&post(host, WEBHOOK, "application/json", body))
        .await
        .expect("the server answers");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    sent.elapsed()
}

fn p50(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    quantile(&sorted, 0.5)
}

pub async fn figures(data: &std::path::Path) {
    let scratch = Scratch::new(data, "one-call");
    let server = Server::start(&scratch.db(), data).await;
    let host = server.host.clone();
    let mut conn = Conn::open(&host).await.expect("connects");

    let mut small = Vec::with_capacity(SMALL_PUSHES);
    for index in 0..SMALL_PUSHES {
        small.push(send(&mut conn, &host, &push(1, index, 0)).await);
    }
    // Large pushes to one call, each followed by a small push to a call of
    // its own: what the large call's history costs everyone else.
    let (mut large, mut others) = (Vec::new(), Vec::new());
    for index in 0..LARGE_PUSHES {
        large.push(send(&mut conn, &host, &push(2, index, LARGE_PADDING)).await);
        others.push(send(&mut conn, &host, &push(1_000 + index as u64, 0, 0)).await);
    }
    server.stop();

    heading("13. one call's history: a push's answer (p50) as its call grows, one sender");
    println!(
        "{:>10} first 500   {:>10} last 500   ({SMALL_PUSHES} small pushes to one call)",
        ms(p50(&small[..500])),
        ms(p50(&small[SMALL_PUSHES - 500..]))
    );
    println!(
        "{:>10} first 20    {:>10} last 20    ({LARGE_PUSHES} pushes of 900 KB to one call)",
        ms(p50(&large[..20])),
        ms(p50(&large[LARGE_PUSHES - 20..]))
    );
    println!(
        "{:>10} first 20    {:>10} last 20    (small pushes to other calls between them)",
        ms(p50(&others[..20])),
        ms(p50(&others[LARGE_PUSHES - 20..]))
    );
}
