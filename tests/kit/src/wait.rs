//! Waiting for something that happens in another process.

use std::time::{Duration, Instant};

/// Waits until `ok` holds, checking every 20 ms; panics after `within`. Returns how long it took.
pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

/// Polls `f` every 50 ms until it returns a value (at most 20 s).
pub fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_or_explain(what, f, String::new)
}

/// [`poll`], and when 20 s pass, the failure says what `explain` finds at that moment (what
/// happened instead).
pub fn poll_or_explain<T>(
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    explain: impl Fn() -> String,
) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "waited 20 s for {what}{}",
            Some(explain())
                .filter(|e| !e.is_empty())
                .map_or(String::new(), |e| format!(": {e}"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
