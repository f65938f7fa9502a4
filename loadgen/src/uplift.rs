//! Personas that answer interventions with known conversion probabilities (`--uplift`, issue 17,
//! "Interventions that learn"): the truth an experiment's figures are checked against.
//!
//! `--uplift holdout=0.05,chat=0.08,offer=0.06` gives each arm's probability of conversion: a
//! variant's (the `iv` frame's `variant`) for a session shown it, and the baseline's
//! ([`BASELINE_KEYS`]) for a session that qualified (its script injected an episode of a
//! qualifying emotion, [`Uplift::emotions`]) and was shown nothing. Each session draws one
//! uniform number from its own seeded stream ([`Responder::new`]) and converts if it is below its
//! arm's probability, so the same seed gives the same conversions, and a session's outcome
//! depends only on its arm.
//!
//! The arm a session reached is the loadgen's own view: the variant of the first `iv` it got,
//! else the baseline if its script qualified, else neither. Its outcome frames — `out shown` for
//! every `iv` (as the SDK reports each display) and `out converted` when it converts — are sent
//! after its scripted frames have all been acked (so every `iv` they caused has arrived: the edge
//! delivers a frame's `iv` before its ack), before the session closes, numbered on from the last
//! scripted seq. The scripted frames keep the seqs they have without `--uplift`, so detections and
//! their `at` are unchanged (the core ignores `out` frames), and the edge counts the conversion
//! inside the experiment's attribution window (a session lasts far less than its 30-minute
//! default).

use std::collections::BTreeMap;

use sentientiq_proto::{ClientFrame, Outcome, OutcomeKind, Seq};

use crate::rng::Rng;
use crate::synth::PlacedEpisode;

/// The keys naming the baseline: the probability of a qualifying session shown nothing (the
/// experiment's holdout). Either spelling; not both.
pub const BASELINE_KEYS: [&str; 2] = ["holdout", "none"];

/// At most this many entries: an experiment has at most 8 variants
/// (`sentientiq_experiments::MAX_VARIANTS`), plus the baseline.
pub const MAX_ENTRIES: usize = 9;

/// A variant id is at most this long (as the experiments crate's `MAX_ID_BYTES`).
pub const MAX_ID_BYTES: usize = 64;

/// `iv` ids a session remembers for `out shown` (as the edge remembers per enrolment): a rule
/// acts at most once per cooldown, so a session rarely gets more.
pub const MAX_SHOWN: usize = 16;

/// Salt of the sessions' conversion streams (independent of their motion and identity).
const SALT: u64 = 0x7570_6c69_6674_0017;

/// Why `--uplift` was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UpliftError {
    #[error("--uplift is empty: give holdout=P and at least one VARIANT=P")]
    Empty,
    #[error("--uplift entry `{0}` is not KEY=PROBABILITY")]
    NotPair(String),
    #[error("--uplift `{key}`: `{value}` is not a probability (a number from 0 to 1, e.g. 0.05)")]
    BadProbability { key: String, value: String },
    #[error(
        "--uplift `{0}`: a variant id is 1 to {MAX_ID_BYTES} bytes of a-z A-Z 0-9 _ - . : (as the tenant's experiment names it)"
    )]
    BadId(String),
    #[error("--uplift names `{0}` twice")]
    Duplicate(String),
    #[error("--uplift gives the baseline twice (`holdout` and `none` are the same arm)")]
    TwoBaselines,
    #[error(
        "--uplift needs the baseline: holdout=P, the conversion probability of a qualifying session shown nothing"
    )]
    NoBaseline,
    #[error("--uplift needs at least one VARIANT=P besides the baseline")]
    NoVariant,
    #[error(
        "--uplift has {0} entries; at most {MAX_ENTRIES} (an experiment's 8 variants and the baseline)"
    )]
    TooMany(usize),
    #[error(
        "--uplift-emotion `{0}` is not an emotion (rage, frustration, hesitation, confusion, abandonment)"
    )]
    BadEmotion(String),
}

