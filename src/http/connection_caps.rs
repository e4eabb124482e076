//! The caps on open connections: in all, and per client address.
//!
//! When every place is taken, the connection that has waited longest
//! without a request in progress (one that sent nothing, trickles its
//! headers, or sits idle) is closed to make room: a flood of connections
//! that send nothing cannot keep Udesk's pushes out, since a push's
//! connection sends its request at once. When no connection can be closed
//! (all are busy), or the client's address has its share, the new
//! connection is answered `503` with `Retry-After` and closed at once,
//! without reading it, so it holds nothing and Udesk sends its push again.
//! A place is given back when its connection closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::timeouts::Activity;

/// What a connection beyond a cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: 52\r\nConnection: close\r\n\r\n{\"error\":\"too many connections; retry in 5 seconds\"}";

/// How often refused and closed connections are logged: one line per
/// connection would let a flood fill the disk with log lines.
const CROWDING_LOGGED_EVERY: Duration = Duration::from_secs(10);

/// The two caps on connections, and what they did that is not logged yet.
pub struct Caps {
    limit: usize,
    open: Arc<Mutex<Open>>,
    per_address: Arc<PerAddress>,
    crowding: Mutex<Crowding>,
}

/// The open connections, by an id of their own.
#[derive(Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Activity>>,
}

#[derive(Default)]
struct Crowding {
    last_logged: Option<Instant>,
    refused: u64,
    closed: u64,
}

impl Caps {
    pub fn new(total: usize, per_address: usize) -> Caps {
        Caps {
            limit: total,
            open: Arc::default(),
            per_address: Arc::new(PerAddress {
                limit: per_address,
                open: Mutex::default(),
            }),
            crowding: Mutex::default(),
        }
    }

    /// A place for a connection from `ip`, whose phases `activity` follows,
    /// if the caps leave one or one can be made.
    pub fn take(&self, ip: IpAddr, activity: &Arc<Activity>) -> Option<Place> {
        let slot = PerAddress::take(&self.per_address, ip)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.connections.len() >= self.limit {
            let (_, longest) = open
                .connections
                .iter()
                .filter_map(|(id, activity)| Some((activity.waiting_since()?, *id)))
                .min()?;
            if let Some(waiting) = open.connections.remove(&longest) {
                waiting.make_room();
                self.note(|crowding| crowding.closed += 1);
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        open.connections.insert(id, activity.clone());
        Some(Place {
            id,
            open: self.open.clone(),
            _slot: slot,
        })
    }

    /// Answers a connection beyond a cap without reading it, and closes it.
    pub fn refuse(&self, socket: TcpStream) {
        // The answer fits any socket buffer; should it not, closing is enough.
        let _ = socket.try_write(BUSY);
        self.note(|crowding| crowding.refused += 1);
    }

    fn note(&self, count: impl FnOnce(&mut Crowding)) {
        let mut crowding = self.crowding.lock().unwrap_or_else(|p| p.into_inner());
        count(&mut crowding);
        if crowding
            .last_logged
            .is_some_and(|at| at.elapsed() < CROWDING_LOGGED_EVERY)
        {
            return;
        }
        tracing::warn!(
            refused = crowding.refused,
            closed_waiting = crowding.closed,
            "too many connections: new ones were refused, or waiting ones closed to make room (see --max-connections and --max-connections-per-address)"
        );
        *crowding = Crowding {
            last_logged: Some(Instant::now()),
            ..Crowding::default()
        };
    }
}

/// One open connection's place under both caps; given back when dropped.
pub struct Place {
    id: u64,
    open: Arc<Mutex<Open>>,
    _slot: AddressSlot,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.connections.remove(&self.id);
    }
}

/// Open connections by client address.
struct PerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn take(this: &Arc<PerAddress>, ip: IpAddr) -> Option<AddressSlot> {
        let client = client_address(ip);
        let mut open = this.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(client).or_default();
        if *count >= this.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            client,
            of: this.clone(),
        })
    }
}

/// One open connection of a client address; given back when dropped.
struct AddressSlot {
    client: IpAddr,
    of: Arc<PerAddress>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.of.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Whom a connection is counted against: an IPv4 address, or an IPv6 /64,
/// since one IPv6 client commonly holds a whole /64.
pub fn client_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !(u128::MAX >> 64);
                IpAddr::V6(network.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_address(a), client_address(b));
        assert_ne!(client_address(a), client_address(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            client_address(mapped),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_busy_answer_declares_its_length() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn when_full_the_longest_waiting_connection_makes_room_and_busy_ones_never_do() {
        use super::super::timeouts::Overstayed;
        let timeout = Duration::from_secs(60);
        let caps = Caps::new(2, 10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let oldest = Activity::new(timeout, timeout);
        let _first = caps.take(ip, &oldest).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let younger = Activity::new(timeout, timeout);
        let _second = caps.take(ip, &younger).unwrap();

        let newcomer = Activity::new(timeout, timeout);
        let _third = caps.take(ip, &newcomer).expect("room is made");
        assert_eq!(oldest.overstayed().await, Overstayed::MadeRoom);

        let _busy = (younger.request_began(), newcomer.request_began());
        assert!(caps.take(ip, &Activity::new(timeout, timeout)).is_none());
    }

    #[test]
    fn an_address_gets_its_share_and_gets_it_back() {
        let per_address = Arc::new(PerAddress {
            limit: 2,
            open: Mutex::default(),
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = PerAddress::take(&per_address, ip).unwrap();
        let _second = PerAddress::take(&per_address, ip).unwrap();
        assert!(PerAddress::take(&per_address, ip).is_none());
        assert!(PerAddress::take(&per_address, "192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        assert!(PerAddress::take(&per_address, ip).is_some());
    }
}
