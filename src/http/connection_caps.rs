//! The caps on open connections: in all, and per client address.
//!
//! When a cap is reached, the connection that has waited longest without a
//! request in progress (one that sent nothing, trickles its headers, sits
//! idle, or holds a WebSocket not yet authenticated) is closed to make room:
//! of the newcomer's own address when that address has its share, of any
//! address when every place is taken. So connections that only hold a place
//! always give way to one that sends a request, which a push's connection
//! does at once, whatever address the holders share with it. Only when no
//! connection can be closed (all are busy) is the newcomer answered `503`
//! with `Retry-After` and closed at once, without reading it, so it holds
//! nothing and Udesk sends its push again. A place is given back when its
//! connection closes. A trusted reverse proxy (`--trust-proxy`) speaks for
//! many clients: its connections count against the cap in all only.

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
    per_address: usize,
    /// Addresses exempt from the per-address cap: trusted proxies.
    exempt: Vec<IpAddr>,
    open: Arc<Mutex<Open>>,
    crowding: Mutex<Crowding>,
}

/// The open connections, by an id of their own, and how many each client
/// address holds (exempt addresses are not counted).
#[derive(Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Connection>,
    by_address: HashMap<IpAddr, usize>,
}

struct Connection {
    /// The client address it counts against, if any.
    counted: Option<IpAddr>,
    activity: Arc<Activity>,
}

impl Open {
    /// Closes the connection that has waited longest among those `of`
    /// selects; `false` when none is waiting.
    fn make_room(&mut self, of: impl Fn(&Connection) -> bool) -> bool {
        let Some((_, longest)) = self
            .connections
            .iter()
            .filter(|(_, connection)| of(connection))
            .filter_map(|(id, connection)| Some((connection.activity.waiting_since()?, *id)))
            .min()
        else {
            return false;
        };
        if let Some(waiting) = self.remove(longest) {
            waiting.make_room();
        }
        true
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Activity>> {
        let connection = self.connections.remove(&id)?;
        if let Some(client) = connection.counted
            && let Some(count) = self.by_address.get_mut(&client)
        {
            *count -= 1;
            if *count == 0 {
                self.by_address.remove(&client);
            }
        }
        Some(connection.activity)
    }
}

#[derive(Default)]
struct Crowding {
    last_logged: Option<Instant>,
    refused: u64,
    closed: u64,
}

impl Caps {
    pub fn new(total: usize, per_address: usize, exempt: &[IpAddr]) -> Caps {
        Caps {
            limit: total,
            per_address,
            exempt: exempt.to_vec(),
            open: Arc::default(),
            crowding: Mutex::default(),
        }
    }

    /// A place for a connection from `ip`, whose phases `activity` follows,
    /// if the caps leave one or one can be made.
    pub fn take(&self, ip: IpAddr, activity: &Arc<Activity>) -> Option<Place> {
        let counted = (!self.exempt.contains(&ip)).then(|| client_address(ip));
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        if let Some(client) = counted
            && open.by_address.get(&client).copied().unwrap_or(0) >= self.per_address
        {
            if !open.make_room(|connection| connection.counted == Some(client)) {
                drop(open);
                return None;
            }
            closed += 1;
        }
        if open.connections.len() >= self.limit {
            if !open.make_room(|_| true) {
                drop(open);
                self.note_closed(closed);
                return None;
            }
            closed += 1;
        }
        let id = open.next_id;
        open.next_id += 1;
        open.connections.insert(
            id,
            Connection {
                counted,
                activity: activity.clone(),
            },
        );
        if let Some(client) = counted {
            *open.by_address.entry(client).or_default() += 1;
        }
        drop(open);
        self.note_closed(closed);
        Some(Place {
            id,
            open: self.open.clone(),
        })
    }

    fn note_closed(&self, closed: u64) {
        if closed > 0 {
            self.note(|crowding| crowding.closed += closed);
        }
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

/// One open connection's place under the caps; given back when dropped
/// (unless it was already taken back to make room).
pub struct Place {
    id: u64,
    open: Arc<Mutex<Open>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(self.id);
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
        let caps = Caps::new(2, 10, &[]);
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

    #[tokio::test(start_paused = true)]
    async fn an_address_at_its_share_closes_its_own_longest_waiting_connection() {
        use super::super::timeouts::Overstayed;
        let timeout = Duration::from_secs(60);
        let caps = Caps::new(100, 2, &[]);
        let (ip, other): (IpAddr, IpAddr) =
            ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let elsewhere = Activity::new(timeout, timeout);
        let _elsewhere = caps.take(other, &elsewhere).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let oldest = Activity::new(timeout, timeout);
        let _first = caps.take(ip, &oldest).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let busy = Activity::new(timeout, timeout);
        let _second = caps.take(ip, &busy).unwrap();
        let _in_flight = busy.request_began();

        let _third = caps.take(ip, &Activity::new(timeout, timeout)).unwrap();
        assert_eq!(oldest.overstayed().await, Overstayed::MadeRoom);
        assert!(elsewhere.waiting_since().is_some());
        assert_eq!(caps.open.lock().unwrap().by_address[&ip], 2);
    }

    #[test]
    fn a_trusted_proxy_counts_against_the_cap_in_all_only() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let caps = Caps::new(3, 1, &[proxy]);
        let timeout = Duration::from_secs(60);
        let busy: Vec<_> = (0..3)
            .map(|_| {
                let activity = Activity::new(timeout, timeout);
                let place = caps.take(proxy, &activity).unwrap();
                (activity.request_began(), place)
            })
            .collect();
        assert!(caps.take(proxy, &Activity::new(timeout, timeout)).is_none());
        drop(busy);
        assert!(caps.open.lock().unwrap().connections.is_empty());
    }
}
