//! Replays recorded traces through the real core and measures base rates.
//!
//! Each trace becomes `b` frames cut every 250 ms of client time (the SDK's default flush),
//! fed through [`Session::handle_frame`] with the default tenant policy, except that hesitation
//! is watched everywhere: the traces have no page sections, so this gives its worst case.
//!
//! **Active time** is the sum of the gaps between consecutive events, each capped at 30 s: a
//! longer silence is someone away from the mouse, not an active hour.

use std::collections::BTreeMap;

use sentientiq_core::physics::Physics;
use sentientiq_core::*;
use sentientiq_proto::{Batch, ClientFrame, Seq, kind};
use serde_json::{Value as J, json};

use crate::balabit::{Ev, Trace};

/// Gap cap for active time.
pub const ACTIVE_GAP_CAP_US: i64 = 30_000_000;
/// A press and release further apart than this is a drag, not a click.
pub const CLICK_SLOP_PX: f64 = 10.0;
pub const FLUSH_US: i64 = 250_000;
pub const LEVELS: [f64; 7] = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95];
const EPOCH_MS: i64 = 1_700_000_000_000;

/// What one replay run found.
#[derive(Debug, Default)]
pub struct Report {
    pub sessions: usize,
    pub active_us: i64,
    pub clicks: u64,
    pub samples: u64,
    pub frames: u64,
    /// (emotion, confidence, escalation-eligible) of every detection.
    pub detections: Vec<(Emotion, f64, bool)>,
    /// Every detection in full (trace name, detection), when asked for.
    pub dump: Option<Vec<(String, Detection)>>,
    pub speed: Vec<f32>,
    pub jerk: Vec<f32>,
    pub entropy: Vec<f32>,
    pub escalation_confidence: f64,
}

/// Cuts events into `b` frames every [`FLUSH_US`] of client time.
struct Cutter {
    out: Vec<ClientFrame>,
    b: Batch,
    seq: u64,
    batch_start: Option<i64>,
    prev_t: i64,
}

impl Cutter {
    fn flush(&mut self) {
        if !self.b.is_empty() {
            self.seq += 1;
            self.b.seq = Seq(self.seq);
            self.out
                .push(ClientFrame::Batch(std::mem::take(&mut self.b)));
        }
    }

    /// The batch for an event at `t` (a new one at a flush boundary) and the event's `dt`.
    fn at(&mut self, t: i64) -> u32 {
        if self.batch_start.is_none_or(|s| t - s >= FLUSH_US) || self.b.len() + 2 > 4096 {
            self.flush();
            self.batch_start = Some(t - t % FLUSH_US);
            self.b.t0 = (EPOCH_MS + t / 1000) as u64;
            self.prev_t = (t / 1000) * 1000; // t0 has ms resolution
        }
        let dt = u32::try_from(t - self.prev_t).unwrap_or(u32::MAX);
        self.prev_t = t;
        dt
    }
}

