//! Experiments on interventions (issue 17) as one shard runs them, sans I/O: the shard's
//! seeded generator, its local counts per (tenant, rule, arm), each session's sticky
//! enrolments, and the outcomes that feed the counts. The statistics and the decision are
//! `sentientiq_experiments`'s; this is only the bookkeeping around them.
//!
//! - **Assignment.** The first time a rule with an experiment acts for a session, the session is
//!   assigned with [`sentientiq_experiments::assign`] from this shard's counts and kept in that
//!   arm for the rest of its visit (its [`Enrolment`] lives with the session). A variant shows
//!   that variant's intervention; the holdout shows nothing and is recorded as "would have
//!   shown" (an `actions` row `holdout`). The assigning row carries the generator's seed, the
//!   state it drew from and every variant's posterior ([`AssignmentRecord`]), so
//!   `Assignment::replay` reproduces the decision from the lake.
//! - **Randomness.** One xoshiro256** generator per shard: the edge's seed
//!   (`[edge] experiment_seed`, default the boot time), jumped once per shard index, so shards
//!   draw from non-overlapping streams. It is used for nothing else.
//! - **Outcomes**, counted once per session inside the attribution window
//!   ([`sentientiq_experiments::Exposure`]): `out shown|clicked|dismissed` for the experiment
//!   whose intervention the `iid` names; `out converted` (any `iid`) and `tr purchase` (its
//!   amount) for every experiment the session is enrolled in, the holdout included. Conversion
//!   is the session's, not the intervention's: a held-out session is never shown anything, so
//!   only a goal the page reports the same way with or without an intervention can be compared
//!   against the holdout.
//!
//! Limits: enrolments and counts live in memory. A restarted edge rebuilds them from the spool
//! it recovers (assigning rows, then the outcomes that followed), so a session stays in its arm
//! across a crash while its records are unshipped; sessions and counts whose segments were
//! shipped before the restart are not rebuilt (a session seen again may be assigned again).
//! Rebuilt counts are [`Lab::settle`]d: the previous boot reported them, so this boot does not.

use std::collections::HashMap;
use std::sync::Arc;

use sentientiq_experiments::{
    Arm, Assignment, ExperimentCounts, Exposure, Outcome, Recorded, Rng, assign,
};
use sentientiq_proto::{ClientFrame, OutcomeKind};
use sentientiq_tenant::{RuleExperiment, Tenant, VariantIv};
use serde::{Deserialize, Serialize};

/// Interventions of one enrolment remembered for `out` frames (oldest forgotten first): a rule
/// acts at most once per cooldown, so a visit rarely shows more.
const MAX_SHOWN: usize = 16;

/// One session's membership in one rule's experiment (sticky for the visit).
#[derive(Debug, Clone)]
pub struct Enrolment {
    rule: Arc<str>,
    exposure: Exposure,
    /// Action numbers (`iv` ids `i<n>`) shown under this enrolment.
    shown: Vec<u32>,
}

/// What an assigning `actions` row records (column `assignment`, JSON): enough to replay the
/// decision with `Assignment::replay`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// The edge's experiment seed; the shard's generator is seeded with it and jumped `shard`
    /// times.
    pub seed: u64,
    pub shard: u16,
    pub assignment: Assignment,
}

/// What an experiment made of a rule's intervention for one session.
#[derive(Debug, Clone, PartialEq)]
pub enum Enrolled {
    /// Show this variant's intervention.
    Variant {
        index: u8,
        iv: VariantIv,
        /// The assignment, when this action assigned the session (first time only).
        record: Option<AssignmentRecord>,
    },
    /// Held out: nothing is shown; recorded as "would have shown".
    Holdout { record: Option<AssignmentRecord> },
    /// Not enrolled: every variant is paused, or the session's variant is no longer in the
    /// experiment. Nothing is shown or recorded.
    Off,
}