/// The injected truth: each arm's conversion probability, and which sessions qualify.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplift {
    /// The key the baseline was given as (`holdout` or `none`), for the report.
    pub baseline_key: &'static str,
    pub baseline: f64,
    /// (variant id, probability), in the order given.
    pub variants: Vec<(String, f64)>,
    /// Emotions whose injected episode makes a session qualify; empty: any episode.
    pub emotions: Vec<&'static str>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

impl Uplift {
    /// Parses `holdout=0.05,chat=0.08,offer=0.06` (entries separated by commas, blanks around
    /// them ignored).
    pub fn parse(s: &str) -> Result<Uplift, UpliftError> {
        let entries: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(UpliftError::Empty);
        }
        if entries.len() > MAX_ENTRIES {
            return Err(UpliftError::TooMany(entries.len()));
        }
        let mut baseline: Option<(&'static str, f64)> = None;
        let mut variants: Vec<(String, f64)> = Vec::new();
        for part in entries {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| UpliftError::NotPair(part.to_string()))?;
            let (key, value) = (key.trim(), value.trim());
            let p = value
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && (0.0..=1.0).contains(p))
                .ok_or_else(|| UpliftError::BadProbability {
                    key: key.to_string(),
                    value: value.to_string(),
                })?;
            if let Some(b) = BASELINE_KEYS.iter().find(|b| **b == key) {
                match baseline {
                    Some((k, _)) if k == *b => return Err(UpliftError::Duplicate(key.to_string())),
                    Some(_) => return Err(UpliftError::TwoBaselines),
                    None => baseline = Some((b, p)),
                }
                continue;
            }
            if !valid_id(key) {
                return Err(UpliftError::BadId(key.to_string()));
            }
            if variants.iter().any(|(v, _)| v == key) {
                return Err(UpliftError::Duplicate(key.to_string()));
            }
            variants.push((key.to_string(), p));
        }
        let (baseline_key, baseline) = baseline.ok_or(UpliftError::NoBaseline)?;
        if variants.is_empty() {
            return Err(UpliftError::NoVariant);
        }
        Ok(Uplift {
            baseline_key,
            baseline,
            variants,
            emotions: Vec::new(),
        })
    }

    /// Only sessions with an injected episode of one of `emotions` qualify (none given: any
    /// episode).
    pub fn with_emotions<S: AsRef<str>>(mut self, emotions: &[S]) -> Result<Uplift, UpliftError> {
        let mut v = Vec::new();
        for e in emotions {
            let e = e.as_ref().trim();
            let k = crate::truth::EMOTIONS
                .iter()
                .copied()
                .find(|k| *k == e)
                .ok_or_else(|| UpliftError::BadEmotion(e.to_string()))?;
            if !v.contains(&k) {
                v.push(k);
            }
        }
        self.emotions = v;
        Ok(self)
    }

    /// The injected probability of `variant`, if `--uplift` names it.
    pub fn p(&self, variant: &str) -> Option<f64> {
        self.variants
            .iter()
            .find(|(v, _)| v == variant)
            .map(|(_, p)| *p)
    }

    /// Whether a session whose script placed `episodes` qualifies for the experiment.
    pub fn qualifies(&self, episodes: &[PlacedEpisode]) -> bool {
        episodes
            .iter()
            .any(|e| self.emotions.is_empty() || self.emotions.contains(&e.emotion))
    }
}

/// The arm a session reached, as the loadgen saw it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// It got this variant's `iv` (its first `iv`).
    Variant(String),
    /// It qualified and got no `iv`.
    Baseline,
    /// It did not qualify and got no `iv`: not in the experiment as far as the truth goes.
    Neither,
}

/// One session's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    /// The session's index in the run (its sid is [`crate::run::sid_of`]).
    pub session: usize,
    pub arm: Seen,
    /// Its script injected a qualifying episode.
    pub qualified: bool,
    /// It was to convert (its draw fell below its arm's probability).
    pub converts: bool,
    /// Its outcome frames were sent and acked by the edge (false when its scripted frames were
    /// never all acked, or it gave up: then it sent no conversion).
    pub sent: bool,
    /// `iv` frames it got.
    pub ivs: usize,
    /// `out shown` frames among its outcome frames (one per distinct `iv` id remembered).
    pub shown: usize,
}

