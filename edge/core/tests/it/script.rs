//! A tiny script language for sessions: pointer reaches, clicks, scrolls, sections…, cut into
//! `b` frames the way the SDK batches them (every `flush_ms`).

use std::sync::Arc;

use sentientiq_core::*;
use sentientiq_proto::{Batch, ClientFrame, Identify, Seq, Value, kind};

pub const T0_MS: u64 = 1_763_780_000_000;
pub const NOW_MS: u64 = 1_763_780_000_000;

#[derive(Debug, Clone, Copy)]
struct Ev {
    t_us: i64,
    k: u8,
    x: i32,
    y: i32,
    label: Option<&'static str>,
    a: u32,
}

#[derive(Debug, Default)]
pub struct Script {
    t_us: i64,
    pos: (f64, f64),
    evs: Vec<Ev>,
    ids: Vec<(i64, Identify)>,
}

impl Script {
    pub fn new(x: f64, y: f64) -> Script {
        Script {
            pos: (x, y),
            ..Script::default()
        }
    }

    fn push(&mut self, k: u8, x: f64, y: f64, label: Option<&'static str>, a: u32) {
        self.evs.push(Ev {
            t_us: self.t_us,
            k,
            x: x.round() as i32,
            y: y.round() as i32,
            label,
            a,
        });
    }

    pub fn wait(&mut self, ms: f64) -> &mut Self {
        self.t_us += (ms * 1000.0) as i64;
        self
    }

    /// A minimum-jerk reach to (x, y) over `ms`, sampled at 125 Hz.
    pub fn reach(&mut self, x: f64, y: f64, ms: f64) -> &mut Self {
        let (x0, y0) = self.pos;
        let steps = (ms / 8.0).ceil().max(1.0) as i64;
        for i in 1..=steps {
            self.t_us += 8_000;
            let tau = i as f64 / steps as f64;
            let s = 10.0 * tau.powi(3) - 15.0 * tau.powi(4) + 6.0 * tau.powi(5);
            self.push(kind::MOVE, x0 + (x - x0) * s, y0 + (y - y0) * s, None, 0);
        }
        self.pos = (x, y);
        self
    }

    /// Moves along `f(t_seconds)` for `ms` at 125 Hz.
    pub fn path(&mut self, ms: f64, f: impl Fn(f64) -> (f64, f64)) -> &mut Self {
        let steps = (ms / 8.0) as i64;
        for i in 1..=steps {
            self.t_us += 8_000;
            let (x, y) = f(i as f64 * 0.008);
            self.push(kind::MOVE, x, y, None, 0);
            self.pos = (x, y);
        }
        self
    }

    pub fn click(&mut self, label: &'static str) -> &mut Self {
        let (x, y) = self.pos;
        self.push(kind::DOWN, x, y, None, 0);
        self.t_us += 60_000;
        self.push(kind::UP, x, y, None, 0);
        self.push(kind::CLICK, x, y, Some(label), 0);
        self
    }

    /// Clicks at an offset from the current position, `gap_ms` after the previous event.
    pub fn click_at(&mut self, dx: f64, dy: f64, gap_ms: f64) -> &mut Self {
        self.wait(gap_ms);
        let (x, y) = (self.pos.0 + dx, self.pos.1 + dy);
        self.pos = (x, y);
        self.push(kind::CLICK, x, y, Some("button#buy"), 0);
        self
    }

    pub fn event(&mut self, k: u8, label: Option<&'static str>, a: u32) -> &mut Self {
        let (x, y) = self.pos;
        self.push(k, x, y, label, a);
        self
    }

    /// An event at an offset from the pointer (the pointer does not move).
    pub fn event_at(&mut self, dx: f64, k: u8, label: Option<&'static str>) -> &mut Self {
        let (x, y) = self.pos;
        self.push(k, x + dx, y, label, 0);
        self
    }

    pub fn scroll_to(&mut self, y: i32) -> &mut Self {
        self.evs.push(Ev {
            t_us: self.t_us,
            k: kind::SCROLL,
            x: 0,
            y,
            label: None,
            a: 0,
        });
        self
    }