/// A shard's experiments: its generator, its local counts, and what it draws from.
///
/// Posteriors are global (issue 17): every second the shard hands what its counts gained
/// ([`Lab::drain`]) to the edge, which sums every shard's and reports them to the plane; and it
/// takes back the edge's view of everyone else ([`Lab::set_base`]: the plane's totals of every
/// other edge boot, plus every shard of this boot as of that second). It draws from that base
/// plus what it counted since ([`Lab::draw_counts`]), so each count is in the draw once.
#[derive(Debug)]
pub struct Lab {
    seed: u64,
    shard: u16,
    rng: Rng,
    /// Per tenant index: rule id → counts.
    counts: Vec<HashMap<Arc<str>, ExperimentCounts>>,
    /// Per tenant index: rule id → `counts` as last drained.
    reported: Vec<HashMap<Arc<str>, ExperimentCounts>>,
    /// Per tenant index: rule id → everyone else's counts (see above).
    base: Vec<HashMap<Arc<str>, ExperimentCounts>>,
    /// Per tenant index: rule id → the value at risk behind this shard's assignments (each
    /// assigned session's value, in cents, when assigned), and as last drained.
    values: Vec<HashMap<Arc<str>, (i64, i64)>>,
}

impl Lab {
    /// Shard `shard`'s generator: `seed`, jumped `shard` times (2¹²⁸ draws apart).
    pub fn new(seed: u64, shard: u16) -> Lab {
        let mut rng = Rng::seed_from_u64(seed);
        for _ in 0..shard {
            rng.jump();
        }
        Lab {
            seed,
            shard,
            rng,
            counts: Vec::new(),
            reported: Vec::new(),
            base: Vec::new(),
            values: Vec::new(),
        }
    }

    /// A session of `value_cents` was assigned in `tenant`'s `rule` (its value is at risk).
    pub fn add_value(&mut self, tenant: usize, rule: &Arc<str>, value_cents: i64) {
        if self.values.len() <= tenant {
            self.values.resize_with(tenant + 1, HashMap::new);
        }
        let v = self.values[tenant].entry(rule.clone()).or_default();
        v.0 = v.0.saturating_add(value_cents.max(0));
    }

    /// What the shard draws a rule's assignments from: the base plus what it counted since it
    /// last drained.
    pub fn draw_counts(&self, tenant: usize, rule: &str) -> ExperimentCounts {
        let get = |v: &Vec<HashMap<Arc<str>, ExperimentCounts>>| {
            v.get(tenant)
                .and_then(|m| m.get(rule))
                .copied()
                .unwrap_or_default()
        };
        get(&self.base).merged(&get(&self.counts).since(&get(&self.reported)))
    }

    /// What the counts (and the value at risk) gained since the last drain, per (tenant index,
    /// rule), and only those that gained anything.
    pub fn drain(&mut self) -> Vec<(usize, Arc<str>, ExperimentCounts, i64)> {
        let mut out = Vec::new();
        if self.reported.len() < self.counts.len() {
            self.reported.resize_with(self.counts.len(), HashMap::new);
        }
        for (t, (now, then)) in self.counts.iter().zip(self.reported.iter_mut()).enumerate() {
            for (rule, c) in now {
                let last = then.entry(rule.clone()).or_default();
                let d = c.since(last);
                let value = self
                    .values
                    .get_mut(t)
                    .and_then(|m| m.get_mut(rule))
                    .map_or(0, |v| {
                        let gained = v.0.saturating_sub(v.1);
                        v.1 = v.0;
                        gained
                    });
                if !d.is_empty() || value != 0 {
                    out.push((t, rule.clone(), d, value));
                    *last = *c;
                }
            }
        }
        out
    }

    /// Marks everything counted so far as reported: what a recovery rebuilt from the spool was
    /// reported by the edge's previous boot (or lost with it), and must not reach the plane a
    /// second time under this boot's id.
    pub fn settle(&mut self) {
        self.reported = self.counts.clone();
        for v in self.values.iter_mut().flat_map(|m| m.values_mut()) {
            v.1 = v.0;
        }
    }

    /// Everyone else's counts of a tenant's rule, as the edge knows them now.
    pub fn set_base(&mut self, tenant: usize, rule: &Arc<str>, counts: ExperimentCounts) {
        if self.base.len() <= tenant {
            self.base.resize_with(tenant + 1, HashMap::new);
        }
        self.base[tenant].insert(rule.clone(), counts);
    }

    /// This shard's counts of a tenant's rule (tests, reports).
    pub fn counts(&self, tenant: usize, rule: &str) -> Option<&ExperimentCounts> {
        self.counts.get(tenant).and_then(|m| m.get(rule))
    }

    fn counts_mut(&mut self, tenant: usize, rule: &Arc<str>) -> &mut ExperimentCounts {
        if self.counts.len() <= tenant {
            self.counts.resize_with(tenant + 1, HashMap::new);
        }
        self.counts[tenant].entry(rule.clone()).or_default()
    }

