//! Scoring detections against the ground truth the generator injected.
//!
//! A detection of emotion E whose `at` (the frame that completed the edge's evidence) falls
//! within an injected E episode's frames — from the frame holding its first event to
//! [`GRACE_FRAMES`] frames after the one holding its completing event — is a true positive for
//! that episode. A second detection of an episode already matched (the edge re-detects a rage
//! chain once when it reaches the escalation confidence) is counted as a repeat, neither true
//! nor false. Any other detection is false. An episode with no detection is missed.

use std::collections::BTreeMap;

use crate::synth::{Persona, PlacedEpisode};

/// Frames after the completing one in which its detection may still arrive (hesitation is
/// decided when the pointer stops, a frame or two after it arrives).
pub const GRACE_FRAMES: u64 = 8;

/// The emotions the edge reports, in report order.
pub const EMOTIONS: [&str; 5] = [
    "rage",
    "frustration",
    "hesitation",
    "confusion",
    "abandonment",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub missed: u64,
    pub repeats: u64,
}

impl Counts {
    /// `None` when there was nothing to measure.
    pub fn precision(&self) -> Option<f64> {
        let d = self.tp + self.fp;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }

    pub fn recall(&self) -> Option<f64> {
        let d = self.tp + self.missed;
        (d > 0).then(|| self.tp as f64 / d as f64)
    }
}

/// Escalations against the episodes that must page a person: every rage episode of an
/// identified high-value session (each is a burst on an element that did not respond, which the
/// SDK reports), and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Escalations {
    /// Rage episodes of identified sessions.
    pub expected: u64,
    /// Of those, escalated.
    pub escalated: u64,
    /// Further escalations of an episode already escalated.
    pub repeats: u64,
    /// Escalations of anything else in identified sessions.
    pub unexpected: u64,
    /// Escalations in anonymous sessions: must be none.
    pub anonymous: u64,
}

impl Escalations {
    /// Escalated / expected (`None` when nothing was expected).
    pub fn recall(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.escalated as f64 / self.expected as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub by_emotion: BTreeMap<&'static str, Counts>,
    /// False detections in calm sessions, and how long calm sessions ran.
    pub calm_false: u64,
    pub calm_seconds: f64,
    /// False detections by (persona of the session, emotion detected): where they come from.
    pub false_by_persona: BTreeMap<(&'static str, &'static str), u64>,
    pub escalations: Escalations,
}

fn emotion_key(e: &str) -> Option<&'static str> {
    EMOTIONS.iter().copied().find(|k| *k == e)
}

impl Score {
    /// Scores one session: its persona, the episodes it completed, the detections it received
    /// as (emotion, at seq), and how long it ran.
    pub fn add_session(
        &mut self,
        persona: Persona,
        episodes: &[PlacedEpisode],
        dets: &[(String, u64)],
        seconds: f64,
    ) {
        let mut matched = vec![false; episodes.len()];
        for (e, at) in dets {
            let Some(key) = emotion_key(e) else {
                continue;
            };
            let hit = episodes.iter().enumerate().find(|(_, ep)| {
                ep.emotion == key && ep.start_seq <= *at && *at <= ep.done_seq + GRACE_FRAMES
            });
            let c = self.by_emotion.entry(key).or_default();
            match hit {
                Some((i, _)) if !matched[i] => {
                    matched[i] = true;
                    c.tp += 1;
                }
                Some(_) => c.repeats += 1,
                None => {
                    c.fp += 1;
                    *self
                        .false_by_persona
                        .entry((persona.name(), key))
                        .or_default() += 1;
                    if persona == Persona::Calm {
                        self.calm_false += 1;
                    }
                }
            }
        }
        for (ep, m) in episodes.iter().zip(&matched) {
            if !m && let Some(key) = emotion_key(ep.emotion) {
                self.by_emotion.entry(key).or_default().missed += 1;
            }
        }
        if persona == Persona::Calm {
            self.calm_seconds += seconds;
        }
    }