/// Converts a trace into the frames a browser SDK would have sent.
///
/// With `dead_every_click` (a what-if, `replay --dead-every-click`), every click is also
/// reported `dead` 1000 ms after it at its position, as an SDK would if no click of the trace
/// had got a response: the worst case of an SDK whose dead-click check misfires.
pub fn frames(trace: &Trace, dead_every_click: bool) -> (Vec<ClientFrame>, u64, i64) {
    let mut c = Cutter {
        out: Vec::new(),
        b: Batch::default(),
        seq: 0,
        batch_start: None,
        prev_t: 0,
    };
    let mut press: Option<(i32, i32)> = None;
    let mut scroll_y = 0i32;
    let mut clicks = 0u64;
    let mut active = 0i64;
    let mut last_row_t = 0i64;
    // Dead reports due, oldest first: (time, x, y).
    let mut dead: std::collections::VecDeque<(i64, i32, i32)> = Default::default();
    let report_dead = |c: &mut Cutter, (t, x, y): (i64, i32, i32)| {
        let dt = c.at(t);
        let label = c.b.intern("screen");
        c.b.push(kind::DEAD, dt, x, y, label);
    };
    for (i, r) in trace.rows.iter().enumerate() {
        let t = r.t_us.max(last_row_t).max(c.prev_t);
        if i > 0 {
            active += (t - last_row_t).min(ACTIVE_GAP_CAP_US);
        }
        last_row_t = t;
        while let Some(d) = dead.front().copied().filter(|d| d.0 <= t) {
            dead.pop_front();
            report_dead(&mut c, d);
        }
        let dt = c.at(t);
        let b = &mut c.b;
        match r.ev {
            Ev::Move => b.push(kind::MOVE, dt, r.x, r.y, 0),
            Ev::Down { left } => {
                b.push(kind::DOWN, dt, r.x, r.y, if left { 0 } else { 2 });
                press = left.then_some((r.x, r.y));
            }
            Ev::Up { left } => {
                b.push(kind::UP, dt, r.x, r.y, if left { 0 } else { 2 });
                if let (true, Some((px, py))) = (left, press.take())
                    && f64::from(r.x - px).hypot(f64::from(r.y - py)) <= CLICK_SLOP_PX
                {
                    let label = b.intern("screen");
                    b.push(kind::CLICK, 0, r.x, r.y, label);
                    clicks += 1;
                    if dead_every_click {
                        dead.push_back((t + 1_000_000, r.x, r.y));
                    }
                }
            }
            Ev::Wheel(d) => {
                scroll_y = scroll_y.saturating_add(i32::from(d) * 120);
                b.push(kind::SCROLL, dt, 0, scroll_y, 0);
            }
        }
    }
    while let Some(d) = dead.pop_front() {
        report_dead(&mut c, d);
    }
    c.flush();
    (c.out, clicks, active)
}

/// Replays traces with `tenant` (its hesitation watch list is cleared: no sections here).
/// With `dump`, every detection is kept in full; `dead_every_click`: see [`frames`].
pub fn run(traces: &[Trace], tenant: &TenantPolicy, dump: bool, dead_every_click: bool) -> Report {
    let mut tenant = tenant.clone();
    tenant.hesitation_sections.clear();
    let mut r = Report {
        escalation_confidence: tenant.thresholds.escalation_confidence,
        dump: dump.then(Vec::new),
        ..Report::default()
    };
    let mut out = Vec::new();
    for trace in traces {
        let (frames, clicks, active) = frames(trace, dead_every_click);
        r.sessions += 1;
        r.clicks += clicks;
        r.active_us += active;
        let mut s = Session::anonymous();
        let mut accounts = AccountCooldowns::default();
        let mut aggs = Aggregates::default();
        let mut ph = Physics::new();
        for f in &frames {
            let ClientFrame::Batch(b) = f else { continue };
            let mut ctx = Ctx {
                now_ms: b.t0,
                tenant: &tenant,
                accounts: &mut accounts,
                aggregates: &mut aggs,
            };
            out.clear();
            s.handle_frame(&mut ctx, f, &mut out);
            r.frames += 1;
            r.samples += b.len() as u64;
            for o in &out {
                if let Output::Detection(d) = o {
                    r.detections
                        .push((d.emotion, d.confidence, d.escalation_eligible));
                    if let Some(dump) = &mut r.dump {
                        dump.push((trace.name.clone(), d.clone()));
                    }
                }
            }
            // The same physics, sampled per pointer sample while moving, for distributions.
            let mut t = (b.t0 as i64 - EPOCH_MS) * 1000;
            for i in 0..b.len() {
                t += i64::from(b.dt[i]);
                if matches!(b.k[i], kind::MOVE | kind::DOWN | kind::UP) {
                    ph.push(t, f64::from(b.x[i]), f64::from(b.y[i]), |_| {});
                    let v = ph.speed();
                    if v > 0.0 {
                        r.speed.push(v as f32);
                        r.jerk.push(ph.jerk() as f32);
                        r.entropy.push(ph.entropy() as f32);
                    }
                }
            }
        }
        let _ = aggs.drain_closed(u64::MAX);
    }
    r
}

fn pct(v: &mut [f32], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    let (_, x, _) = v.select_nth_unstable_by(i, f32::total_cmp);
    f64::from(*x)
}

impl Report {
    pub fn active_hours(&self) -> f64 {
        self.active_us as f64 / 3.6e9
    }

    pub fn fires(&self, e: Emotion, min_c: f64) -> usize {
        self.detections
            .iter()
            .filter(|(de, c, _)| *de == e && *c >= min_c)
            .count()
    }

