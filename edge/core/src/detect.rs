//! Detectors: rage, frustration, hesitation, confusion, abandonment.
//!
//! Each detector keeps O(1) state, consumes the session's events in client time (µs), and when
//! its thresholds are crossed returns a [`Found`]: the emotion, the margin `M` of the evidence
//! over the thresholds (mapped to confidence by [`crate::confidence`]), and the evidence itself.
//! Every margin's terms are documented where it is computed. One episode gives one detection:
//! after an emotion is detected it is not detected again for `refractory_ms` (a rage chain may
//! be detected once more, when it grows past the escalation confidence).

use std::sync::Arc;

use crate::config::Thresholds;
use crate::physics::{GridPoint, Snapshot};
use crate::{Emotion, confidence};

/// The facts behind a detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Evidence {
    Rage {
        clicks: u32,
        span_ms: f64,
        mean_gap_ms: f64,
        max_dist_px: f64,
        confirmed_dead: bool,
    },
    Frustration {
        dead_clicks: u32,
        error_click_ms: Option<f64>,
    },
    Hesitation {
        returns: u32,
        span_ms: f64,
    },
    Confusion {
        reversals: u32,
        scroll_reversals: u32,
        entropy: f64,
        peak_speed: f64,
    },
    Abandonment {
        leave: bool,
        upward_speed: f64,
        hidden_in_checkout: bool,
    },
}

/// A detector's finding, before the session adds context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub emotion: Emotion,
    pub margin: f64,
    pub evidence: Evidence,
}

/// A detection, as the core emits it.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub emotion: Emotion,
    /// The tenant's contextual label for (emotion, section), if any.
    pub label: Option<Arc<str>>,
    pub confidence: f64,
    pub section: Option<Arc<str>>,
    pub page: Option<Arc<str>>,
    /// The seq of the frame whose sample completed the evidence, and the sample's index in it.
    pub at: sentientiq_proto::Seq,
    pub sample: u32,
    /// Client time of that sample, ms since the epoch.
    pub client_ms: i64,
    pub physics: Snapshot,
    pub evidence: Evidence,
    /// Per-session detection number, 1, 2, …
    pub n: u32,
    pub uid: Option<Arc<str>>,
    pub account: Option<Arc<str>>,
    pub value_cents: i64,
}

const MS: i64 = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Chain {
    count: u32,
    first_t: i64,
    last_t: i64,
    last: (f64, f64),
    gap_sum: i64,
    max_dist: f64,
    /// Every gap and distance within the OS multi-click limits so far.
    multi: bool,
    /// A `dead` report came for this chain: the clicks got no response.
    confirmed: bool,
    /// 0: not detected; 1: detected below escalation; 2: detected at or above it.
    fired: u8,
}

/// A small fixed ring of timestamps, for "N events within W" rules.
#[derive(Debug, Clone, Copy)]
struct Times<const N: usize> {
    t: [i64; N],
    n: usize,
}

impl<const N: usize> Default for Times<N> {
    fn default() -> Self {
        Times { t: [0; N], n: 0 }
    }
}

impl<const N: usize> Times<N> {
    fn push(&mut self, t: i64) {
        self.t[self.n % N] = t;
        self.n += 1;
    }
    /// Events in (now − window, now], counting back from the newest (at most N).
    fn within(&self, now: i64, window: i64) -> (u32, i64) {
        let mut count = 0;
        let mut oldest = now;
        for i in 0..self.n.min(N) {
            let t = self.t[(self.n - 1 - i) % N];
            if now - t > window {
                break;
            }
            count += 1;
            oldest = t;
        }
        (count, now - oldest)
    }
    fn clear(&mut self) {
        self.n = 0;
    }
}

/// A `leave` within this many px of the top of the viewport is through the top.
pub const EXIT_TOP_PX: f64 = 50.0;

