//! Detectors: rage, frustration, hesitation, confusion, abandonment.
//!
//! Each detector keeps O(1) state, consumes the session's events in client time (µs), and when
//! its thresholds are crossed returns a [`Found`]: the emotion, the margin `M` of the evidence
//! over the thresholds (mapped to confidence by [`crate::confidence`]), and the evidence itself.
//! Every margin's terms are documented where it is computed. One episode gives one detection:
//! after an emotion is detected it is not detected again for `refractory_ms` (a rage chain may
//! be detected once more, when it becomes escalation-eligible: see [`escalation_eligible`]).

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
        /// A `dead` report (kind 10) on the chain's spot: its clicks got no response.
        confirmed_dead: bool,
        /// A JS `error` (kind 11) within `error_click_ms` of one of the chain's clicks.
        error_click: bool,
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

/// What the page reported, beyond the pointer's motion, that backs a detection. An escalation
/// needs one ([`escalation_eligible`]): motion alone is a reading of behaviour, and ordinary work
/// produces every pattern the detectors read (long same-spot click chains recur in clusters in
/// the Balabit traces, docs/CALIBRATION.md), while these are facts the SDK saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corroboration {
    /// A click of the episode got no response (`dead`, kind 10).
    Dead,
    /// A JavaScript error followed a click of the episode (`error`, kind 11).
    Error,
    /// The pointer left the document (`leave`, kind 14) or the tab was hidden in checkout
    /// (`visibility`, kind 6): abandonment is only ever detected from these.
    Exit,
}

impl Evidence {
    /// The page's reports among this evidence, if any (a pure function of the evidence).
    /// Rage: a dead report on the chain, else an error after one of its clicks. Frustration and
    /// abandonment are made of reports. Hesitation and confusion are motion only, never
    /// corroborated.
    pub fn corroboration(&self) -> Option<Corroboration> {
        match *self {
            Evidence::Rage {
                confirmed_dead: true,
                ..
            } => Some(Corroboration::Dead),
            Evidence::Rage {
                error_click: true, ..
            } => Some(Corroboration::Error),
            Evidence::Rage { .. } => None,
            Evidence::Frustration {
                error_click_ms: Some(_),
                ..
            } => Some(Corroboration::Error),
            Evidence::Frustration { .. } => Some(Corroboration::Dead),
            Evidence::Abandonment { .. } => Some(Corroboration::Exit),
            Evidence::Hesitation { .. } | Evidence::Confusion { .. } => None,
        }
    }
}