    /// Detections that could page a person ([`sentientiq_core::escalation_eligible`]: the
    /// escalation confidence and a page report backing them).
    pub fn eligible(&self, e: Emotion) -> usize {
        self.detections
            .iter()
            .filter(|(de, _, ok)| *de == e && *ok)
            .count()
    }

    fn per(&self, n: usize, per: f64) -> f64 {
        if per > 0.0 { n as f64 / per } else { 0.0 }
    }

    /// The JSON object of `replay --json`.
    pub fn to_json(&mut self) -> J {
        let h = self.active_hours();
        let mut fires = BTreeMap::new();
        let mut per_hour = BTreeMap::new();
        let mut per_1k = BTreeMap::new();
        let mut at_esc = BTreeMap::new();
        let mut eligible = BTreeMap::new();
        let mut levels = BTreeMap::new();
        for e in Emotion::ALL {
            let n = self.fires(e, 0.0);
            fires.insert(e.as_str(), json!(n));
            per_hour.insert(e.as_str(), json!(round(self.per(n, h))));
            per_1k.insert(
                e.as_str(),
                json!(round(self.per(n, self.clicks as f64 / 1000.0))),
            );
            at_esc.insert(
                e.as_str(),
                json!(round(
                    self.per(self.fires(e, self.escalation_confidence), h)
                )),
            );
            eligible.insert(
                e.as_str(),
                json!({"fires": self.eligible(e), "per_hour": round(self.per(self.eligible(e), h))}),
            );
            let lv: BTreeMap<String, J> = LEVELS
                .iter()
                .map(|l| {
                    let n = self.fires(e, *l);
                    (
                        format!("{l:.2}"),
                        json!({"fires": n, "per_hour": round(self.per(n, h))}),
                    )
                })
                .collect();
            levels.insert(e.as_str(), json!(lv));
        }
        let dist = |v: &mut Vec<f32>| json!({"p50": round(pct(v, 0.5)), "p90": round(pct(v, 0.9)), "p99": round(pct(v, 0.99))});
        json!({
            "sessions": self.sessions,
            "active_hours": round(h),
            "clicks": self.clicks,
            "samples": self.samples,
            "frames": self.frames,
            "escalation_confidence": self.escalation_confidence,
            "fires": fires,
            "per_hour": per_hour,
            "per_1000_clicks": per_1k,
            "per_hour_at_escalation": at_esc,
            "escalation_eligible": eligible,
            "by_confidence": levels,
            "physics": {
                "moving_samples": self.speed.len(),
                "speed_px_s": dist(&mut self.speed),
                "jerk_px_s3": dist(&mut self.jerk),
                "entropy": dist(&mut self.entropy),
            }
        })
    }