/// "At least `n0` events within `window_ms` of `t`": the count and its margin
/// M = (n − n₀)/n₀ + ½·(1 − span / window) (more events, closer together), or `None`.
fn burst<const N: usize>(times: &Times<N>, t: i64, window_ms: u32, n0: u32) -> Option<(u32, f64)> {
    let window = i64::from(window_ms) * MS;
    let (count, span) = times.within(t, window);
    if count < n0 {
        return None;
    }
    let n0 = f64::from(n0);
    Some((
        count,
        (f64::from(count) - n0) / n0 + 0.5 * (1.0 - span as f64 / window as f64),
    ))
}

/// Stops remembered for hesitation.
const STOPS: usize = 8;

pub use crate::config::MAX_COUNT;

/// All detector state of one session.
#[derive(Debug, Clone, Default)]
pub struct Detectors {
    chain: Chain,
    dead: Times<MAX_COUNT>,
    last_click: Option<i64>,
    // thrash
    vx_sign: i8,
    peak_ax: f64,
    peak_speed: f64,
    reversals: Times<MAX_COUNT>,
    // scroll thrash
    last_scroll: Option<(i32, i32)>,
    scroll_sign: i8,
    scroll_rev: Times<MAX_COUNT>,
    // hesitation: recent stops, newest last
    stops: Times<STOPS>,
    stop_pos: [(f64, f64); STOPS],
    slow_since: Option<i64>,
    stopped: bool,
    // abandonment
    last_leave: Option<i64>,
    // refractory, per emotion
    last_fire: [Option<i64>; 5],
}

impl Detectors {
    fn refractory(&self, e: Emotion, t: i64, th: &Thresholds) -> bool {
        self.last_fire[e.index()].is_some_and(|f| t - f < i64::from(th.refractory_ms) * MS)
    }

    fn fire(&mut self, t: i64, f: Found) -> Option<Found> {
        self.last_fire[f.emotion.index()] = Some(t);
        Some(f)
    }

    /// A click (kind 3).
    pub fn click(&mut self, t: i64, x: f64, y: f64, th: &Thresholds) -> Option<Found> {
        self.last_click = Some(t);
        // Acting on the page ends any hesitation cycle.
        self.stops.clear();
        let c = &mut self.chain;
        let gap = t - c.last_t;
        let dist = (x - c.last.0).hypot(y - c.last.1);
        if c.count > 0
            && gap >= 0
            && gap <= i64::from(th.rage_gap_ms) * MS
            && dist <= th.rage_radius_px
        {
            c.count += 1;
            c.gap_sum += gap;
            c.max_dist = c.max_dist.max(dist);
            c.multi &= gap <= i64::from(th.multi_click_ms) * MS && dist <= th.multi_click_px;
        } else {
            *c = Chain {
                count: 1,
                first_t: t,
                last_t: t,
                last: (x, y),
                multi: true,
                ..Chain::default()
            };
        }
        c.last_t = t;
        c.last = (x, y);
        self.rage(t, th)
    }