/// One session's responses to interventions.
#[derive(Debug, Clone)]
pub struct Responder {
    session: usize,
    /// The session's uniform draw in [0, 1): it converts when below its arm's probability.
    u: f64,
    /// The variant of its first `iv`.
    variant: Option<String>,
    /// Ids of the `iv` frames it got (the newest [`MAX_SHOWN`]).
    shown: Vec<String>,
    ivs: usize,
}

impl Responder {
    /// Session `i` of run `seed`: its draw comes from its own stream, so it is the same whatever
    /// else the run does.
    pub fn new(seed: u64, i: usize) -> Responder {
        Responder {
            session: i,
            u: Rng::stream(seed ^ SALT, i as u64).f64(),
            variant: None,
            shown: Vec::new(),
            ivs: 0,
        }
    }

    /// An `iv` arrived.
    pub fn on_iv(&mut self, id: &str, variant: &str) {
        self.ivs += 1;
        if self.variant.is_none() {
            self.variant = Some(variant.to_string());
        }
        if self.shown.iter().any(|s| s == id) {
            return;
        }
        if self.shown.len() == MAX_SHOWN {
            self.shown.remove(0);
        }
        self.shown.push(id.to_string());
    }

    /// The session's arm and whether it converts, given whether its script qualified.
    pub fn decide(&self, uplift: &Uplift, qualified: bool) -> (Seen, bool) {
        match &self.variant {
            Some(v) => {
                let p = uplift.p(v).unwrap_or(0.0);
                (Seen::Variant(v.clone()), self.u < p)
            }
            None if qualified => (Seen::Baseline, self.u < uplift.baseline),
            None => (Seen::Neither, false),
        }
    }

    /// The outcome frames to send once the script is over, numbered from `first_seq`: `out
    /// shown` per `iv`, then `out converted` (answering the first `iv`, or `goal` for the
    /// baseline) if the session converts; and its outcome (`sent` still false).
    pub fn finish(
        &self,
        uplift: &Uplift,
        qualified: bool,
        first_seq: u64,
    ) -> (Vec<ClientFrame>, SessionOutcome) {
        let (arm, converts) = self.decide(uplift, qualified);
        let mut frames = Vec::new();
        let mut seq = first_seq;
        for id in &self.shown {
            frames.push(ClientFrame::Outcome(Outcome {
                seq: Seq(seq),
                iid: id.clone(),
                r: OutcomeKind::Shown,
            }));
            seq += 1;
        }
        if converts {
            frames.push(ClientFrame::Outcome(Outcome {
                seq: Seq(seq),
                iid: self.shown.first().cloned().unwrap_or_else(|| "goal".into()),
                r: OutcomeKind::Converted,
            }));
        }
        let outcome = SessionOutcome {
            session: self.session,
            arm,
            qualified,
            converts,
            sent: false,
            ivs: self.ivs,
            shown: self.shown.len(),
        };
        (frames, outcome)
    }
}

/// Sessions and conversions of one arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArmTally {
    /// Sessions that reached the arm.
    pub sessions: u64,
    /// Conversions sent (`out converted` sent and acked).
    pub conversions: u64,
    /// Sessions whose outcome frames could not be sent.
    pub unsent: u64,
}

impl ArmTally {
    /// Conversions sent / sessions.
    pub fn rate(&self) -> Option<f64> {
        (self.sessions > 0).then(|| self.conversions as f64 / self.sessions as f64)
    }
}

/// The run's experiment truth: what was injected and what the sessions did.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub uplift: Uplift,
    pub baseline: ArmTally,
    /// Per variant seen (those `--uplift` does not name too: they never convert).
    pub variants: BTreeMap<String, ArmTally>,
    /// Sessions neither shown anything nor qualifying.
    pub neither: u64,
    /// `out shown` frames sent.
    pub shown_sent: u64,
    /// Every session's outcome, in the order sessions ended.
    pub sessions: Vec<SessionOutcome>,
}

impl Tally {
    pub fn new(uplift: Uplift) -> Tally {
        let variants = uplift
            .variants
            .iter()
            .map(|(v, _)| (v.clone(), ArmTally::default()))
            .collect();
        Tally {
            uplift,
            baseline: ArmTally::default(),
            variants,
            neither: 0,
            shown_sent: 0,
            sessions: Vec::new(),
        }
    }