    pub fn section(&mut self, s: &'static str) -> &mut Self {
        self.event(kind::SECTION, Some(s), 0)
    }

    pub fn identify(&mut self, uid: &str, email: &str, ltv_dollars: i64) -> &mut Self {
        self.ids.push((
            self.t_us,
            Identify {
                seq: Seq(0),
                uid: uid.into(),
                email: Some(email.into()),
                traits: vec![("ltv".into(), Value::Int(ltv_dollars))],
            },
        ));
        self
    }

    /// The script as frames: `b` every `flush_ms` of client time, `id` frames in order.
    pub fn frames(&self, flush_ms: i64) -> Vec<ClientFrame> {
        let mut out = Vec::new();
        let mut seq = 0u64;
        let mut ids = self.ids.iter().peekable();
        let mut i = 0;
        while i < self.evs.len() || ids.peek().is_some() {
            let start = self.evs.get(i).map_or(i64::MAX, |e| e.t_us);
            if let Some((t, id)) = ids.peek()
                && *t <= start
            {
                seq += 1;
                out.push(ClientFrame::Identify(Identify {
                    seq: Seq(seq),
                    ..id.clone()
                }));
                ids.next();
                continue;
            }
            let window_end = (start / (flush_ms * 1000) + 1) * flush_ms * 1000;
            seq += 1;
            let t0_ms = T0_MS + (start / 1000) as u64;
            let mut b = Batch {
                seq: Seq(seq),
                t0: t0_ms,
                ..Batch::default()
            };
            let mut prev = (t0_ms as i64 - T0_MS as i64) * 1000;
            while let Some(e) = self.evs.get(i) {
                if e.t_us >= window_end || ids.peek().is_some_and(|(t, _)| *t <= e.t_us) {
                    break;
                }
                let a = match e.label {
                    Some(l) => b.intern(l),
                    None => e.a,
                };
                b.push(e.k, (e.t_us - prev) as u32, e.x, e.y, a);
                prev = e.t_us;
                i += 1;
            }
            out.push(ClientFrame::Batch(b));
        }
        out
    }
}

/// Everything a test needs to drive sessions of one tenant.
#[derive(Debug, Default)]
pub struct Harness {
    pub tenant: TenantPolicy,
    pub accounts: AccountCooldowns,
    pub aggregates: Aggregates,
    pub now_ms: u64,
}

impl Harness {
    pub fn new(tenant: TenantPolicy) -> Harness {
        Harness {
            tenant,
            now_ms: NOW_MS,
            ..Harness::default()
        }
    }

    pub fn feed(&mut self, s: &mut Session, frames: &[ClientFrame]) -> Vec<Output> {
        let mut out = Vec::new();
        for f in frames {
            let mut ctx = Ctx {
                now_ms: self.now_ms,
                tenant: &self.tenant,
                accounts: &mut self.accounts,
                aggregates: &mut self.aggregates,
            };
            s.handle_frame(&mut ctx, f, &mut out);
            self.now_ms += 250;
        }
        out
    }

    pub fn run(&mut self, script: &Script) -> Vec<Output> {
        let mut s = Session::anonymous();
        self.feed(&mut s, &script.frames(250))
    }
}

pub fn detections(out: &[Output]) -> Vec<&Detection> {
    out.iter()
        .filter_map(|o| match o {
            Output::Detection(d) => Some(d),
            Output::Action(_) => None,
        })
        .collect()
}

pub fn actions(out: &[Output]) -> Vec<&Action> {
    out.iter()
        .filter_map(|o| match o {
            Output::Action(a) => Some(a),
            Output::Detection(_) => None,
        })
        .collect()
}

pub fn emotions(out: &[Output]) -> Vec<Emotion> {
    detections(out).iter().map(|d| d.emotion).collect()
}

pub fn arc(s: &str) -> Arc<str> {
    Arc::from(s)
}