    /// Rage margin, set on the Balabit calibration run (docs/CALIBRATION.md):
    ///
    /// M = 0.08·(n − n₀) + 0.15·(1 − mean gap / max gap) + 0.1·(1 − max distance / radius)
    ///   + 1.0·[a `dead` report confirmed the chain].
    ///
    /// Ordinary desktop work is full of long same-spot chains (steppers, "next" buttons,
    /// double-clicks in a row): chains of ≥ 6 clicks occur 4.6 times and of ≥ 15 clicks
    /// 0.98 times per active hour in the Balabit traces. Click count alone therefore reaches
    /// the default escalation level (0.85, M ≥ 1.2) only at about 15 tight clicks; a tight
    /// chain of 3 is c ≈ 0.61, of 6 ≈ 0.69. On the web the SDK's dead-click report is the
    /// discriminating evidence: 3 tight clicks that got no response reach c ≈ 0.86.
    fn rage(&mut self, t: i64, th: &Thresholds) -> Option<Found> {
        let c = self.chain;
        if c.count < th.rage_clicks {
            return None;
        }
        // An OS double/triple click (all within multi-click time and distance) is a selection
        // gesture until a further click or a dead report proves otherwise.
        if c.count <= 3 && c.multi && !c.confirmed {
            return None;
        }
        let mean_gap = c.gap_sum as f64 / f64::from(c.count - 1) / 1000.0;
        let m = 0.08 * f64::from(c.count - th.rage_clicks)
            + 0.15 * (1.0 - mean_gap / f64::from(th.rage_gap_ms)).max(0.0)
            + 0.1 * (1.0 - c.max_dist / th.rage_radius_px).max(0.0)
            + if c.confirmed { 1.0 } else { 0.0 };
        let escalates = confidence(m) >= th.escalation_confidence;
        let new_level = if escalates { 2 } else { 1 };
        if c.fired >= new_level {
            return None;
        }
        if c.fired == 0 && self.refractory(Emotion::Rage, t, th) {
            return None;
        }
        self.chain.fired = new_level;
        self.fire(
            t,
            Found {
                emotion: Emotion::Rage,
                margin: m,
                evidence: Evidence::Rage {
                    clicks: c.count,
                    span_ms: (c.last_t - c.first_t) as f64 / 1000.0,
                    mean_gap_ms: mean_gap,
                    max_dist_px: c.max_dist,
                    confirmed_dead: c.confirmed,
                },
            },
        )
    }

    /// A dead click report (kind 10): the SDK saw no response to a click.
    pub fn dead(&mut self, t: i64, x: f64, y: f64, th: &Thresholds) -> Option<Found> {
        // A dead report for the current chain confirms it: a held triple-click is rage after
        // all, and a detected chain may now reach the escalation level.
        let c = self.chain;
        if c.count >= th.rage_clicks
            && !c.confirmed
            && (x - c.last.0).hypot(y - c.last.1) <= th.rage_radius_px
            && t - c.last_t <= (i64::from(th.rage_gap_ms) + 1500) * MS
        {
            self.chain.confirmed = true;
            if let Some(f) = self.rage(t, th) {
                return Some(f);
            }
        }
        self.dead.push(t);
        if self.refractory(Emotion::Frustration, t, th) {
            return None;
        }
        let (count, m) = burst(&self.dead, t, th.dead_window_ms, th.dead_clicks)?;
        self.dead.clear();
        self.fire(
            t,
            Found {
                emotion: Emotion::Frustration,
                margin: m,
                evidence: Evidence::Frustration {
                    dead_clicks: count,
                    error_click_ms: None,
                },
            },
        )
    }

    /// A JS error report (kind 11).
    pub fn error(&mut self, t: i64, th: &Thresholds) -> Option<Found> {
        let click = self.last_click?;
        let dt = t - click;
        let limit = i64::from(th.error_click_ms) * MS;
        if dt < 0 || dt > limit || self.refractory(Emotion::Frustration, t, th) {
            return None;
        }
        // M = 1.2·(1 − dt / limit) + ½·(dead clicks in the window): an error right on the
        // click is strong evidence (M → 1.2, c → 0.85); one at the edge of the window is weak.
        let (dead, _) = self.dead.within(t, i64::from(th.dead_window_ms) * MS);
        let m = 1.2 * (1.0 - dt as f64 / limit as f64) + 0.5 * f64::from(dead);
        self.fire(
            t,
            Found {
                emotion: Emotion::Frustration,
                margin: m,
                evidence: Evidence::Frustration {
                    dead_clicks: dead,
                    error_click_ms: Some(dt as f64 / 1000.0),
                },
            },
        )
    }

    /// Text was copied: a held multi-click chain was a selection.
    pub fn copy(&mut self) {
        if self.chain.fired == 0 {
            self.chain = Chain::default();
        }
    }

