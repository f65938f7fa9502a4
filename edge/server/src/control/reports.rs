//! Window aggregates on their way to the plane: every shard's per-minute counts, summed per
//! (minute, tenant) for the EVI and per (minute, tenant, rule) for experiments, and which the
//! plane has not acknowledged yet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sentientiq_core::WindowAgg;
use sentientiq_experiments::ExperimentCounts;
use sentientiq_proto::grpc::{AggregateBatch, ExperimentWindow, WindowAggregate};

use crate::tenants::Tenants;

/// Windows kept for reporting at most (oldest minutes dropped first, counted).
pub const MAX_WINDOWS: usize = 100_000;
/// Windows per `AggregateBatch`.
pub const BATCH_WINDOWS: usize = 1_000;
/// Acknowledged windows are forgotten once this many minutes old.
const KEEP_MINUTES: u64 = 120;

/// What a window counts: the EVI's aggregates of a tenant, or one rule's experiment.
#[derive(Debug, Clone, PartialEq)]
pub enum Tally {
    Evi(WindowAgg),
    /// The counts, and the value at risk behind the assignments (cents).
    Experiment(Box<(ExperimentCounts, i64)>),
}

impl Tally {
    fn merge(&mut self, o: &Tally) {
        match (self, o) {
            (Tally::Evi(a), Tally::Evi(b)) => a.merge(b),
            (Tally::Experiment(a), Tally::Experiment(b)) => {
                a.0.merge(&b.0);
                a.1 = a.1.saturating_add(b.1);
            }
            // Keys tell the kinds apart (`rule` is set only for experiments).
            _ => {}
        }
    }
}

/// (minute, tenant, rule): `rule` is `None` for the EVI window.
type Key = (u64, Arc<str>, Option<Arc<str>>);

#[derive(Debug, Clone)]
struct Kept {
    w: Tally,
    /// Bumped on every change; an acknowledgement clears `dirty` only for the generation sent.
    generation: u64,
    dirty: bool,
}

/// Every shard's window totals, per (minute, tenant), and which are not yet acknowledged.
#[derive(Debug, Default)]
pub struct Reports {
    inner: Mutex<BTreeMap<Key, Kept>>,
    generation: AtomicU64,
    dropped: AtomicU64,
    poisoned: AtomicU64,
    /// Detections for the dashboard's live feed, newest last, at most [`MAX_FEED`].
    feed: Mutex<std::collections::VecDeque<sentientiq_proto::grpc::DetectionEvent>>,
}

/// Detections held for the next report at most; past it the oldest go. The feed is a live view
/// of the newest (the plane keeps 200 per tenant); the counts are the windows', never this.
pub const MAX_FEED: usize = 1_000;

/// One window as sent: its key and the generation it had.
#[derive(Debug, Clone)]
pub struct Sent {
    pub tenant: Arc<str>,
    pub minute: u64,
    /// The experiment's rule; `None` for the EVI window.
    pub rule: Option<Arc<str>>,
    pub generation: u64,
}