    /// Records a session's outcome.
    pub fn add(&mut self, o: SessionOutcome) {
        let arm = match &o.arm {
            Seen::Variant(v) => Some(self.variants.entry(v.clone()).or_default()),
            Seen::Baseline => Some(&mut self.baseline),
            Seen::Neither => {
                self.neither += 1;
                None
            }
        };
        if let Some(a) = arm {
            a.sessions += 1;
            if o.sent && o.converts {
                a.conversions += 1;
            }
            if !o.sent {
                a.unsent += 1;
            }
        }
        if o.sent {
            self.shown_sent += o.shown as u64;
        }
        self.sessions.push(o);
    }

    /// The injected true uplift of each variant named by `--uplift` against the baseline
    /// (absolute: p_variant − p_baseline).
    pub fn true_uplift(&self) -> Vec<(String, f64)> {
        self.uplift
            .variants
            .iter()
            .map(|(v, p)| (v.clone(), p - self.uplift.baseline))
            .collect()
    }

    /// The pooled treatment's injected probability: the variants' probabilities weighted by
    /// how many sessions each got (variants `--uplift` does not name count with 0); `None`
    /// when no session was shown anything.
    pub fn pooled_p(&self) -> Option<f64> {
        let n: u64 = self.variants.values().map(|a| a.sessions).sum();
        (n > 0).then(|| {
            self.variants
                .iter()
                .map(|(v, a)| a.sessions as f64 * self.uplift.p(v).unwrap_or(0.0))
                .sum::<f64>()
                / n as f64
        })
    }

    /// The pooled treatment's injected uplift against the baseline.
    pub fn pooled_true_uplift(&self) -> Option<f64> {
        self.pooled_p().map(|p| p - self.uplift.baseline)
    }