    /// One grid point of the trajectory (thrash and stops).
    pub fn grid(&mut self, g: &GridPoint, th: &Thresholds, entropy: f64) -> Option<Found> {
        self.peak_ax = self.peak_ax.max(g.ax.abs());
        self.peak_speed = self.peak_speed.max(g.speed);
        // Stops for hesitation: slow for stop_ms.
        if g.speed < th.stop_speed {
            let since = *self.slow_since.get_or_insert(g.t);
            if !self.stopped && g.t - since >= i64::from(th.stop_ms) * MS {
                self.stopped = true;
            }
        } else {
            self.slow_since = None;
            if g.speed > 2.0 * th.stop_speed {
                self.stopped = false;
            }
        }
        if g.vx.abs() < th.thrash_min_speed {
            return None;
        }
        let sign: i8 = if g.vx > 0.0 { 1 } else { -1 };
        let prev = self.vx_sign;
        self.vx_sign = sign;
        // px/ms² → px/s²
        if prev == 0 || prev == sign || self.peak_ax < th.thrash_min_accel * 1e6 {
            if prev != sign {
                self.peak_ax = 0.0;
            }
            return None;
        }
        self.peak_ax = 0.0;
        self.reversals.push(g.t);
        let window = i64::from(th.thrash_window_ms) * MS;
        let (count, _) = self.reversals.within(g.t, window);
        if count < th.thrash_reversals || self.refractory(Emotion::Confusion, g.t, th) {
            return None;
        }
        // M = (n − n₀)/n₀ + ½·min(1, peak speed / min speed − 1) + ½·entropy:
        // more reversals, faster, and more erratic in direction → more confident.
        let n0 = f64::from(th.thrash_reversals);
        let m = (f64::from(count) - n0) / n0
            + 0.5 * (self.peak_speed / th.thrash_min_speed - 1.0).clamp(0.0, 1.0)
            + 0.5 * entropy;
        let peak_speed = self.peak_speed;
        self.reversals.clear();
        self.peak_speed = 0.0;
        self.fire(
            g.t,
            Found {
                emotion: Emotion::Confusion,
                margin: m,
                evidence: Evidence::Confusion {
                    reversals: count,
                    scroll_reversals: 0,
                    entropy,
                    peak_speed,
                },
            },
        )
    }

    /// A pointer sample for hesitation: registers stops (after a rest of `stop_ms`, or when the
    /// grid speed stayed slow that long) and counts approach–retreat cycles around the newest
    /// stop: walking the recent stops (within the window) in time order, each "far" stop
    /// (≥ excursion away) followed by a "near" one (≤ radius) is one return.
    pub fn pointer(
        &mut self,
        t: i64,
        x: f64,
        y: f64,
        rested_from: Option<(f64, f64)>,
        watched: bool,
        th: &Thresholds,
    ) -> Option<Found> {
        let stop_at = if let Some(p) = rested_from {
            Some(p)
        } else if self.stopped {
            self.stopped = false;
            // Re-arm only after the pointer moves on (hysteresis in `grid`).
            self.slow_since = None;
            Some((x, y))
        } else {
            None
        };
        let (sx, sy) = stop_at?;
        self.stop_pos[self.stops.n % STOPS] = (sx, sy);
        self.stops.push(t);
        let window = i64::from(th.hesitation_window_ms) * MS;
        let (count, span) = self.stops.within(t, window);
        // Oldest first.
        let mut returns = 0;
        let mut far_seen = false;
        let mut near_seen = false;
        for back in (1..count as usize).rev() {
            let p = self.stop_pos[(self.stops.n - 1 - back) % STOPS];
            let d = (p.0 - sx).hypot(p.1 - sy);
            if d <= th.hesitation_radius_px {
                if far_seen && near_seen {
                    returns += 1;
                }
                near_seen = true;
                far_seen = false;
            } else if d >= th.hesitation_excursion_px && near_seen {
                far_seen = true;
            }
        }
        if far_seen && near_seen {
            returns += 1;
        }
        if !watched
            || returns < th.hesitation_returns
            || self.refractory(Emotion::Hesitation, t, th)
        {
            return None;
        }
        // M = (r − r₀)/r₀ + ½·(1 − span / window): more returns, sooner.
        let r0 = f64::from(th.hesitation_returns);
        let m = (f64::from(returns) - r0) / r0 + 0.5 * (1.0 - span as f64 / window as f64);
        self.stops.clear();
        self.fire(
            t,
            Found {
                emotion: Emotion::Hesitation,
                margin: m,
                evidence: Evidence::Hesitation {
                    returns,
                    span_ms: span as f64 / 1000.0,
                },
            },
        )
    }