impl Reports {
    /// The windows. A shard that panicked while holding the lock leaves the map as it was
    /// between two whole operations (each is one short update), so its contents are used,
    /// not dropped: dropping them would lose the minutes silently.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Kept>> {
        self.inner.lock().unwrap_or_else(|p| {
            self.poisoned.fetch_add(1, Ordering::Relaxed);
            p.into_inner()
        })
    }

    /// Times the lock was found poisoned (its windows were used anyway).
    pub fn poisoned(&self) -> u64 {
        self.poisoned.load(Ordering::Relaxed)
    }

    /// Adds a shard's drained counts for `tenant` (counts, not totals: they are summed).
    pub fn add(&self, tenant: &Arc<str>, w: &WindowAgg) {
        self.add_tally((w.minute, tenant.clone(), None), Tally::Evi(*w));
    }

    /// Adds what a shard's experiment counts of `tenant`'s `rule` (and the value at risk behind
    /// its assignments) gained, to `minute`'s window.
    pub fn add_experiment(
        &self,
        tenant: &Arc<str>,
        rule: &Arc<str>,
        minute: u64,
        d: &ExperimentCounts,
        value_cents: i64,
    ) {
        self.add_tally(
            (minute, tenant.clone(), Some(rule.clone())),
            Tally::Experiment(Box::new((*d, value_cents))),
        );
    }

    fn add_tally(&self, key: Key, w: Tally) {
        let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let mut m = self.lock();
        match m.get_mut(&key) {
            Some(k) => {
                k.w.merge(&w);
                k.generation = g;
                k.dirty = true;
            }
            None => {
                m.insert(
                    key,
                    Kept {
                        w,
                        generation: g,
                        dirty: true,
                    },
                );
            }
        }
        while m.len() > MAX_WINDOWS {
            m.pop_first();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The windows not yet acknowledged, oldest first, at most `max`.
    pub fn pending(&self, max: usize) -> Vec<(Sent, Tally)> {
        let m = self.lock();
        m.iter()
            .filter(|(_, k)| k.dirty)
            .take(max)
            .map(|((minute, t, rule), k)| {
                (
                    Sent {
                        tenant: t.clone(),
                        minute: *minute,
                        rule: rule.clone(),
                        generation: k.generation,
                    },
                    k.w.clone(),
                )
            })
            .collect()
    }

    /// How many windows wait for an acknowledgement.
    pub fn pending_len(&self) -> usize {
        self.lock().values().filter(|k| k.dirty).count()
    }

    /// The plane stored these: clear them unless they changed since they were sent.
    pub fn acked(&self, sent: &[Sent]) {
        let mut m = self.lock();
        for s in sent {
            if let Some(k) = m.get_mut(&(s.minute, s.tenant.clone(), s.rule.clone()))
                && k.generation == s.generation
            {
                k.dirty = false;
            }
        }
    }

    /// Forgets acknowledged windows older than two hours before `now_minute`.
    pub fn prune(&self, now_minute: u64) {
        let mut m = self.lock();
        let floor = now_minute.saturating_sub(KEEP_MINUTES);
        m.retain(|(minute, _, _), k| k.dirty || *minute >= floor);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Windows dropped because `MAX_WINDOWS` were waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A shard's detection, for the live feed.
    pub fn add_detection(&self, d: sentientiq_proto::grpc::DetectionEvent) {
        let mut f = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= MAX_FEED {
            f.pop_front();
        }
        f.push_back(d);
    }

    /// The detections held, oldest first (the held list is emptied).
    pub fn take_detections(&self) -> Vec<sentientiq_proto::grpc::DetectionEvent> {
        let mut f = self.feed.lock().unwrap_or_else(|p| p.into_inner());
        f.drain(..).collect()
    }
}

/// The wire form of one window.
pub fn window_message(tenant: &str, region: &str, edge: &str, w: &WindowAgg) -> WindowAggregate {
    WindowAggregate {
        tenant_id: tenant.to_string(),
        region: region.to_string(),
        edge_id: edge.to_string(),
        minute: w.minute as i64,
        active_sessions: w.active_sessions,
        detections: w.detections.to_vec(),
        value_at_risk_cents: w.value_at_risk_cents,
        intensity_milli: w.intensity_milli.to_vec(),
        affected_sessions: w.affected_sessions,
        new_sessions: w.usage.new_sessions,
        frames: w.usage.frames,
        samples: w.usage.samples,
        events: w.usage.events,
        bytes: w.usage.bytes,
        interventions: w.usage.interventions,
        escalations: w.usage.escalations,
    }
}

/// The wire form of one rule's experiment window, arms by variant id as `tenants` names them
/// now; `None` when the tenant or its rule's experiment is gone (nothing to name the arms by).
pub fn experiment_message(
    tenants: &Tenants,
    s: &Sent,
    region: &str,
    edge: &str,
    c: &(ExperimentCounts, i64),
) -> Option<ExperimentWindow> {
    let rule = s.rule.as_ref()?;
    let t = tenants.get(tenants.index_of(&s.tenant)?);
    let x = t.experiments.get(rule)?;
    Some(ExperimentWindow {
        tenant_id: s.tenant.to_string(),
        region: region.to_string(),
        edge_id: edge.to_string(),
        minute: s.minute as i64,
        rule: rule.to_string(),
        arms: sentientiq_tenant::plane::tallies(&x.experiment, &c.0),
        value_at_risk_cents: c.1,
    })
}

/// The pending windows as `AggregateBatch`es of at most [`BATCH_WINDOWS`] (ids from 1), and
/// what each batch id carries (cleared when its ack comes back). An experiment window whose
/// rule no longer has an experiment is acknowledged without being sent.
pub fn batches(
    pending: &[(Sent, Tally)],
    tenants: &Tenants,
    region: &str,
    edge: &str,
) -> (Vec<AggregateBatch>, BTreeMap<u64, Vec<Sent>>) {
    pending
        .chunks(BATCH_WINDOWS)
        .zip(1u64..)
        .map(|(chunk, id)| {
            let mut batch = AggregateBatch {
                batch_id: id,
                ..AggregateBatch::default()
            };
            for (s, w) in chunk {
                match w {
                    Tally::Evi(w) => batch
                        .windows
                        .push(window_message(&s.tenant, region, edge, w)),
                    Tally::Experiment(c) => batch
                        .experiments
                        .extend(experiment_message(tenants, s, region, edge, c)),
                }
            }
            (batch, (id, chunk.iter().map(|(s, _)| s.clone()).collect()))
        })
        .unzip()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn the_feed_holds_the_newest_detections_up_to_its_cap() {
        let r = Reports::default();
        let det = |i: usize| sentientiq_proto::grpc::DetectionEvent {
            sid: format!("s{i}"),
            ..Default::default()
        };
        // cap − 1 and cap: all held; cap + 1: the oldest goes.
        for i in 0..MAX_FEED - 1 {
            r.add_detection(det(i));
        }
        assert_eq!(r.take_detections().len(), MAX_FEED - 1);
        assert!(r.take_detections().is_empty(), "taken once");
        for i in 0..MAX_FEED {
            r.add_detection(det(i));
        }
        assert_eq!(r.take_detections().len(), MAX_FEED);
        for i in 0..=MAX_FEED {
            r.add_detection(det(i));
        }
        let got = r.take_detections();
        assert_eq!(got.len(), MAX_FEED);
        assert_eq!(got[0].sid, "s1", "the oldest went");
        assert_eq!(got[MAX_FEED - 1].sid, format!("s{MAX_FEED}"));
    }

    /// Tenant acme with rule `help` testing variants `chat` and `offer` (tests elsewhere too).
    pub(crate) fn tenant(holdout: f64) -> sentientiq_tenant::Tenant {
        let mut x = sentientiq_tenant::ExperimentSpec::new(&["chat", "offer"]);
        x.holdout_share = holdout;
        x.attribution_window_ms = 60_000;
        let mut t = sentientiq_tenant::TenantSpec::new("acme");
        t.rules.push(sentientiq_tenant::RuleSpec {
            id: "help".into(),
            emotions: vec!["rage".into()],
            min_confidence: 0.0,
            sections: vec![],
            require_identified: false,
            min_value_cents: 0,
            intervene: None,
            escalate: None,
            experiment: Some(x),
            session_cooldown_s: 0,
            account_cooldown_s: 0,
        });
        t.validate().expect("valid")
    }

    fn evi(t: &Tally) -> WindowAgg {
        match t {
            Tally::Evi(w) => *w,
            Tally::Experiment(_) => panic!("an EVI window"),
        }
    }

    fn w(minute: u64, active: u64) -> WindowAgg {
        WindowAgg {
            minute,
            active_sessions: active,
            ..WindowAgg::default()
        }
    }

    #[test]
    fn reports_sum_shard_counts_and_an_ack_clears_only_what_did_not_change_since() {
        let r = Reports::default();
        let a: Arc<str> = Arc::from("a");
        r.add(&a, &w(10, 2));
        r.add(&a, &w(10, 3));
        r.add(&a, &w(11, 1));
        let p = r.pending(10);
        assert_eq!(p.len(), 2);
        assert_eq!(evi(&p[0].1).active_sessions, 5, "two shards' counts summed");
        // Minute 10 changes after it was sent: its ack must not clear it.
        r.add(&a, &w(10, 1));
        r.acked(&p.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>());
        let p = r.pending(10);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].0.minute, evi(&p[0].1).active_sessions), (10, 6));
        r.acked(&[p[0].0.clone()]);
        assert!(r.pending(10).is_empty());
        // Acknowledged windows leave after two hours; pending ones never do.
        r.add(&a, &w(12, 1));
        r.prune(12 + KEEP_MINUTES + 5);
        assert_eq!(r.len(), 1);
        assert_eq!(r.pending(10)[0].0.minute, 12);
    }

    #[test]
    fn pending_windows_go_in_batches_of_at_most_batch_windows() {
        let a: Arc<str> = Arc::from("a");
        let pending = |n: usize| -> Vec<(Sent, Tally)> {
            (0..n as u64)
                .map(|m| {
                    let s = Sent {
                        tenant: a.clone(),
                        minute: m,
                        rule: None,
                        generation: m,
                    };
                    (s, Tally::Evi(w(m, 1)))
                })
                .collect()
        };
        for (n, want) in [
            (0, vec![]),
            (BATCH_WINDOWS - 1, vec![BATCH_WINDOWS - 1]),
            (BATCH_WINDOWS, vec![BATCH_WINDOWS]),
            (BATCH_WINDOWS + 1, vec![BATCH_WINDOWS, 1]),
        ] {
            let (b, sent) = batches(&pending(n), &Tenants::new(Vec::new()), "us-east-1", "e@1");
            assert_eq!(
                b.iter().map(|b| b.windows.len()).collect::<Vec<_>>(),
                want,
                "n = {n}"
            );
            assert_eq!(
                b.iter().map(|b| b.batch_id).collect::<Vec<_>>(),
                sent.keys().copied().collect::<Vec<_>>()
            );
            for b in &b {
                assert_eq!(sent[&b.batch_id].len(), b.windows.len());
                assert!(
                    b.windows
                        .iter()
                        .all(|w| w.region == "us-east-1" && w.edge_id == "e@1")
                );
            }
        }
    }

    #[test]
    fn experiment_windows_sum_per_rule_and_go_by_variant_id_or_are_acked_unsent() {
        let t = tenant(0.1);
        let tenants = Tenants::new(vec![t]);
        let (acme, help, gone): (Arc<str>, Arc<str>, Arc<str>) =
            (Arc::from("acme"), Arc::from("help"), Arc::from("gone"));
        let mut c = ExperimentCounts::default();
        c.holdout.sessions = 1;
        c.variants[1].sessions = 2;
        let r = Reports::default();
        // Two shards' gains in one minute sum; an EVI window of the same minute stays apart.
        r.add_experiment(&acme, &help, 10, &c, 500);
        r.add_experiment(&acme, &help, 10, &c, 700);
        r.add(&acme, &w(10, 1));
        // A rule that has no experiment (any more): nothing names its arms.
        r.add_experiment(&acme, &gone, 10, &c, 1);
        let p = r.pending(10);
        assert_eq!(p.len(), 3);
        let (b, sent) = batches(&p, &tenants, "us-east-1", "e@1");
        assert_eq!((b.len(), b[0].windows.len()), (1, 1));
        assert_eq!(b[0].experiments.len(), 1, "the gone rule is not sent");
        let x = &b[0].experiments[0];
        assert_eq!(
            (x.rule.as_str(), x.minute, x.value_at_risk_cents),
            ("help", 10, 1200)
        );
        let arms: Vec<(&str, u64)> = x
            .arms
            .iter()
            .map(|a| (a.variant.as_str(), a.sessions))
            .collect();
        assert_eq!(arms, [("", 2), ("offer", 4)]);
        // Its window is acknowledged with the batch all the same: it does not wait forever.
        r.acked(&sent[&1]);
        assert!(r.pending(10).is_empty());
    }

    #[test]
    fn a_poisoned_lock_keeps_its_windows() {
        let r = Arc::new(Reports::default());
        let a: Arc<str> = Arc::from("a");
        r.add(&a, &w(10, 2));
        let r2 = r.clone();
        let _ = std::thread::spawn(move || {
            let _g = r2.inner.lock();
            panic!("a shard dies holding the lock");
        })
        .join();
        assert!(r.inner.is_poisoned());
        r.add(&a, &w(10, 3));
        let p = r.pending(10);
        assert_eq!(p.len(), 1);
        assert_eq!(evi(&p[0].1).active_sessions, 5, "nothing dropped");
        assert!(r.poisoned() >= 1);
    }

    #[test]
    fn reports_keep_at_most_max_windows_dropping_the_oldest() {
        let r = Reports::default();
        let a: Arc<str> = Arc::from("a");
        for m in 0..MAX_WINDOWS as u64 - 1 {
            r.add(&a, &w(m, 1));
        }
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS - 1, 0), "cap - 1");
        r.add(&a, &w(MAX_WINDOWS as u64 - 1, 1));
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS, 0), "at the cap");
        r.add(&a, &w(MAX_WINDOWS as u64, 1));
        assert_eq!((r.len(), r.dropped()), (MAX_WINDOWS, 1), "cap + 1");
        assert_eq!(r.pending(1)[0].0.minute, 1, "minute 0 went first");
    }
}
