//! Ports and plain HTTP/1.1 on loopback.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rustix::fs::{FlockOperation, flock};

/// Ports below the kernel's ephemeral range that [`free_port`] hands out.
const WINDOW: u16 = 10_000;

/// A free TCP port on 127.0.0.1 whose next port is free for UDP too (an edge's QUIC port is its
/// TCP port + 1 unless configured), claimed for this process until it exits.
///
/// A port the kernel gave to `bind(…:0)` and that was then released can be handed to the next
/// such bind, in another test process, before the edge meant to have it binds it: two edges
/// then race for one port (CI at `a85e03f`). So the ports come from below the kernel's
/// ephemeral range (`net.ipv4.ip_local_port_range`), which neither `bind(…:0)` nor `connect`
/// ever picks, and each is claimed by an exclusive lock on a file named for it in
/// `$TMPDIR/siq-test-ports/`, held until the process exits: other test processes skip it.
pub fn free_port() -> u16 {
    let window = claim_window();
    let dir = std::env::temp_dir().join("siq-test-ports");
    std::fs::create_dir_all(&dir).expect("the test ports' lock directory");
    // Processes start their scans at different places, so they seldom try the same ports.
    let start = (std::process::id() as usize).wrapping_mul(7919);
    claim_port(&dir, window, start).expect("no free port below the ephemeral range")
}

/// The first port of `window`, from `start` (wrapping), that no other holder has claimed in
/// `dir` and that is free for TCP (and UDP on the next port); its lock file stays open, and so
/// locked, for the rest of the process.
fn claim_port(dir: &Path, window: Range<u16>, start: usize) -> Option<u16> {
    static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());
    let n = window.len();
    (0..n)
        .map(|i| window.start + ((start + i) % n) as u16)
        .find_map(|p| {
            let f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(p.to_string()))
                .ok()?;
            flock(&f, FlockOperation::NonBlockingLockExclusive).ok()?;
            let free = TcpListener::bind(("127.0.0.1", p)).is_ok()
                && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok();
            if !free {
                return None; // the lock goes with `f`
            }
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(f);
            Some(p)
        })
}

/// The ports [`free_port`] claims from: the [`WINDOW`] below the kernel's ephemeral range (not
/// below 1024).
fn claim_window() -> Range<u16> {
    let (low, _) = ephemeral_range();
    low.saturating_sub(WINDOW).max(1024)..low.saturating_sub(1)
}

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("net.ipv4.ip_local_port_range");
    let mut it = s.split_whitespace().map(|v| v.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) => (lo, hi),
        _ => panic!("net.ipv4.ip_local_port_range {s:?}: not two ports"),
    }
}

/// `GET path` on 127.0.0.1:`port` (5 s read timeout): status and body, or `None` when there is
/// no answer.
pub fn http(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

/// Sends `raw` bytes to 127.0.0.1:`port` and reads to the end: status, head, body.
pub fn raw(port: u16, raw: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    s.write_all(raw)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no head"))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head, buf[end + 4..].to_vec()))
}

/// A server on 127.0.0.1 that answers its first connection with `answer` (a whole HTTP answer,
/// as a stand-in for a server in a state no test can put the real one in, e.g. failing with a
/// 5xx): its `http://127.0.0.1:PORT`, and the thread, which returns the request's head (from
/// 16 KiB on, what was read). A body is not read: send none (an unread body can reset the
/// connection before the answer is read). It waits for a connection: join it only after a
/// request went.
pub fn answer_once(answer: Vec<u8>) -> (String, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let t = std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        // The whole head before answering: answering and closing with part of a request
        // unread could reset the connection before the client reads the answer.
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        while req.len() < 16 * 1024 && !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(&answer);
        String::from_utf8_lossy(&req).into_owned()
    });
    (url, t)
}

/// The sum of a metric's samples in a Prometheus text body: lines whose name is `name`
/// (with or without labels).
pub fn metric_sum(body: &str, name: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The sum of a metric's samples whose labels contain `label` (`key="value"`).
pub fn metric_with(body: &str, name: &str, label: &str) -> f64 {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .filter(|l| l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten ports just below [`free_port`]'s window: no other caller takes them.
    fn window() -> Range<u16> {
        let (low, _) = ephemeral_range();
        low - WINDOW - 10..low - WINDOW
    }

    #[test]
    fn a_port_claimed_elsewhere_or_in_use_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = window();
        let first = claim_port(dir.path(), w.clone(), 0).expect("a port");
        assert!(w.contains(&first));
        // This process holds it: the next claim from the same place takes another.
        let second = claim_port(dir.path(), w.clone(), 0).expect("a port");
        assert_ne!(first, second);
        // Another holder's lock (another open file, as another process would have) is skipped.
        let other = File::create(dir.path().join((second + 1).to_string())).expect("lock file");
        flock(&other, FlockOperation::NonBlockingLockExclusive).expect("lock");
        // A port some socket holds is skipped too.
        let bound = TcpListener::bind(("127.0.0.1", second + 2));
        let third = claim_port(dir.path(), w.clone(), 0).expect("a port");
        assert!(third > second + 1, "{third} after {second}");
        if bound.is_ok() {
            assert_ne!(third, second + 2);
        }
    }

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_distinct() {
        let (low, _) = ephemeral_range();
        let a = free_port();
        let b = free_port();
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(p < low && claim_window().contains(&p), "{p}");
        }
    }
}