    /// A rule with experiment `x` acts (action `n`) for a session whose enrolments are
    /// `enrolled`, at `now_ms`: its arm, assigned now if it has none.
    pub fn enrol(
        &mut self,
        tenant: usize,
        rule: &Arc<str>,
        x: &RuleExperiment,
        enrolled: &mut Vec<Enrolment>,
        n: u32,
        now_ms: u64,
    ) -> Enrolled {
        let (arm, record) = match enrolled.iter().position(|e| e.rule == *rule) {
            Some(i) => (enrolled[i].exposure.arm, None),
            None => {
                let counts = self.draw_counts(tenant, rule);
                let Ok(a) = assign(&x.experiment, &counts, &mut self.rng) else {
                    return Enrolled::Off;
                };
                let exposure = Exposure::start(a.arm, now_ms, self.counts_mut(tenant, rule));
                enrolled.push(Enrolment {
                    rule: rule.clone(),
                    exposure,
                    shown: Vec::new(),
                });
                let record = AssignmentRecord {
                    seed: self.seed,
                    shard: self.shard,
                    assignment: a,
                };
                (a.arm, Some(record))
            }
        };
        match arm {
            Arm::Holdout => Enrolled::Holdout { record },
            Arm::Variant(index) => {
                let Some(iv) = x.variants.get(usize::from(index)) else {
                    return Enrolled::Off;
                };
                if let Some(e) = enrolled.iter_mut().find(|e| e.rule == *rule) {
                    if e.shown.len() == MAX_SHOWN {
                        e.shown.remove(0);
                    }
                    e.shown.push(n);
                }
                Enrolled::Variant {
                    index,
                    iv: iv.clone(),
                    record,
                }
            }
        }
    }

    /// Rebuilds a session's enrolment from a spooled `actions` row of rule `rule` (crash
    /// recovery, in spool order): an assigning row enrols the session in its recorded arm at
    /// `recv_ms` and counts it; an `intervene` row of an enrolled session remembers its id for
    /// `out` frames. Draws nothing.
    pub fn restore(
        &mut self,
        tenant: usize,
        rule: &Arc<str>,
        row: &sentientiq_lake::ActionRow,
        enrolled: &mut Vec<Enrolment>,
        recv_ms: u64,
    ) {
        if let Some(json) = &row.assignment
            && !enrolled.iter().any(|e| e.rule == *rule)
            && let Ok(r) = serde_json::from_str::<AssignmentRecord>(json)
        {
            let exposure =
                Exposure::start(r.assignment.arm, recv_ms, self.counts_mut(tenant, rule));
            enrolled.push(Enrolment {
                rule: rule.clone(),
                exposure,
                shown: Vec::new(),
            });
        }
        if row.action == "intervene"
            && let Some(n) = row.id.strip_prefix('i').and_then(|n| n.parse::<u32>().ok())
            && let Some(e) = enrolled.iter_mut().find(|e| e.rule == *rule)
        {
            if e.shown.len() == MAX_SHOWN {
                e.shown.remove(0);
            }
            e.shown.push(n);
        }
    }

