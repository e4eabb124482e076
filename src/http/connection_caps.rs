//! The caps on open connections: in all, and per client address.
//!
//! When a cap is reached, a connection without a request in progress (one
//! that sent nothing, trickles its headers, sits idle, or holds a WebSocket
//! not yet authenticated) is closed to make room: first those that never
//! sent a byte, then those idle after a request or two (or holding such a
//! WebSocket), then those sending a request head, last a client's
//! keep-alive connection that carried many; the longest waiting first
//! within each (`Activity::give_way_rank`). A connection younger than
//! [`SILENT_GRACE`] that has sent nothing may be a push whose bytes are not
//! read yet: an address at its share never closes one, nor a keep-alive
//! connection that carried many requests, and lets the newcomer in beyond
//! its share instead (the cap in all still holds), so a burst of
//! connections from the pushers' address cannot close a push or a
//! pusher's connection;
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

/// An idle connection that carried this many requests is a client's
/// keep-alive connection, not a holder, when one must make room.
const SERVED_ENOUGH: u32 = 3;

/// How long a new connection that has sent nothing yet is taken for one
/// whose request is on its way (its bytes may not have been read yet).
/// Silent connections older than this give way first, the oldest first;
/// then the young ones, the youngest first, so that a burst of
/// connections closes its own latest, not a push that came just before it.
const SILENT_GRACE: Duration = Duration::from_secs(1);

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
    /// Closes, among the waiting connections `of` selects, the one that
    /// should give way first; `false` when none is waiting. With `settled`
    /// (for an address's share), a young connection that is silent or
    /// sending its head is spared (its request may be on its way), and so
    /// is a keep-alive connection that carried many requests.
    fn make_room(&mut self, settled: bool, of: impl Fn(&Connection) -> bool) -> bool {
        // The clock `Activity` keeps its times on (paused in tests).
        let now = tokio::time::Instant::now();
        let Some((_, longest)) = self
            .connections
            .iter()
            .filter(|(_, connection)| of(connection))
            .filter_map(|(id, connection)| {
                let (rank, since) = connection.activity.give_way_rank(SERVED_ENOUGH)?;
                let age = now.saturating_duration_since(since);
                // Silent, or sending a head: maybe a request on its way.
                let young = matches!(rank, 0 | 2) && age < SILENT_GRACE;
                // For an address's share, neither that nor a keep-alive
                // connection that carried many requests (a pusher's) gives
                // way: the cap in all still makes room from them.
                if settled && (young || rank == 3) {
                    return None;
                }
                // The oldest first, but the youngest first of the young.
                let order = if young {
                    age.as_nanos() as i128
                } else {
                    -(age.as_nanos() as i128)
                };
                Some(((rank, young, order), *id))
            })
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
        let counted = (!self.exempt.contains(&ip.to_canonical())).then(|| client_address(ip));
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        if let Some(client) = counted
            && open.by_address.get(&client).copied().unwrap_or(0) >= self.per_address
        {
            let own = |connection: &Connection| connection.counted == Some(client);
            if open.make_room(true, own) {
                closed += 1;
            } else if !open
                .connections
                .values()
                .any(|connection| own(connection) && connection.activity.waiting_since().is_some())
            {
                // Every one of its connections is busy.
                drop(open);
                return None;
            }
            // Otherwise its waiting connections are all young and silent
            // (a burst, or requests on their way): the newcomer is let in
            // beyond the share, which the cap in all still bounds, and the
            // next newcomer closes those that stay silent.
        }
        if open.connections.len() >= self.limit {
            if !open.make_room(false, |_| true) {
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

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_carried_requests_outlasts_holders_that_waited_less() {
        use super::super::timeouts::Overstayed;
        let timeout = Duration::from_secs(60);
        let caps = Caps::new(100, 2, &[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let keep_alive = Activity::new(timeout, timeout);
        let _pusher = caps.take(ip, &keep_alive).unwrap();
        for _ in 0..5 {
            keep_alive.bytes_read();
            drop(keep_alive.request_began());
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        let holder = Activity::new(timeout, timeout);
        let _holder = caps.take(ip, &holder).unwrap();
        holder.bytes_read();
        drop(holder.request_began());
        let _newcomer = caps.take(ip, &Activity::new(timeout, timeout)).unwrap();
        assert_eq!(holder.overstayed().await, Overstayed::MadeRoom);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_at_an_addresss_share_closes_old_silent_ones_never_a_young_one() {
        use super::super::timeouts::Overstayed;
        let timeout = Duration::from_secs(60);
        let caps = Caps::new(100, 3, &[]);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let old = Activity::new(timeout, timeout);
        let _old = caps.take(ip, &old).unwrap();
        tokio::time::advance(Duration::from_secs(5)).await;
        // Accepted, its request not read yet: as silent as the others.
        let unread = Activity::new(timeout, timeout);
        let _unread = caps.take(ip, &unread).unwrap();
        let sending = Activity::new(timeout, timeout);
        let _sending = caps.take(ip, &sending).unwrap();
        sending.bytes_read();
        let mut burst = Vec::new();
        for _ in 0..10 {
            tokio::time::advance(Duration::from_millis(1)).await;
            let newcomer = Activity::new(timeout, timeout);
            burst.push((caps.take(ip, &newcomer).unwrap(), newcomer));
        }
        assert_eq!(old.overstayed().await, Overstayed::MadeRoom);
        let open = caps.open.lock().unwrap().connections.len();
        assert_eq!(
            open, 12,
            "the burst went beyond the share, closing no young one"
        );
        // Silent a while, the burst's connections give way to the next one.
        tokio::time::advance(Duration::from_secs(2)).await;
        let _next = caps.take(ip, &Activity::new(timeout, timeout)).unwrap();
        assert_eq!(unread.overstayed().await, Overstayed::MadeRoom);
        assert!(sending.give_way_rank(3).is_some());
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