    /// The human-readable report.
    pub fn to_text(&mut self) -> String {
        let j = self.to_json();
        let mut s = String::new();
        let h = self.active_hours();
        s += &format!(
            "{} sessions, {:.2} active hours, {} clicks, {} samples in {} frames\n\n",
            self.sessions, h, self.clicks, self.samples, self.frames
        );
        s += &format!(
            "{:<12} {:>6} {:>9} {:>11} {:>13} {:>18}\n",
            "detector", "fires", "per hour", "per 1k clk", "≥esc per hour", "eligible per hour"
        );
        for e in Emotion::ALL {
            let n = self.fires(e, 0.0);
            s += &format!(
                "{:<12} {:>6} {:>9.2} {:>11.2} {:>13.2} {:>18.2}\n",
                e.as_str(),
                n,
                self.per(n, h),
                self.per(n, self.clicks as f64 / 1000.0),
                self.per(self.fires(e, self.escalation_confidence), h),
                self.per(self.eligible(e), h)
            );
        }
        s += &format!(
            "(≥esc: confidence ≥ {}; eligible: that and a dead, error or exit report backing it, \
             what an escalation rule acts on)\n",
            self.escalation_confidence
        );
        s += "\nfires at or above each confidence level (per active hour):\n";
        s += &format!("{:<12}", "detector");
        for l in LEVELS {
            s += &format!(" {:>11}", format!("≥{l:.2}"));
        }
        s += "\n";
        for e in Emotion::ALL {
            s += &format!("{:<12}", e.as_str());
            for l in LEVELS {
                let n = self.fires(e, l);
                s += &format!(" {:>11}", format!("{n} ({:.2})", self.per(n, h)));
            }
            s += "\n";
        }
        let p = &j["physics"];
        s += &format!(
            "\nphysics over {} moving samples (p50 / p90 / p99):\n  speed   {} / {} / {} px/s\n  jerk    {} / {} / {} px/s³\n  entropy {} / {} / {}\n",
            p["moving_samples"],
            p["speed_px_s"]["p50"],
            p["speed_px_s"]["p90"],
            p["speed_px_s"]["p99"],
            p["jerk_px_s3"]["p50"],
            p["jerk_px_s3"]["p90"],
            p["jerk_px_s3"]["p99"],
            p["entropy"]["p50"],
            p["entropy"]["p90"],
            p["entropy"]["p99"],
        );
        s
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balabit::parse;

    #[test]
    fn a_trace_becomes_frames_with_clicks_and_active_time() {
        let text = "record timestamp,client timestamp,button,state,x,y\n\
                    0,0.0,NoButton,Move,10,20\n\
                    0,0.1,Left,Pressed,10,20\n\
                    0,0.15,Left,Released,12,20\n\
                    0,0.3,Left,Pressed,12,20\n\
                    0,0.4,Left,Drag,100,20\n\
                    0,0.5,Left,Released,100,20\n\
                    0,60.5,Scroll,Down,100,20\n";
        let (t, _) = parse("s", text).expect("parses");
        let (frames, clicks, active) = frames(&t, false);
        assert_eq!(clicks, 1, "the drag is not a click");
        assert_eq!(active, 500_000 + ACTIVE_GAP_CAP_US);
        let samples: usize = frames
            .iter()
            .map(|f| match f {
                ClientFrame::Batch(b) => b.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(samples, 8); // 7 rows + 1 click
        assert_eq!(
            frames.last().and_then(ClientFrame::seq),
            Some(Seq(frames.len() as u64))
        );
    }

    #[test]
    fn a_rage_burst_in_a_trace_is_counted() {
        let mut text = String::from("record timestamp,client timestamp,button,state,x,y\n");
        for i in 0..6 {
            let t = 1.0 + f64::from(i) * 0.15;
            text += &format!(
                "0,{t},Left,Pressed,500,500\n0,{},Left,Released,500,500\n",
                t + 0.05
            );
        }
        let (t, _) = parse("s", &text).expect("parses");
        let mut r = run(&[t], &TenantPolicy::default(), false, false);
        assert_eq!(r.clicks, 6);
        assert_eq!(r.fires(Emotion::Rage, 0.0), 1);
        let j = r.to_json();
        assert_eq!(j["fires"]["rage"], 1);
        assert_eq!(j["sessions"], 1);
        // Motion only: the traces carry no dead or error reports, nothing may page.
        assert_eq!(j["escalation_eligible"]["rage"]["fires"], 0);
        assert!(r.to_text().contains("eligible per hour"));
    }

    #[test]
    fn a_long_same_spot_chain_is_not_escalation_eligible() {
        // Twenty clicks 150 ms apart on one spot (a stepper, a pager): one rage detection, below
        // the escalation confidence, and never eligible (it had 0.85 at 16 clicks before
        // corroboration was required).
        let mut text = String::from("record timestamp,client timestamp,button,state,x,y\n");
        for i in 0..20 {
            let t = 1.0 + f64::from(i) * 0.15;
            text += &format!(
                "0,{t},Left,Pressed,500,500\n0,{},Left,Released,500,500\n",
                t + 0.05
            );
        }
        let (t, _) = parse("s", &text).expect("parses");
        let r = run(
            std::slice::from_ref(&t),
            &TenantPolicy::default(),
            false,
            false,
        );
        assert_eq!(r.fires(Emotion::Rage, 0.0), 1);
        assert_eq!(r.fires(Emotion::Rage, r.escalation_confidence), 0);
        assert_eq!(r.eligible(Emotion::Rage), 0);
        // Had the SDK reported its clicks dead, the chain would be eligible: detected, then
        // detected again once the first report (1 s after the first click) confirms it.
        let r = run(&[t], &TenantPolicy::default(), false, true);
        assert_eq!(r.fires(Emotion::Rage, 0.0), 2);
        assert_eq!(r.eligible(Emotion::Rage), 1);
        assert_eq!(
            r.fires(Emotion::Frustration, 0.0),
            0,
            "its reports are the chain's"
        );
    }
}