    /// Scores one session's escalations, given as (emotion, `at` seq of the detection that
    /// escalated), against its episodes: in an identified session each rage episode must be
    /// escalated once (matched as detections are); an anonymous session must have none.
    pub fn add_escalations(
        &mut self,
        identified: bool,
        episodes: &[PlacedEpisode],
        escalated: &[(String, u64)],
    ) {
        let e = &mut self.escalations;
        if !identified {
            e.anonymous += escalated.len() as u64;
            return;
        }
        let mut matched = vec![false; episodes.len()];
        e.expected += episodes.iter().filter(|ep| ep.emotion == "rage").count() as u64;
        for (emotion, at) in escalated {
            let hit = episodes.iter().position(|ep| {
                ep.emotion == "rage"
                    && emotion == "rage"
                    && ep.start_seq <= *at
                    && *at <= ep.done_seq + GRACE_FRAMES
            });
            match hit {
                Some(i) if !matched[i] => {
                    matched[i] = true;
                    e.escalated += 1;
                }
                Some(_) => e.repeats += 1,
                None => e.unexpected += 1,
            }
        }
    }

    /// False detections per calm session-hour (`None` without calm sessions).
    pub fn false_per_calm_hour(&self) -> Option<f64> {
        (self.calm_seconds > 0.0).then(|| self.calm_false as f64 / (self.calm_seconds / 3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(emotion: &'static str, start_seq: u64, done_seq: u64) -> PlacedEpisode {
        PlacedEpisode {
            emotion,
            start_seq,
            done_seq,
            end_us: 0,
        }
    }

    #[test]
    fn detections_are_matched_to_episodes_by_emotion_and_frames() {
        let mut s = Score::default();
        let eps = [ep("rage", 5, 7), ep("rage", 40, 41)];
        let dets = vec![
            ("rage".to_string(), 7),                    // first episode: true
            ("rage".to_string(), 8),                    // same episode again: a repeat
            ("frustration".to_string(), 6),             // wrong emotion: false
            ("rage".to_string(), 7 + GRACE_FRAMES + 1), // outside both: false
        ];
        s.add_session(Persona::Rage, &eps, &dets, 60.0);
        let r = s.by_emotion["rage"];
        assert_eq!((r.tp, r.fp, r.missed, r.repeats), (1, 1, 1, 1));
        assert_eq!(s.by_emotion["frustration"].fp, 1);
        assert_eq!(r.precision(), Some(0.5));
        assert_eq!(r.recall(), Some(0.5));
        assert_eq!(s.calm_false, 0);
        assert_eq!(s.false_per_calm_hour(), None);
        // The grace window's last frame still counts; the first before the episode does not.
        let mut s = Score::default();
        s.add_session(
            Persona::Confused,
            &[ep("confusion", 3, 4)],
            &[("confusion".to_string(), 4 + GRACE_FRAMES)],
            1.0,
        );
        assert_eq!(s.by_emotion["confusion"].tp, 1);
        let mut s = Score::default();
        s.add_session(
            Persona::Confused,
            &[ep("confusion", 3, 4)],
            &[("confusion".to_string(), 2)],
            1.0,
        );
        assert_eq!(
            (
                s.by_emotion["confusion"].fp,
                s.by_emotion["confusion"].missed
            ),
            (1, 1)
        );
    }

    #[test]
    fn escalations_are_expected_for_identified_rage_episodes_only() {
        let eps = [
            ep("rage", 5, 7),
            ep("rage", 40, 41),
            ep("confusion", 60, 61),
        ];
        let mut s = Score::default();
        s.add_escalations(
            true,
            &eps,
            &[
                ("rage".into(), 7),       // first episode
                ("rage".into(), 8),       // again: a repeat
                ("confusion".into(), 60), // not to be escalated
                ("rage".into(), 20),      // outside every episode
            ],
        );
        let e = s.escalations;
        assert_eq!(
            (
                e.expected,
                e.escalated,
                e.repeats,
                e.unexpected,
                e.anonymous
            ),
            (2, 1, 1, 2, 0)
        );
        assert_eq!(e.recall(), Some(0.5));
        // Anonymous: nothing expected, anything escalated counted against the core.
        s.add_escalations(false, &eps, &[("rage".into(), 7)]);
        assert_eq!((s.escalations.expected, s.escalations.anonymous), (2, 1));
    }

    #[test]
    fn calm_false_detections_are_rated_per_session_hour() {
        let mut s = Score::default();
        s.add_session(Persona::Calm, &[], &[("hesitation".into(), 3)], 1800.0);
        s.add_session(Persona::Calm, &[], &[], 1800.0);
        assert_eq!(s.false_per_calm_hour(), Some(1.0));
        assert_eq!(s.by_emotion["hesitation"].precision(), Some(0.0));
        assert_eq!(s.by_emotion["hesitation"].recall(), None);
    }
}