    /// A new frame of an enrolled session at `now_ms`: its outcome, counted. Returns the
    /// outcome (an index into [`crate::telemetry::EXPERIMENT_OUTCOMES`]) and how many of the session's enrolments counted it.
    pub fn outcome(
        &mut self,
        tenant_index: usize,
        tenant: &Tenant,
        enrolled: &mut [Enrolment],
        frame: &ClientFrame,
        now_ms: u64,
    ) -> (usize, usize) {
        if enrolled.is_empty() {
            return (0, 0);
        }
        // (the action it answers, if it must match one; the outcome)
        let (answers, outcome) = match frame {
            ClientFrame::Outcome(o) => {
                let n = o.iid.strip_prefix('i').and_then(|n| n.parse::<u32>().ok());
                match o.r {
                    OutcomeKind::Shown => (Some(n), Outcome::Shown),
                    OutcomeKind::Clicked => (Some(n), Outcome::Clicked),
                    OutcomeKind::Dismissed => (Some(n), Outcome::Dismissed),
                    OutcomeKind::Converted => (None, Outcome::Converted),
                }
            }
            ClientFrame::Track(tr) => {
                match sentientiq_core::identity::purchase_cents(tr)
                    .and_then(|c| u64::try_from(c).ok())
                {
                    Some(amount_cents) if amount_cents > 0 => {
                        (None, Outcome::Purchase { amount_cents })
                    }
                    _ => return (0, 0),
                }
            }
            _ => return (0, 0),
        };
        let label = match outcome {
            Outcome::Shown => 0,
            Outcome::Clicked => 1,
            Outcome::Dismissed => 2,
            Outcome::Converted => 3,
            Outcome::Purchase { .. } => 4,
        };
        let mut counted = 0;
        for e in enrolled.iter_mut() {
            if let Some(n) = answers
                && !n.is_some_and(|n| e.shown.contains(&n))
            {
                continue;
            }
            let Some(x) = tenant.experiments.get(&e.rule) else {
                continue;
            };
            let counts = self.counts_mut(tenant_index, &e.rule);
            if e.exposure.record(&x.experiment, now_ms, outcome, counts) == Recorded::Counted {
                counted += 1;
            }
        }
        (label, counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_experiments::ExperimentConfig;
    use sentientiq_proto::Seq;

    use crate::control::reports::tests::tenant;

    fn out(iid: &str, r: OutcomeKind) -> ClientFrame {
        ClientFrame::Outcome(sentientiq_proto::Outcome {
            seq: Seq(9),
            iid: iid.into(),
            r,
        })
    }

    #[test]
    fn a_session_is_assigned_once_and_replays_from_its_record() {
        let t = tenant(0.0);
        let rule: Arc<str> = Arc::from("help");
        let x = &t.experiments["help"];
        let mut lab = Lab::new(7, 0);
        let mut mine = Vec::new();
        let first = lab.enrol(0, &rule, x, &mut mine, 1, 1000);
        let Enrolled::Variant { index, record, .. } = first.clone() else {
            panic!("{first:?}")
        };
        let record = record.expect("the first action assigns");
        assert_eq!((record.seed, record.shard), (7, 0));
        // Replaying the recorded state and posterior gives the same decision.
        assert_eq!(
            record.assignment.replay(&x.experiment).expect("replay"),
            record.assignment
        );
        // The same session again: the same arm, no new assignment, not counted twice.
        let again = lab.enrol(0, &rule, x, &mut mine, 2, 2000);
        assert!(
            matches!(again, Enrolled::Variant { index: i, record: None, .. } if i == index),
            "{again:?}"
        );
        assert_eq!(lab.counts(0, "help").expect("counts").treated().sessions, 1);
        // The seed is what decides: the same seed and shard give the same stream.
        let mut other = Lab::new(7, 0);
        let Enrolled::Variant { record: r2, .. } = other.enrol(0, &rule, x, &mut Vec::new(), 1, 0)
        else {
            panic!("variant")
        };
        assert_eq!(
            r2.map(|r| r.assignment.rng_before),
            Some(record.assignment.rng_before)
        );
        // Another shard draws from another stream.
        let shard1 = Lab::new(7, 1);
        assert_ne!(shard1.rng.state(), Lab::new(7, 0).rng.state());
    }

    #[test]
    fn outcomes_count_once_per_session_inside_the_window() {
        let t = tenant(0.0);
        let rule: Arc<str> = Arc::from("help");
        let x = &t.experiments["help"];
        let mut lab = Lab::new(1, 0);
        let mut mine = Vec::new();
        let Enrolled::Variant { index, .. } = lab.enrol(0, &rule, x, &mut mine, 3, 10_000) else {
            panic!("variant")
        };
        let c = |lab: &Lab| lab.counts(0, "help").expect("counts").variants[usize::from(index)];
        // `shown` for another intervention's id is not this experiment's.
        assert_eq!(
            lab.outcome(0, &t, &mut mine, &out("i2", OutcomeKind::Shown), 11_000)
                .1,
            0
        );
        assert_eq!(
            lab.outcome(0, &t, &mut mine, &out("i3", OutcomeKind::Shown), 11_000)
                .1,
            1
        );
        assert_eq!(
            lab.outcome(0, &t, &mut mine, &out("i3", OutcomeKind::Shown), 12_000)
                .1,
            0
        );
        assert_eq!(
            lab.outcome(
                0,
                &t,
                &mut mine,
                &out("goal", OutcomeKind::Converted),
                13_000
            )
            .1,
            1
        );
        let buy = |amount: f64| {
            ClientFrame::Track(sentientiq_proto::Track {
                seq: Seq(10),
                name: "purchase".into(),
                props: vec![("amount".into(), sentientiq_proto::Value::Float(amount))],
            })
        };
        assert_eq!(lab.outcome(0, &t, &mut mine, &buy(12.5), 14_000).1, 1);
        assert_eq!(lab.outcome(0, &t, &mut mine, &buy(7.5), 15_000).1, 1);
        // After the window (60 s): not the intervention's doing.
        assert_eq!(lab.outcome(0, &t, &mut mine, &buy(100.0), 70_001).1, 0);
        let got = c(&lab);
        assert_eq!(
            (got.sessions, got.shown, got.conversions, got.revenue_cents),
            (1, 1, 1, 2000)
        );
        assert_eq!(got.revenue_sq, 2000 * 2000);
    }

    #[test]
    fn the_holdout_is_shown_nothing_but_its_conversions_count() {
        let t = tenant(0.5);
        let rule: Arc<str> = Arc::from("help");
        let x = &t.experiments["help"];
        let mut lab = Lab::new(3, 0);
        let (mut held, mut treated) = (0u64, 0u64);
        for s in 0..400u32 {
            let mut mine = Vec::new();
            match lab.enrol(0, &rule, x, &mut mine, 1, 1000) {
                Enrolled::Holdout { record } => {
                    held += 1;
                    assert!(record.is_some());
                    // Nothing was shown: `shown` is not applicable, a conversion is.
                    let _ = lab.outcome(0, &t, &mut mine, &out("i1", OutcomeKind::Shown), 2000);
                    if s % 4 == 0 {
                        lab.outcome(0, &t, &mut mine, &out("goal", OutcomeKind::Converted), 2000);
                    }
                }
                Enrolled::Variant { .. } => treated += 1,
                Enrolled::Off => panic!("enrolled"),
            }
        }
        let c = lab.counts(0, "help").expect("counts");
        assert_eq!((c.holdout.sessions, c.treated().sessions), (held, treated));
        assert_eq!(c.holdout.shown, 0);
        assert!(c.holdout.conversions > 0);
        // Half held out, within 4 standard deviations (σ = 10 at n = 400).
        assert!((160..=240).contains(&held), "{held}");
    }

    #[test]
    fn a_stopped_experiment_enrols_nobody() {
        let mut t = tenant(0.1);
        let x = Arc::get_mut(t.experiments.get_mut("help").expect("exp")).expect("unique");
        let mut c: ExperimentConfig = x.experiment.config().clone();
        c.variants.iter_mut().for_each(|v| v.paused = true);
        x.experiment = c.validate().expect("valid");
        let mut lab = Lab::new(1, 0);
        let mut mine = Vec::new();
        let r = lab.enrol(
            0,
            &Arc::from("help"),
            &t.experiments["help"],
            &mut mine,
            1,
            0,
        );
        assert_eq!(r, Enrolled::Off);
        assert!(mine.is_empty());
    }

    #[test]
    fn each_count_is_drained_once_and_drawn_once() {
        let t = tenant(0.0);
        let rule: Arc<str> = Arc::from("help");
        let x = &t.experiments["help"];
        let mut lab = Lab::new(5, 0);
        for _ in 0..3 {
            lab.enrol(0, &rule, x, &mut Vec::new(), 1, 0);
        }
        // Nothing from elsewhere yet: the draw is the shard's own three sessions.
        assert_eq!(lab.draw_counts(0, "help").treated().sessions, 3);
        let d = lab.drain();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].0, d[0].2.treated().sessions), (0, 3));
        assert!(lab.drain().is_empty(), "nothing new, nothing drained");
        // Drained and not yet back in the base: the draw misses them for at most a tick...
        assert_eq!(lab.draw_counts(0, "help").treated().sessions, 0);
        // ...until the edge hands back everyone's counts (these three, and 40 from elsewhere).
        let mut base = d[0].2;
        base.variants[0].sessions += 40;
        lab.set_base(0, &rule, base);
        lab.enrol(0, &rule, x, &mut Vec::new(), 1, 0);
        assert_eq!(lab.draw_counts(0, "help").treated().sessions, 44);
        assert_eq!(lab.drain()[0].2.treated().sessions, 1);
        // A recovery's rebuilt counts are settled: never drained again.
        lab.enrol(0, &rule, x, &mut Vec::new(), 1, 0);
        lab.settle();
        assert!(lab.drain().is_empty());
        assert_eq!(lab.counts(0, "help").expect("counts").treated().sessions, 5);
    }
}
