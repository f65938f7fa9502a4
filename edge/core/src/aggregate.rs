//! Mergeable per-(tenant, minute) aggregates, the inputs of the Emotional Volatility Index.
//!
//! Plain integer counters and sums: merging two windows adds them field by field, exactly (no
//! floating-point rounding that depends on the order of merging), so the aggregate of any
//! partition of the data (shards, edges, regions) merged equals the aggregate of the whole. A
//! session belongs to exactly one shard at a time, so `active_sessions` adds up too (a session
//! that reconnects to another region within one minute is counted by both).

use std::collections::BTreeMap;

use crate::Emotion;

/// One minute of one tenant, as seen by one shard (or merged).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WindowAgg {
    /// Minutes since the Unix epoch (server clock).
    pub minute: u64,
    /// Sessions that sent at least one accepted frame in this minute.
    pub active_sessions: u64,
    /// Detections per emotion (indexed by [`Emotion::index`]).
    pub detections: [u64; 5],
    /// Sum of detection confidences per emotion in thousandths (each confidence is rounded to
    /// 0.001 once, when it is counted): intensity.
    pub intensity_milli: [u64; 5],
    /// Lifetime value of sessions with a negative detection this minute, in cents (each
    /// session counted once per minute).
    pub value_at_risk_cents: i64,
    /// Sessions with at least one detection this minute.
    pub affected_sessions: u64,
    /// Usage (metering, issue 18), counted by the edge as it accepts, never on replay:
    /// sessions started (a session back from a tombstone is not new), accepted frames, the
    /// samples in their batches, billable events (each sample, and each frame that is not a
    /// batch), the frames' bytes, and interventions and escalations decided.
    pub usage: Usage,
}

/// The metered counts of a window (see [`WindowAgg::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub new_sessions: u64,
    pub frames: u64,
    pub samples: u64,
    pub events: u64,
    pub bytes: u64,
    pub interventions: u64,
    pub escalations: u64,
}

impl Usage {
    pub fn merge(&mut self, o: &Usage) {
        self.new_sessions += o.new_sessions;
        self.frames += o.frames;
        self.samples += o.samples;
        self.events += o.events;
        self.bytes += o.bytes;
        self.interventions += o.interventions;
        self.escalations += o.escalations;
    }
}

impl WindowAgg {
    pub fn merge(&mut self, o: &WindowAgg) {
        debug_assert_eq!(self.minute, o.minute);
        self.active_sessions += o.active_sessions;
        for i in 0..5 {
            self.detections[i] += o.detections[i];
            self.intensity_milli[i] += o.intensity_milli[i];
        }
        self.value_at_risk_cents = self
            .value_at_risk_cents
            .saturating_add(o.value_at_risk_cents);
        self.affected_sessions += o.affected_sessions;
        self.usage.merge(&o.usage);
    }

    pub fn total_detections(&self) -> u64 {
        self.detections.iter().sum()
    }
}

/// A confidence in [0, 1] as thousandths (NaN and out-of-range values are clamped).
pub fn milli(confidence: f64) -> u64 {
    if confidence.is_nan() {
        return 0;
    }
    (confidence.clamp(0.0, 1.0) * 1000.0).round() as u64
}

/// Open windows of one tenant on one shard, keyed by minute.
#[derive(Debug, Clone, Default)]
pub struct Aggregates {
    windows: BTreeMap<u64, WindowAgg>,
}

/// The billable events of an accepted frame (docs/METERING.md): each sample of a batch
/// (`samples`), or 1 for any other frame. What usage counts and quotas judge.
pub fn billable_events(samples: Option<u64>) -> u64 {
    samples.unwrap_or(1)
}

impl Aggregates {
    fn window(&mut self, minute: u64) -> &mut WindowAgg {
        self.windows.entry(minute).or_insert_with(|| WindowAgg {
            minute,
            ..WindowAgg::default()
        })
    }