    /// Conversions sent / sessions over every variant (the realized pooled treatment).
    pub fn pooled_rate(&self) -> Option<f64> {
        let (n, c) = self
            .variants
            .values()
            .fold((0, 0), |(n, c), a| (n + a.sessions, c + a.conversions));
        (n > 0).then(|| c as f64 / n as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_parses_arms_in_order() {
        let u = Uplift::parse(" holdout=0.05, chat=0.08,offer=0.06,").expect("valid");
        assert_eq!(u.baseline_key, "holdout");
        assert_eq!(u.baseline, 0.05);
        assert_eq!(
            u.variants,
            vec![("chat".to_string(), 0.08), ("offer".to_string(), 0.06)]
        );
        assert_eq!(u.p("chat"), Some(0.08));
        assert_eq!(u.p("nope"), None);
        let u = Uplift::parse("offer-10=1,none=0").expect("valid");
        assert_eq!((u.baseline_key, u.baseline), ("none", 0.0));
        assert_eq!(u.p("offer-10"), Some(1.0));
    }

    #[test]
    fn the_flag_refuses_what_it_cannot_mean() {
        use UpliftError::*;
        let e = |s: &str| Uplift::parse(s).expect_err(s);
        assert_eq!(e(""), Empty);
        assert_eq!(e(" , "), Empty);
        assert_eq!(e("holdout=0.1,chat"), NotPair("chat".into()));
        for bad in ["1.01", "-0.1", "NaN", "inf", "x", ""] {
            assert_eq!(
                e(&format!("holdout=0.1,chat={bad}")),
                BadProbability {
                    key: "chat".into(),
                    value: bad.into()
                },
                "{bad}"
            );
        }
        assert_eq!(
            e("holdout=2,chat=0.1"),
            BadProbability {
                key: "holdout".into(),
                value: "2".into()
            }
        );
        assert_eq!(e("holdout=0.1,chat=0.2,chat=0.3"), Duplicate("chat".into()));
        assert_eq!(
            e("holdout=0.1,holdout=0.2,chat=0.3"),
            Duplicate("holdout".into())
        );
        assert_eq!(e("holdout=0.1,none=0.2,chat=0.3"), TwoBaselines);
        assert_eq!(e("chat=0.1,offer=0.2"), NoBaseline);
        assert_eq!(e("holdout=0.1"), NoVariant);
        assert_eq!(e("holdout=0.1,=0.2"), BadId(String::new()));
        assert_eq!(e("holdout=0.1,a b=0.2"), BadId("a b".into()));
        let long = "v".repeat(MAX_ID_BYTES + 1);
        assert_eq!(e(&format!("holdout=0.1,{long}=0.2")), BadId(long.clone()));
        assert!(Uplift::parse(&format!("holdout=0.1,{}=0.2", &long[1..])).is_ok());
        // Every message names the flag.
        for s in ["", "holdout=0.1", "chat=0.1", "holdout=0.1,chat=2"] {
            assert!(e(s).to_string().contains("--uplift"), "{}", e(s));
        }
    }

    #[test]
    fn the_number_of_entries_is_capped() {
        let flag = |n: usize| {
            let mut s = "holdout=0.05".to_string();
            for i in 1..n {
                s += &format!(",v{i}=0.1");
            }
            s
        };
        assert_eq!(
            Uplift::parse(&flag(MAX_ENTRIES - 1))
                .expect("cap - 1")
                .variants
                .len(),
            MAX_ENTRIES - 2
        );
        assert_eq!(
            Uplift::parse(&flag(MAX_ENTRIES))
                .expect("cap")
                .variants
                .len(),
            MAX_ENTRIES - 1
        );
        assert_eq!(
            Uplift::parse(&flag(MAX_ENTRIES + 1)),
            Err(UpliftError::TooMany(MAX_ENTRIES + 1))
        );
    }

    fn ep(emotion: &'static str) -> PlacedEpisode {
        PlacedEpisode {
            emotion,
            start_seq: 1,
            done_seq: 2,
            end_us: 0,
        }
    }

    #[test]
    fn qualifying_episodes_are_any_or_the_named_emotions() {
        let u = Uplift::parse("holdout=0.1,chat=0.2").expect("valid");
        assert!(u.qualifies(&[ep("confusion")]));
        assert!(!u.qualifies(&[]));
        let u = u.with_emotions(&["rage", "rage"]).expect("emotions");
        assert_eq!(u.emotions, vec!["rage"]);
        assert!(u.qualifies(&[ep("confusion"), ep("rage")]));
        assert!(!u.qualifies(&[ep("confusion")]));
        assert_eq!(
            u.with_emotions(&["anger"]),
            Err(UpliftError::BadEmotion("anger".into()))
        );
    }

    #[test]
    fn responses_are_seeded_per_session_and_follow_the_arm() {
        let u = Uplift::parse("holdout=0.05,chat=0.5,offer=0").expect("valid");
        // The same seed and session: the same draw, whatever happened before.
        let a = Responder::new(3, 17);
        assert_eq!(a.u, Responder::new(3, 17).u);
        assert_ne!(a.u, Responder::new(3, 18).u);
        assert_ne!(a.u, Responder::new(4, 17).u);
        // An `iv`: `out shown` for each (a repeat once), then `converted` answering the first.
        let mut r = Responder::new(1, 0);
        r.u = 0.3;
        r.on_iv("i4", "chat");
        r.on_iv("i9", "offer");
        r.on_iv("i9", "offer");
        let (frames, o) = r.finish(&u, false, 41);
        assert_eq!(
            (o.arm.clone(), o.converts, o.ivs),
            (Seen::Variant("chat".into()), true, 3)
        );
        let out = |seq: u64, iid: &str, r: OutcomeKind| {
            ClientFrame::Outcome(Outcome {
                seq: Seq(seq),
                iid: iid.into(),
                r,
            })
        };
        assert_eq!(
            frames,
            vec![
                out(41, "i4", OutcomeKind::Shown),
                out(42, "i9", OutcomeKind::Shown),
                out(43, "i4", OutcomeKind::Converted),
            ]
        );
        // Above the variant's probability: shown, not converted.
        r.u = 0.5;
        let (frames, o) = r.finish(&u, true, 1);
        assert_eq!((frames.len(), o.converts), (2, false));
        // No `iv`: the baseline if the script qualified, else nothing at all.
        let mut r = Responder::new(1, 0);
        r.u = 0.04;
        let (frames, o) = r.finish(&u, true, 7);
        assert_eq!((o.arm, o.converts), (Seen::Baseline, true));
        assert_eq!(frames, vec![out(7, "goal", OutcomeKind::Converted)]);
        let (frames, o) = r.finish(&u, false, 7);
        assert_eq!((o.arm, o.converts, frames.len()), (Seen::Neither, false, 0));
        // A variant `--uplift` does not name never converts.
        let mut r = Responder::new(1, 0);
        r.u = 0.0;
        r.on_iv("i1", "mystery");
        assert_eq!(r.decide(&u, true), (Seen::Variant("mystery".into()), false));
        // Remembered ids are bounded.
        let mut r = Responder::new(1, 0);
        for i in 0..MAX_SHOWN + 3 {
            r.on_iv(&format!("i{i}"), "chat");
        }
        assert_eq!(r.shown.len(), MAX_SHOWN);
        assert_eq!(r.shown[0], "i3");
        assert_eq!(r.ivs, MAX_SHOWN + 3);
    }

    #[test]
    fn realized_rates_converge_on_the_injected_ones() {
        // 20 000 sessions per arm through the responder: each arm's realized rate is within
        // 4 standard deviations of its probability, deterministically for the seed.
        let u = Uplift::parse("holdout=0.05,chat=0.08,offer=0.06").expect("valid");
        let mut t = Tally::new(u.clone());
        for i in 0..60_000 {
            let mut r = Responder::new(9, i);
            match i % 3 {
                0 => r.on_iv("i1", "chat"),
                1 => r.on_iv("i1", "offer"),
                _ => {}
            }
            let (_, mut o) = r.finish(&u, true, 1);
            o.sent = true;
            t.add(o);
        }
        for (arm, p) in [
            (t.baseline, 0.05_f64),
            (t.variants["chat"], 0.08),
            (t.variants["offer"], 0.06),
        ] {
            assert_eq!(arm.sessions, 20_000);
            let rate = arm.rate().expect("sessions");
            let sd = (p * (1.0 - p) / 20_000.0).sqrt();
            assert!((rate - p).abs() < 4.0 * sd, "{rate} vs {p}");
        }
        let up = t.true_uplift();
        assert_eq!(up[0].0, "chat");
        assert!((up[0].1 - 0.03).abs() < 1e-12 && (up[1].1 - 0.01).abs() < 1e-12);
        // Pooled: weighted by sessions (equal here), 7 % − 5 %.
        assert!((t.pooled_true_uplift().expect("pooled") - 0.02).abs() < 1e-12);
        assert!(t.pooled_rate().is_some());
        assert_eq!(t.neither, 0);
        assert_eq!(t.shown_sent, 40_000);
    }

    #[test]
    fn the_pooled_truth_is_weighted_by_sessions_and_unsent_sessions_count_no_conversion() {
        let u = Uplift::parse("holdout=0.1,a=0.2,b=0.5").expect("valid");
        let mut t = Tally::new(u);
        assert_eq!(t.pooled_p(), None);
        let o = |arm: Seen, converts: bool, sent: bool| SessionOutcome {
            session: 0,
            arm,
            qualified: true,
            converts,
            sent,
            ivs: 1,
            shown: 1,
        };
        for _ in 0..3 {
            t.add(o(Seen::Variant("a".into()), true, true));
        }
        t.add(o(Seen::Variant("b".into()), true, false));
        t.add(o(Seen::Neither, false, true));
        // (3 × 0.2 + 1 × 0.5) / 4 = 0.275.
        assert!((t.pooled_p().expect("pooled") - 0.275).abs() < 1e-12);
        assert!((t.pooled_true_uplift().expect("pooled") - 0.175).abs() < 1e-12);
        assert_eq!(
            t.variants["b"],
            ArmTally {
                sessions: 1,
                conversions: 0,
                unsent: 1
            }
        );
        assert_eq!(t.variants["a"].conversions, 3);
        assert_eq!(t.neither, 1);
        assert_eq!(t.pooled_rate(), Some(0.75));
    }
}
