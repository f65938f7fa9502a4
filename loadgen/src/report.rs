//! The JSON report (`--report FILE`) and the human summary.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::run::Stats;
use crate::truth::EMOTIONS;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// p50/p99/p99.9/max in ms, or null when nothing was recorded.
pub fn latency(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
    })
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!((x * 10_000.0).round() / 10_000.0))
}

/// The report as the issue specifies it, plus counts that explain each figure.
pub fn report(s: &Stats, sessions: usize, elapsed: Duration, seed: u64, edges: &[String]) -> Value {
    let mut accuracy = serde_json::Map::new();
    for e in EMOTIONS {
        let c = s.score.by_emotion.get(e).copied().unwrap_or_default();
        accuracy.insert(
            e.to_string(),
            json!({
                "precision": opt(c.precision()),
                "recall": opt(c.recall()),
                "true": c.tp, "false": c.fp, "missed": c.missed, "repeats": c.repeats,
            }),
        );
    }
    let secs = elapsed.as_secs_f64();
    let mut transports = serde_json::Map::new();
    for (name, t) in &s.by_transport {
        transports.insert(
            name.to_string(),
            json!({
                "sessions_connected": t.sessions_connected,
                "frames_sent": t.frames_sent,
                "frames_per_s": if secs > 0.0 { (t.frames_sent as f64 / secs).round() } else { 0.0 },
                "samples_sent": t.samples_sent,
                "acked": t.acked,
                "reconnects": t.reconnects,
                "connect_ms": latency(&t.connect),
                "ack_ms": latency(&t.ack),
            }),
        );
    }
    json!({
        "seed": seed,
        "edges": edges,
        "sessions": sessions,
        "sessions_connected": s.sessions_connected,
        "personas": s.by_persona,
        "duration_s": (secs * 10.0).round() / 10.0,
        "frames_sent": s.frames_sent,
        "frames_resent": s.resent,
        "samples_sent": s.samples_sent,
        "samples_per_s": if secs > 0.0 { (s.samples_sent as f64 / secs).round() } else { 0.0 },
        "acked": s.acked,
        "unacked_at_end": s.unacked_at_end,
        "reconnects": s.reconnects,
        "errors": s.errors,
        "detections": s.detections,
        "interventions": s.interventions,
        "latency_ms": {
            "connect": latency(&s.hists.connect),
            "ack": latency(&s.hists.ack),
            "detection": latency(&s.hists.detection),
            "intervention": latency(&s.hists.intervention),
        },
        "accuracy": accuracy,
        "false_detections_calm": s.score.calm_false,
        "calm_session_hours": (s.score.calm_seconds / 3600.0 * 1000.0).round() / 1000.0,
        "false_per_calm_hour": opt(s.score.false_per_calm_hour()),
        "transports": transports,
    })
}

fn fmt_lat(v: &Value) -> String {
    if v.is_null() {
        return "—".into();
    }
    format!(
        "p50 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>8.2} ms  (n={})",
        v["p50"].as_f64().unwrap_or(0.0),
        v["p99"].as_f64().unwrap_or(0.0),
        v["p999"].as_f64().unwrap_or(0.0),
        v["max"].as_f64().unwrap_or(0.0),
        v["count"].as_u64().unwrap_or(0)
    )
}

fn pct(v: &Value) -> String {
    v.as_f64().map_or("—".into(), |x| format!("{:.3}", x))
}

/// The end-of-run summary for people.
pub fn summary(r: &Value) -> String {
    let mut out = String::new();
    let l = &r["latency_ms"];
    out.push_str(&format!(
        "sessions {} (connected {}), {:.0} s; frames {} sent, {} acked, {} unacked at end; samples {} ({}/s)\n",
        r["sessions"], r["sessions_connected"], r["duration_s"].as_f64().unwrap_or(0.0),
        r["frames_sent"], r["acked"], r["unacked_at_end"], r["samples_sent"], r["samples_per_s"]
    ));
    out.push_str(&format!(
        "errors: {}   reconnects: {}\n",
        r["errors"], r["reconnects"]
    ));
    out.push_str(&format!("connect       {}\n", fmt_lat(&l["connect"])));
    out.push_str(&format!("ack           {}\n", fmt_lat(&l["ack"])));
    out.push_str(&format!("detection     {}\n", fmt_lat(&l["detection"])));
    out.push_str(&format!("intervention  {}\n", fmt_lat(&l["intervention"])));
    if let Some(ts) = r["transports"]
        .as_object()
        .filter(|t| t.len() > 1 || t.contains_key("quic"))
    {
        for (name, t) in ts {
            out.push_str(&format!(
                "{name:<5} sessions {} frames {} ({}/s) acked {} reconnects {}\n  connect {}\n  ack     {}\n",
                t["sessions_connected"], t["frames_sent"], t["frames_per_s"], t["acked"], t["reconnects"],
                fmt_lat(&t["connect_ms"]), fmt_lat(&t["ack_ms"])
            ));
        }
    }
    out.push_str("emotion       precision  recall   true  false  missed\n");
    for e in EMOTIONS {
        let a = &r["accuracy"][e];
        out.push_str(&format!(
            "{:<13} {:>9}  {:>6}  {:>5}  {:>5}  {:>6}\n",
            e,
            pct(&a["precision"]),
            pct(&a["recall"]),
            a["true"],
            a["false"],
            a["missed"]
        ));
    }
    out.push_str(&format!(
        "false detections in calm sessions: {} over {} session-hours ({} per calm session-hour)\n",
        r["false_detections_calm"],
        r["calm_session_hours"],
        pct(&r["false_per_calm_hour"])
    ));
    out
}