    /// A session sent an accepted frame in `minute` (counted once per session and minute).
    pub fn active(&mut self, minute: u64) {
        self.window(minute).active_sessions += 1;
    }

    /// A detection of `e` with `confidence` in `minute`; `first_in_minute` when it is the
    /// session's first detection of the minute (then `value_cents` is at risk once).
    pub fn detection(
        &mut self,
        minute: u64,
        e: Emotion,
        confidence: f64,
        first_in_minute: bool,
        value_cents: i64,
    ) {
        let w = self.window(minute);
        w.detections[e.index()] += 1;
        w.intensity_milli[e.index()] += milli(confidence);
        if first_in_minute {
            w.affected_sessions += 1;
            w.value_at_risk_cents = w.value_at_risk_cents.saturating_add(value_cents);
        }
    }

    /// A session started in `minute` (metering).
    pub fn session_started(&mut self, minute: u64) {
        self.window(minute).usage.new_sessions += 1;
    }

    /// A frame of `bytes` was accepted in `minute`; `samples` if it is a batch (metering).
    pub fn accepted(&mut self, minute: u64, samples: Option<u64>, bytes: u64) {
        let u = &mut self.window(minute).usage;
        u.frames += 1;
        u.bytes += bytes;
        u.samples += samples.unwrap_or(0);
        u.events += billable_events(samples);
    }

    /// An intervention (or, `escalation`, an escalation) was decided in `minute` (metering).
    pub fn acted(&mut self, minute: u64, escalation: bool) {
        let u = &mut self.window(minute).usage;
        if escalation {
            u.escalations += 1;
        } else {
            u.interventions += 1;
        }
    }

    /// Removes and returns the windows of minutes before `now_minute` (closed ones).
    pub fn drain_closed(&mut self, now_minute: u64) -> Vec<WindowAgg> {
        let open = self.windows.split_off(&now_minute);
        std::mem::replace(&mut self.windows, open)
            .into_values()
            .collect()
    }

    pub fn get(&self, minute: u64) -> Option<&WindowAgg> {
        self.windows.get(&minute)
    }

    /// All open windows, oldest first.
    pub fn windows(&self) -> impl Iterator<Item = &WindowAgg> {
        self.windows.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_fieldwise_and_drain_keeps_open_minutes() {
        let mut a = Aggregates::default();
        a.active(10);
        a.detection(10, Emotion::Rage, 0.9, true, 5000);
        a.detection(10, Emotion::Rage, 0.6, false, 5000);
        a.active(11);
        let mut b = Aggregates::default();
        b.active(10);
        b.detection(10, Emotion::Confusion, 0.5, true, 100);
        let mut w = *a.get(10).expect("window");
        w.merge(b.get(10).expect("window"));
        assert_eq!(w.active_sessions, 2);
        assert_eq!(w.detections[Emotion::Rage.index()], 2);
        assert_eq!(w.total_detections(), 3);
        assert_eq!(w.value_at_risk_cents, 5100);
        assert_eq!(w.affected_sessions, 2);
        assert_eq!(w.intensity_milli[Emotion::Rage.index()], 1500);
        assert_eq!(w.intensity_milli[Emotion::Confusion.index()], 500);
        // Usage adds up alike.
        a.session_started(10);
        a.accepted(10, Some(12), 300);
        a.accepted(10, None, 40);
        a.acted(10, false);
        b.session_started(10);
        b.accepted(10, Some(3), 100);
        b.acted(10, true);
        let mut w = *a.get(10).expect("window");
        w.merge(b.get(10).expect("window"));
        assert_eq!(
            w.usage,
            Usage {
                new_sessions: 2,
                frames: 3,
                samples: 15,
                events: 16,
                bytes: 440,
                interventions: 1,
                escalations: 1,
            }
        );
        let closed = a.drain_closed(11);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].minute, 10);
        assert!(a.get(11).is_some());
    }
}
