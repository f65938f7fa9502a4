//! The live feed's change tracking, pure: which alert records are new or changed since the
//! last poll. The handler polls the store every second with [`Feed::since_ms`] and pushes what
//! [`Feed::changes`] returns.

use std::collections::HashMap;

use sentientiq_proto::grpc::AlertRecord;

use crate::store::alerts::last_change;

/// Records whose last change is this far before the newest one seen are read again (edges'
/// clocks differ); the seen map makes re-reads free.
pub const SLACK_MS: i64 = 60_000;
/// Most alerts remembered; beyond that the oldest are forgotten (they may be sent again).
pub const MAX_SEEN: usize = 10_000;

#[derive(Debug)]
pub struct Feed {
    seen: HashMap<String, (i64, String)>,
    newest: i64,
}

impl Feed {
    /// A feed that starts with the alerts changed at or after `from_ms`.
    pub fn new(from_ms: i64) -> Feed {
        Feed {
            seen: HashMap::new(),
            newest: from_ms.saturating_add(SLACK_MS),
        }
    }

    /// What to ask the store for: changes at or after this.
    pub fn since_ms(&self) -> i64 {
        self.newest.saturating_sub(SLACK_MS)
    }

    /// The records among `read` that are new or changed (state or update time), oldest change
    /// first.
    pub fn changes(&mut self, read: Vec<AlertRecord>) -> Vec<AlertRecord> {
        let mut out: Vec<AlertRecord> = read
            .into_iter()
            .filter(|a| {
                let now = (a.updated_ms, a.state.clone());
                match self.seen.get(&a.alert_id) {
                    Some(s) if *s == now => false,
                    _ => {
                        self.seen.insert(a.alert_id.clone(), now);
                        true
                    }
                }
            })
            .collect();
        out.sort_by_key(last_change);
        if let Some(n) = out.last().map(last_change) {
            self.newest = self.newest.max(n);
        }
        if self.seen.len() > MAX_SEEN {
            let cutoff = self.since_ms();
            self.seen.retain(|_, (u, _)| *u >= cutoff);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, opened: i64, updated: i64, state: &str) -> AlertRecord {
        AlertRecord {
            alert_id: id.into(),
            opened_ms: opened,
            updated_ms: updated,
            state: state.into(),
            ..AlertRecord::default()
        }
    }

    #[test]
    fn only_new_and_changed_records_are_pushed_oldest_first() {
        let mut f = Feed::new(1_000_000);
        assert_eq!(f.since_ms(), 1_000_000);
        let got = f.changes(vec![
            rec("b", 1_000_500, 1_000_500, "open"),
            rec("a", 1_000_100, 1_000_100, "open"),
        ]);
        assert_eq!(
            got.iter().map(|a| a.alert_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // Read again unchanged: nothing.
        assert!(
            f.changes(vec![rec("a", 1_000_100, 1_000_100, "open")])
                .is_empty()
        );
        // Acknowledged: pushed again.
        let got = f.changes(vec![rec("a", 1_000_100, 1_002_000, "acknowledged")]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].state, "acknowledged");
        // Never before where it started; then a minute before the newest change seen.
        assert_eq!(f.since_ms(), 1_000_000);
        f.changes(vec![rec("c", 1_100_000, 1_100_000, "open")]);
        assert_eq!(f.since_ms(), 1_100_000 - SLACK_MS);
    }

    /// At most MAX_SEEN remembered: at the cap all are kept; past it those older than the
    /// read window are forgotten (and would be pushed again if read again).
    #[test]
    fn the_seen_alerts_are_trimmed_past_max_seen() {
        let recs = |n: usize, at: i64| -> Vec<AlertRecord> {
            (0..n)
                .map(|i| rec(&format!("a{i:05}"), at, at, "open"))
                .collect()
        };
        // n records, all but one changed long before the newest: at the cap all are kept,
        // past it only the recent one.
        let late = 1000 + 10 * SLACK_MS;
        for (n, kept) in [
            (MAX_SEEN - 1, MAX_SEEN - 1),
            (MAX_SEEN, MAX_SEEN),
            (MAX_SEEN + 1, 1),
        ] {
            let mut f = Feed::new(0);
            let mut read = recs(n - 1, 1000);
            read.push(rec("new", late, late, "open"));
            assert_eq!(f.changes(read).len(), n);
            assert_eq!(f.seen.len(), kept, "{n}");
            // A forgotten one read again is pushed again; a remembered one is not.
            let again = f.changes(recs(1, 1000)).len();
            assert_eq!(again, usize::from(kept == 1), "{n}");
        }
    }
}