/// Whether a detection may escalate to a person: its confidence is at least the tenant's
/// `escalation_confidence` **and** the page corroborated it ([`Evidence::corroboration`]).
/// The policy additionally requires an identified user, whatever the rule says.
///
/// Before this rule, a same-spot chain reached the escalation confidence on click count alone
/// (≈ 16 tight clicks) 0.82 times per active hour of ordinary office work; with it, 0 (the
/// traces carry no page reports). A repeated episode is not taken as corroboration: it is
/// more of the same motion, and in those traces 32 of the 86 chains that reached the escalation
/// confidence had another within 5 minutes (people repeat a task). Replay figures in
/// docs/CALIBRATION.md (2026-12-01).
pub fn escalation_eligible(confidence: f64, evidence: &Evidence, th: &Thresholds) -> bool {
    confidence >= th.escalation_confidence && evidence.corroboration().is_some()
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
    /// What the page reported that backs the evidence ([`Evidence::corroboration`]).
    pub corroboration: Option<Corroboration>,
    /// The detection may escalate ([`escalation_eligible`]); escalation rules act on no other.
    pub escalation_eligible: bool,
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
    /// A JS error followed one of the chain's clicks within `error_click_ms`.
    errored: bool,
    /// 0: not detected; 1: detected, not escalation-eligible; 2: detected eligible.
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
    ///   + 1.0·[a `dead` report or a JS error corroborated the chain].
    ///
    /// Ordinary desktop work is full of long same-spot chains (steppers, "next" buttons,
    /// double-clicks in a row): chains of ≥ 6 clicks occur 4.6 times and of ≥ 15 clicks
    /// 0.98 times per active hour in the Balabit traces. Click count alone therefore reaches
    /// the default escalation level (0.85, M ≥ 1.2) only at about 15 tight clicks; a tight
    /// chain of 3 is c ≈ 0.61, of 6 ≈ 0.69. On the web the SDK's dead-click report is the
    /// discriminating evidence: 3 tight clicks that got no response reach c ≈ 0.86. A JS error
    /// right after a click of the chain is the same fact told another way (the element broke),
    /// so it weighs the same.
    ///
    /// A chain is detected once when it crosses the thresholds and once more if it later
    /// becomes escalation-eligible ([`escalation_eligible`]): a long chain with no
    /// corroboration is not detected again however long it grows.
    fn rage(&mut self, t: i64, th: &Thresholds) -> Option<Found> {
        let c = self.chain;
        if c.count < th.rage_clicks {
            return None;
        }
        let corroborated = c.confirmed || c.errored;
        // An OS double/triple click (all within multi-click time and distance) is a selection
        // gesture until a further click or a page report proves otherwise.
        if c.count <= 3 && c.multi && !corroborated {
            return None;
        }
        let mean_gap = c.gap_sum as f64 / f64::from(c.count - 1) / 1000.0;
        let m = 0.08 * f64::from(c.count - th.rage_clicks)
            + 0.15 * (1.0 - mean_gap / f64::from(th.rage_gap_ms)).max(0.0)
            + 0.1 * (1.0 - c.max_dist / th.rage_radius_px).max(0.0)
            + if corroborated { 1.0 } else { 0.0 };
        let evidence = Evidence::Rage {
            clicks: c.count,
            span_ms: (c.last_t - c.first_t) as f64 / 1000.0,
            mean_gap_ms: mean_gap,
            max_dist_px: c.max_dist,
            confirmed_dead: c.confirmed,
            error_click: c.errored,
        };
        let new_level = if escalation_eligible(confidence(m), &evidence, th) {
            2
        } else {
            1
        };
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
                evidence,
            },
        )
    }

    /// Whether a report at `t`, `(x, y)` is about the current chain: on its spot (within the
    /// rage radius of its last click) and soon enough after that click for the SDK's
    /// 1000 ms no-response timer (max gap + 1.5 s).
    fn on_chain(&self, t: i64, x: f64, y: f64, th: &Thresholds) -> bool {
        let c = &self.chain;
        c.count > 0
            && (x - c.last.0).hypot(y - c.last.1) <= th.rage_radius_px
            && (0..=(i64::from(th.rage_gap_ms) + 1500) * MS).contains(&(t - c.last_t))
    }

    /// A dead click report (kind 10): the SDK saw no response to a click.
    ///
    /// A report on the current chain confirms it: a held triple-click is rage after all, and a
    /// detected chain may now become escalation-eligible. The SDK reports every click that got
    /// no response, so a rage chain brings several reports: those on a chain of at least
    /// `rage_clicks` are that episode's evidence, not further dead clicks (counting them made
    /// every confirmed rage chain a frustration episode too).
    pub fn dead(&mut self, t: i64, x: f64, y: f64, th: &Thresholds) -> Option<Found> {
        if self.on_chain(t, x, y, th) {
            self.chain.confirmed = true;
            if self.chain.count >= th.rage_clicks {
                return self.rage(t, th);
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

    /// A JS error report (kind 11). Within `error_click_ms` of a click it is an error click.
    /// The newest click always belongs to the current chain, so the error corroborates that
    /// chain; on a chain of at least `rage_clicks` it is that rage episode's evidence (like a
    /// dead report), otherwise a frustration episode of its own.
    pub fn error(&mut self, t: i64, th: &Thresholds) -> Option<Found> {
        let click = self.last_click?;
        let dt = t - click;
        let limit = i64::from(th.error_click_ms) * MS;
        if dt < 0 || dt > limit {
            return None;
        }
        if self.chain.count > 0 && self.chain.last_t == click {
            self.chain.errored = true;
            if self.chain.count >= th.rage_clicks {
                return self.rage(t, th);
            }
        }
        if self.refractory(Emotion::Frustration, t, th) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rage(confirmed_dead: bool, error_click: bool) -> Evidence {
        Evidence::Rage {
            clicks: 20,
            span_ms: 3000.0,
            mean_gap_ms: 150.0,
            max_dist_px: 2.0,
            confirmed_dead,
            error_click,
        }
    }

    /// (evidence, corroboration, eligible at the escalation confidence).
    fn check(evidence: Evidence, want: Option<Corroboration>) {
        let th = Thresholds::default();
        let esc = th.escalation_confidence;
        assert_eq!(evidence.corroboration(), want, "{evidence:?}");
        // Confidence just below / at / above the escalation confidence.
        for (c, at_level) in [(esc - 1e-9, false), (esc, true), (esc + 1e-9, true)] {
            assert_eq!(
                escalation_eligible(c, &evidence, &th),
                at_level && want.is_some(),
                "{evidence:?} at c = {c}"
            );
        }
    }

    #[test]
    fn only_page_reports_make_a_detection_escalation_eligible() {
        check(rage(false, false), None);
        check(rage(true, false), Some(Corroboration::Dead));
        check(rage(false, true), Some(Corroboration::Error));
        check(rage(true, true), Some(Corroboration::Dead));
        check(
            Evidence::Frustration {
                dead_clicks: 2,
                error_click_ms: None,
            },
            Some(Corroboration::Dead),
        );
        check(
            Evidence::Frustration {
                dead_clicks: 0,
                error_click_ms: Some(40.0),
            },
            Some(Corroboration::Error),
        );
        check(
            Evidence::Abandonment {
                leave: true,
                upward_speed: 900.0,
                hidden_in_checkout: false,
            },
            Some(Corroboration::Exit),
        );
        check(
            Evidence::Hesitation {
                returns: 4,
                span_ms: 3000.0,
            },
            None,
        );
        check(
            Evidence::Confusion {
                reversals: 12,
                scroll_reversals: 0,
                entropy: 0.9,
                peak_speed: 2000.0,
            },
            None,
        );
    }
}
