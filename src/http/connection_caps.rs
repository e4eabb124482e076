//! The caps on open connections: in all, and per client address.
//!
//! A connection beyond either cap is answered `503` with `Retry-After` and
//! closed at once, without reading it, so it holds nothing and Udesk sends
//! its push again. A place is given back when its connection closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a connection beyond a cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: 52\r\nConnection: close\r\n\r\n{\"error\":\"too many connections; retry in 5 seconds\"}";

/// How often refused connections are logged: one line per connection
/// would let a flood fill the disk with log lines.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(10);

/// The two caps on connections, and the refusals not logged yet.
pub struct Caps {
    total: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    refusals: Mutex<Refusals>,
}

#[derive(Default)]
struct Refusals {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Caps {
    pub fn new(total: usize, per_address: usize) -> Caps {
        Caps {
            total: Arc::new(Semaphore::new(total)),
            per_address: Arc::new(PerAddress {
                limit: per_address,
                open: Mutex::default(),
            }),
            refusals: Mutex::default(),
        }
    }

    /// A place for a connection from `ip`, if both caps leave one.
    pub fn take(&self, ip: IpAddr) -> Option<Place> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let slot = PerAddress::take(&self.per_address, ip)?;
        Some(Place {
            _permit: permit,
            _slot: slot,
        })
    }

    /// Answers a connection beyond a cap without reading it, and closes it.
    pub fn refuse(&self, socket: TcpStream) {
        // The answer fits any socket buffer; should it not, closing is enough.
        let _ = socket.try_write(BUSY);
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        refusals.unlogged += 1;
        if refusals
            .last_logged
            .is_some_and(|at| at.elapsed() < REFUSALS_LOGGED_EVERY)
        {
            return;
        }
        tracing::warn!(
            refused = refusals.unlogged,
            "connections were refused: too many open (see --max-connections and --max-connections-per-address)"
        );
        refusals.last_logged = Some(Instant::now());
        refusals.unlogged = 0;
    }
}

/// One open connection's place under both caps; given back when dropped.
pub struct Place {
    _permit: OwnedSemaphorePermit,
    _slot: AddressSlot,
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