    /// A scroll sample (kind 4) with the page's scroll position.
    pub fn scroll(&mut self, t: i64, sx: i32, sy: i32, th: &Thresholds) -> Option<Found> {
        let prev = self.last_scroll.replace((sx, sy));
        let (_, py) = prev?;
        let d = sy.saturating_sub(py);
        if d == 0 {
            return None;
        }
        let sign: i8 = if d > 0 { 1 } else { -1 };
        let before = std::mem::replace(&mut self.scroll_sign, sign);
        if before == 0 || before == sign {
            return None;
        }
        self.scroll_rev.push(t);
        if self.refractory(Emotion::Confusion, t, th) {
            return None;
        }
        let (count, m) = burst(
            &self.scroll_rev,
            t,
            th.scroll_window_ms,
            th.scroll_reversals,
        )?;
        self.scroll_rev.clear();
        self.fire(
            t,
            Found {
                emotion: Emotion::Confusion,
                margin: m,
                evidence: Evidence::Confusion {
                    reversals: 0,
                    scroll_reversals: count,
                    entropy: 0.0,
                    peak_speed: 0.0,
                },
            },
        )
    }

    /// The pointer left the document (kind 14): exit intent when it leaves through the top
    /// (within [`EXIT_TOP_PX`] of it) with its last movement more up than sideways, toward the
    /// tab bar, address bar or close
    /// button (the exit-intent convention of marketing tools). A leave through a side or the
    /// bottom (another monitor, the taskbar) is not exit intent: counting it, as this detector
    /// first did, made abandonment's precision 0.20 on the loadgen's calm persona, which drifts
    /// out through a side now and then (offline run, seed 1, 600 sessions × 60 s).
    ///
    /// M = 0.6·min(2, upward speed / exit speed) + 0.4 + 1·[in checkout]. A slow exit through
    /// the top is ≈ 0.5; a fast one during checkout ≈ 0.96.
    pub fn leave(
        &mut self,
        t: i64,
        y: f64,
        (vx, vy): (f64, f64),
        in_checkout: bool,
        th: &Thresholds,
    ) -> Option<Found> {
        self.last_leave = Some(t);
        // Through the top, and (if the pointer was moving) more up than sideways.
        let sideways = vx.abs() > -vy && (vx != 0.0 || vy != 0.0);
        if y > EXIT_TOP_PX || sideways || self.refractory(Emotion::Abandonment, t, th) {
            return None;
        }
        let up = (-vy).max(0.0);
        let m = 0.6 * (up / th.exit_speed).min(2.0) + 0.4 + if in_checkout { 1.0 } else { 0.0 };
        self.fire(
            t,
            Found {
                emotion: Emotion::Abandonment,
                margin: m,
                evidence: Evidence::Abandonment {
                    leave: true,
                    upward_speed: up,
                    hidden_in_checkout: false,
                },
            },
        )
    }

    /// The page was hidden (kind 6, a = 0). Abandonment only during checkout.
    /// M = 1 + ½·[a leave within the last 2 s].
    pub fn hidden(&mut self, t: i64, in_checkout: bool, th: &Thresholds) -> Option<Found> {
        if !in_checkout || self.refractory(Emotion::Abandonment, t, th) {
            return None;
        }
        let recent_leave = self.last_leave.is_some_and(|l| t - l <= 2000 * MS);
        let m = 1.0 + if recent_leave { 0.5 } else { 0.0 };
        self.fire(
            t,
            Found {
                emotion: Emotion::Abandonment,
                margin: m,
                evidence: Evidence::Abandonment {
                    leave: recent_leave,
                    upward_speed: 0.0,
                    hidden_in_checkout: true,
                },
            },
        )
    }
}
