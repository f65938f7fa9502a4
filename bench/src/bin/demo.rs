//! `make demo`: what exists today, end to end in one process. Six scripted browser sessions
//! (one per persona) are encoded as real `siq/1` frames, decoded by the real codec and driven
//! through the real core with a demo tenant; the demo prints what each produced.
//!
//! The edge server, lake, control plane and loadgen are later work (see README); when they land
//! this demo becomes the multi-process run the README describes.

use std::io::Write;
use std::sync::Arc;

use anyhow::Result;
use sentientiq_core::*;
use sentientiq_proto::{
    Batch, ClientFrame, Identify, Limits, Seq, Value, client_to_vec, decode_client_into, kind,
};

/// A scripted session: events in client µs.
struct Persona {
    name: &'static str,
    events: Vec<(i64, u8, i32, i32, Option<&'static str>)>,
    identify: Option<(&'static str, &'static str, i64)>,
    t: i64,
    pos: (f64, f64),
}

impl Persona {
    fn new(name: &'static str) -> Persona {
        Persona {
            name,
            events: Vec::new(),
            identify: None,
            t: 0,
            pos: (200.0, 200.0),
        }
    }
    fn ev(&mut self, k: u8, label: Option<&'static str>) -> &mut Self {
        self.events
            .push((self.t, k, self.pos.0 as i32, self.pos.1 as i32, label));
        self
    }
    fn wait(&mut self, ms: i64) -> &mut Self {
        self.t += ms * 1000;
        self
    }
    /// Minimum-jerk reach at 125 Hz.
    fn reach(&mut self, x: f64, y: f64, ms: i64) -> &mut Self {
        let (x0, y0) = self.pos;
        let n = ms / 8;
        for i in 1..=n {
            let s = i as f64 / n as f64;
            let p = 10.0 * s.powi(3) - 15.0 * s.powi(4) + 6.0 * s.powi(5);
            self.t += 8_000;
            self.pos = (x0 + (x - x0) * p, y0 + (y - y0) * p);
            self.ev(kind::MOVE, None);
        }
        self
    }
    fn clicks(&mut self, n: usize, gap_ms: i64, label: &'static str) -> &mut Self {
        for i in 0..n {
            if i > 0 {
                self.wait(gap_ms);
            }
            self.ev(kind::CLICK, Some(label));
        }
        self
    }
    /// `b` frames every 250 ms of client time, with the `id` frame first if any.
    fn frames(&self, t0_ms: u64) -> Vec<ClientFrame> {
        let mut out = Vec::new();
        let mut seq = 0;
        if let Some((uid, email, ltv)) = self.identify {
            seq += 1;
            out.push(ClientFrame::Identify(Identify {
                seq: Seq(seq),
                uid: uid.into(),
                email: Some(email.into()),
                traits: vec![("ltv".into(), Value::Int(ltv))],
            }));
        }
        let mut i = 0;
        while i < self.events.len() {
            let start = self.events[i].0;
            let end = (start / 250_000 + 1) * 250_000;
            seq += 1;
            let mut b = Batch {
                seq: Seq(seq),
                t0: t0_ms + (start / 1000) as u64,
                ..Batch::default()
            };
            let mut prev = (start / 1000) * 1000;
            while i < self.events.len() && self.events[i].0 < end {
                let (t, k, x, y, label) = self.events[i];
                let a = label.map_or(0, |l| b.intern(l));
                b.push(k, (t - prev) as u32, x, y, a);
                prev = t;
                i += 1;
            }
            out.push(ClientFrame::Batch(b));
        }
        out
    }
}

fn personas() -> Vec<Persona> {
    let mut v = Vec::new();

    let mut p = Persona::new("calm");
    for i in 0..6 {
        p.reach(
            300.0 + 120.0 * f64::from(i),
            250.0 + 40.0 * f64::from(i),
            500,
        )
        .wait(1500)
        .ev(kind::CLICK, Some("a.article"))
        .wait(900);
    }
    v.push(p);

    let mut p = Persona::new("rage ($120k)");
    p.identify = Some(("u_dana", "dana@acme.example", 120_000));
    p.ev(kind::SECTION, Some("billing"))
        .reach(620.0, 410.0, 400)
        .clicks(5, 150, "button#save")
        .wait(400)
        .ev(kind::DEAD, Some("button#save"))
        .wait(600);
    v.push(p);

    let mut p = Persona::new("frustrated");
    p.identify = Some(("u_sam", "sam@small.example", 900));
    p.reach(500.0, 300.0, 400)
        .ev(kind::CLICK, Some("button#apply-coupon"))
        .wait(120)
        .ev(kind::ERROR, Some("TypeError: coupon is undefined"))
        .wait(800);
    v.push(p);

    let mut p = Persona::new("hesitant");
    p.ev(kind::SECTION, Some("pricing"))
        .reach(820.0, 380.0, 500)
        .wait(500);
    for _ in 0..2 {
        p.reach(520.0, 560.0, 400)
            .wait(400)
            .reach(824.0, 384.0, 400)
            .wait(500);
    }
    p.reach(830.0, 400.0, 100);
    v.push(p);

    let mut p = Persona::new("confused");
    for i in 1..=250 {
        let t = f64::from(i) * 0.008;
        p.t += 8_000;
        p.pos = (
            600.0 + 160.0 * (std::f64::consts::TAU * 3.2 * t).sin(),
            400.0 + 30.0 * (std::f64::consts::TAU * 1.1 * t).sin(),
        );
        p.ev(kind::MOVE, None);
    }
    v.push(p);

    let mut p = Persona::new("abandoning");
    p.ev(kind::SECTION, Some("checkout"))
        .reach(700.0, 500.0, 400)
        .wait(1200)
        .reach(760.0, 1.0, 250)
        .ev(kind::LEAVE, None)
        .wait(300)
        .ev(kind::VISIBILITY, None);
    v.push(p);
    v
}

fn demo_tenant() -> TenantPolicy {
    TenantPolicy {
        labels: vec![(
            Emotion::Hesitation,
            Arc::from("pricing"),
            Arc::from("price_anxiety"),
        )],
        rules: vec![
            Rule {
                id: Arc::from("help-on-rage"),
                emotions: vec![Emotion::Rage],
                min_confidence: 0.5,
                sections: vec![],
                require_identified: true,
                min_value_cents: 0,
                action: RuleAction::Intervene {
                    kind: Arc::from("chat"),
                    variant: Arc::from("a"),
                    payload: Arc::new(Value::Str("Something not working? We're here.".into())),
                },
                session_cooldown_ms: 60_000,
                account_cooldown_ms: 0,
            },
            Rule {
                id: Arc::from("escalate-100k"),
                emotions: vec![Emotion::Rage, Emotion::Frustration],
                min_confidence: 0.0,
                sections: vec![],
                require_identified: true,
                min_value_cents: 10_000_000,
                action: RuleAction::Escalate {
                    contacts: Arc::from(vec![Arc::from("csm-oncall")]),
                },
                session_cooldown_ms: 0,
                account_cooldown_ms: 600_000,
            },
        ],
        ..TenantPolicy::default()
    }
}

fn main() -> Result<()> {
    let tenant = demo_tenant();
    tenant.validate()?;
    let mut accounts = AccountCooldowns::default();
    let mut aggregates = Aggregates::default();
    let now0 = 1_763_780_000_000u64;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "SentientIQ demo: scripted sessions as siq/1 frames through the real codec and core\n\
         (edge server, lake, control plane and loadgen are not built yet; see README)\n"
    )?;
    let (mut total_frames, mut total_bytes, mut total_samples) = (0, 0, 0);
    let mut slot = ClientFrame::Bye { seq: Seq(1) };
    let mut outputs = Vec::new();
    for p in personas() {
        let mut s = Session::anonymous();
        let mut now = now0;
        let (mut bytes, mut samples) = (0, 0);
        outputs.clear();
        let frames = p.frames(now0);
        for f in &frames {
            let wire = client_to_vec(f);
            bytes += wire.len();
            decode_client_into(&wire, &Limits::DEFAULT, &mut slot)?;
            if let ClientFrame::Batch(b) = &slot {
                samples += b.len();
            }
            let mut ctx = Ctx {
                now_ms: now,
                tenant: &tenant,
                accounts: &mut accounts,
                aggregates: &mut aggregates,
            };
            s.handle_frame(&mut ctx, &slot, &mut outputs);
            now += 250;
        }
        total_frames += frames.len();
        total_bytes += bytes;
        total_samples += samples;
        writeln!(
            out,
            "{:<14} {:>3} frames {:>6} bytes {:>4} samples",
            p.name,
            frames.len(),
            bytes,
            samples
        )?;
        if outputs.is_empty() {
            writeln!(out, "    nothing detected")?;
        }
        for o in &outputs {
            match o {
                Output::Detection(d) => writeln!(
                    out,
                    "    det  {:<12} c={:.2} {}{}at seq {} ({:?})",
                    d.emotion.as_str(),
                    d.confidence,
                    d.label
                        .as_deref()
                        .map(|l| format!("label={l} "))
                        .unwrap_or_default(),
                    d.section
                        .as_deref()
                        .map(|l| format!("section={l} "))
                        .unwrap_or_default(),
                    d.at,
                    d.evidence
                )?,
                Output::Action(a) => writeln!(
                    out,
                    "    act  {:<12} rule={} {} value=${:.0}",
                    match &a.kind {
                        ActionKind::Intervene { .. } => "intervene",
                        ActionKind::Escalate { .. } => "ESCALATE",
                    },
                    a.rule,
                    match &a.kind {
                        ActionKind::Intervene { kind, variant, .. } => format!("{kind}/{variant}"),
                        ActionKind::Escalate { contacts } => format!(
                            "to {}",
                            contacts.iter().map(|c| &**c).collect::<Vec<_>>().join(",")
                        ),
                    },
                    a.priority_cents as f64 / 100.0
                )?,
            }
        }
    }
    writeln!(
        out,
        "\n{total_frames} frames, {total_bytes} bytes, {total_samples} samples decoded and processed"
    )?;
    for w in aggregates.drain_closed(u64::MAX) {
        let by: Vec<String> = Emotion::ALL
            .iter()
            .filter(|e| w.detections[e.index()] > 0)
            .map(|e| format!("{}={}", e.as_str(), w.detections[e.index()]))
            .collect();
        writeln!(
            out,
            "minute {}: {} active sessions, detections {}, value at risk ${:.0}",
            w.minute,
            w.active_sessions,
            by.join(" "),
            w.value_at_risk_cents as f64 / 100.0
        )?;
    }
    Ok(())
}
