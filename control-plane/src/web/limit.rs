//! Login attempts, limited per client address, pure (time is a parameter).
//!
//! At most [`MAX_FAILED_LOGINS`] failed logins per address in any [`LOGIN_WINDOW_MS`] (a
//! fixed window that starts at an address's first failure); beyond that every login from it
//! is refused, right token or not, until the window ends. A success does not reset the count
//! (a guesser holding one valid token gains nothing). At most [`MAX_TRACKED`] addresses are
//! tracked; beyond that expired windows are dropped, then new addresses share one bucket, so
//! memory stays bounded and an attacker spreading over many addresses is still limited.

use std::collections::HashMap;
use std::net::IpAddr;

/// Failed logins allowed per address and window.
pub const MAX_FAILED_LOGINS: u32 = 10;
/// The window: 10 minutes.
pub const LOGIN_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 4096;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    by_addr: HashMap<Option<IpAddr>, (i64, u32)>,
}

impl LoginLimiter {
    fn key(&mut self, addr: IpAddr, now_ms: i64) -> Option<IpAddr> {
        // An IPv6 host could otherwise try again from each address of its /64.
        let addr = crate::http::counted(addr);
        if self.by_addr.contains_key(&Some(addr)) {
            return Some(addr);
        }
        if self.by_addr.len() >= MAX_TRACKED {
            self.by_addr
                .retain(|_, (start, _)| now_ms - *start < LOGIN_WINDOW_MS);
        }
        (self.by_addr.len() < MAX_TRACKED).then_some(addr)
    }

    /// `Err(retry_after_ms)` when `addr` may not try now.
    pub fn check(&mut self, addr: IpAddr, now_ms: i64) -> Result<(), i64> {
        let k = self.key(addr, now_ms);
        match self.by_addr.get(&k) {
            Some((start, n)) if now_ms - start < LOGIN_WINDOW_MS && *n >= MAX_FAILED_LOGINS => {
                Err(start + LOGIN_WINDOW_MS - now_ms)
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed login of `addr`.
    pub fn failed(&mut self, addr: IpAddr, now_ms: i64) {
        let k = self.key(addr, now_ms);
        let e = self.by_addr.entry(k).or_insert((now_ms, 0));
        if now_ms - e.0 >= LOGIN_WINDOW_MS {
            *e = (now_ms, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn the_cap_of_failed_logins_holds_at_cap_minus_one_cap_and_cap_plus_one() {
        let mut l = LoginLimiter::default();
        for _ in 0..MAX_FAILED_LOGINS - 1 {
            assert!(l.check(ip(1), 0).is_ok());
            l.failed(ip(1), 0);
        }
        // cap - 1 failures: the cap-th attempt is allowed.
        assert!(l.check(ip(1), 0).is_ok());
        l.failed(ip(1), 0);
        // cap failures: the (cap + 1)-th attempt is refused, until the window ends.
        assert_eq!(l.check(ip(1), 1000), Err(LOGIN_WINDOW_MS - 1000));
        assert!(l.check(ip(1), LOGIN_WINDOW_MS - 1).is_err());
        assert!(
            l.check(ip(2), 1000).is_ok(),
            "another address is not limited"
        );
        assert!(l.check(ip(1), LOGIN_WINDOW_MS).is_ok(), "a new window");
        l.failed(ip(1), LOGIN_WINDOW_MS);
        assert!(l.check(ip(1), LOGIN_WINDOW_MS).is_ok(), "counted afresh");
    }

    /// An IPv6 host counts by its /64, as the HTTP port's connection caps count it.
    #[test]
    fn an_ipv6_host_cannot_try_again_from_another_address_of_its_64() {
        let mut l = LoginLimiter::default();
        let v6 = |n: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, n]);
        for n in 0..MAX_FAILED_LOGINS as u16 {
            l.failed(v6(n), 0);
        }
        assert!(l.check(v6(999), 0).is_err(), "another address of the /64");
        let other = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert!(l.check(other, 0).is_ok(), "another /64");
    }

    #[test]
    fn memory_is_bounded_and_overflowing_addresses_share_a_bucket() {
        let mut l = LoginLimiter::default();
        for i in 0..MAX_TRACKED as u32 {
            l.failed(IpAddr::from(i.to_be_bytes()), 0);
        }
        assert_eq!(l.by_addr.len(), MAX_TRACKED);
        let extra = |n: u32| IpAddr::from((u32::MAX - n).to_be_bytes());
        for n in 0..MAX_FAILED_LOGINS {
            assert!(l.check(extra(n), 1).is_ok());
            l.failed(extra(n), 1);
        }
        assert!(l.check(extra(99), 1).is_err(), "the shared bucket is full");
        assert!(l.by_addr.len() <= MAX_TRACKED + 1);
        // Once the old windows end, they are dropped for new addresses.
        assert!(l.check(extra(100), LOGIN_WINDOW_MS + 1).is_ok());
        l.failed(extra(100), LOGIN_WINDOW_MS + 1);
        assert!(l.by_addr.len() < 10);
    }
}
