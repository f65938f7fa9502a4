//! The JSON report (`--report FILE`) and the human summary.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::alerts::expect::Plan;
use crate::alerts::score::{AlertScore, Odd};
use crate::run::Stats;
use crate::truth::EMOTIONS;
use crate::uplift::Tally;

/// How many missing, duplicated or unexpected alerts the report lists by name (all are counted).
pub const LISTED: usize = 20;

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
    let mut r = json!({
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
        "loadgen_lag_ms": {
            "send": latency(&s.hists.send_lag),
            "loop": latency(&s.hists.loop_lag),
        },
        "accuracy": accuracy,
        "false_detections_calm": s.score.calm_false,
        "calm_session_hours": (s.score.calm_seconds / 3600.0 * 1000.0).round() / 1000.0,
        "false_per_calm_hour": opt(s.score.false_per_calm_hour()),
        "transports": transports,
    });
    if let Some(t) = &s.uplift {
        r["experiment_truth"] = experiment_truth(t);
    }
    r
}

fn prob(v: f64) -> Value {
    json!((v * 1_000_000.0).round() / 1_000_000.0)
}

/// The experiment truth of a run with `--uplift` (`"experiment_truth"` in the report): per arm
/// the injected probability, the sessions that reached it as the loadgen saw them, the
/// conversions they sent and the realized rate; the injected uplift of each variant and of the
/// pooled treatment against the baseline.
pub fn experiment_truth(t: &Tally) -> Value {
    let u = &t.uplift;
    let arm = |name: &str, p: Option<f64>, a: &crate::uplift::ArmTally, baseline: bool| {
        json!({
            "arm": name,
            "baseline": baseline,
            "p": p.map_or(Value::Null, prob),
            "sessions": a.sessions,
            "conversions": a.conversions,
            "rate": opt(a.rate()),
            "outcomes_unsent": a.unsent,
        })
    };
    let mut arms = vec![arm(u.baseline_key, Some(u.baseline), &t.baseline, true)];
    // Variants in the flag's order, then any the edge showed that the flag does not name.
    for (v, p) in &u.variants {
        arms.push(arm(
            v,
            Some(*p),
            &t.variants.get(v).copied().unwrap_or_default(),
            false,
        ));
    }
    for (v, a) in t.variants.iter().filter(|(v, _)| u.p(v).is_none()) {
        arms.push(arm(v, None, a, false));
    }
    let mut uplift = serde_json::Map::new();
    for (v, d) in t.true_uplift() {
        let realized = match (t.variants.get(&v).and_then(|a| a.rate()), t.baseline.rate()) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        uplift.insert(
            v,
            json!({
                "true": prob(d),
                "true_relative": if u.baseline > 0.0 { prob(d / u.baseline) } else { Value::Null },
                "realized": opt(realized),
            }),
        );
    }
    let pooled_realized = match (t.pooled_rate(), t.baseline.rate()) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    json!({
        "baseline_key": u.baseline_key,
        "qualifying_emotions": if u.emotions.is_empty() { json!("any") } else { json!(u.emotions) },
        "arms": arms,
        "not_in_experiment": t.neither,
        "shown_sent": t.shown_sent,
        "uplift": uplift,
        "pooled": {
            "p": t.pooled_p().map_or(Value::Null, prob),
            "sessions": t.variants.values().map(|a| a.sessions).sum::<u64>(),
            "conversions": t.variants.values().map(|a| a.conversions).sum::<u64>(),
            "rate": opt(t.pooled_rate()),
            "true": t.pooled_true_uplift().map_or(Value::Null, prob),
            "true_relative": match t.pooled_true_uplift() {
                Some(d) if u.baseline > 0.0 => prob(d / u.baseline),
                _ => Value::Null,
            },
            "realized": opt(pooled_realized),
        },
    })
}

/// Percentage points of a probability difference, signed.
fn pp(v: &Value) -> String {
    v.as_f64()
        .map_or("—".into(), |x| format!("{:+.2} pp", x * 100.0))
}

/// A probability as a percentage.
fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or("—".into(), |x| format!("{:.2} %", x * 100.0))
}

/// The "Experiment truth" lines of the summary; empty without `--uplift`.
fn truth_summary(x: &Value) -> String {
    if x.is_null() {
        return String::new();
    }
    let emotions = match &x["qualifying_emotions"] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => "any".into(),
    };
    let mut out = format!(
        "Experiment truth (--uplift; qualifying episodes: {emotions}; arms as the loadgen saw them)\n"
    );
    out.push_str("  arm              injected  sessions  conversions  realized\n");
    let row = |name: &str, a: &Value| {
        format!(
            "  {:<16} {:>8}  {:>8}  {:>11}  {:>8}{}\n",
            name,
            percent(&a["p"]),
            a["sessions"].as_u64().unwrap_or(0),
            a["conversions"].as_u64().unwrap_or(0),
            percent(&a["rate"]),
            match a["outcomes_unsent"].as_u64() {
                Some(n) if n > 0 => format!("  ({n} sessions' outcomes not sent)"),
                _ => String::new(),
            }
        )
    };
    for a in x["arms"].as_array().into_iter().flatten() {
        let name = a["arm"].as_str().unwrap_or("-");
        let name = if a["baseline"].as_bool() == Some(true) {
            format!("{name} (none)")
        } else {
            name.to_string()
        };
        out.push_str(&row(&name, a));
    }
    let p = &x["pooled"];
    out.push_str(&row("pooled (shown)", p));
    let base = x["baseline_key"].as_str().unwrap_or("holdout");
    out.push_str(&format!("  true uplift against {base}:"));
    if let Some(m) = x["uplift"].as_object() {
        for (v, d) in m {
            out.push_str(&format!(
                "  {v} {} (realized {});",
                pp(&d["true"]),
                pp(&d["realized"])
            ));
        }
    }
    out.push_str(&format!(
        "  pooled {} (weighted by sessions; realized {})\n",
        pp(&p["true"]),
        pp(&p["realized"])
    ));
    out.push_str(&format!(
        "  not in the experiment (no qualifying episode, no iv): {}   out shown sent: {}\n",
        x["not_in_experiment"], x["shown_sent"]
    ));
    out
}

fn odd(v: &[Odd]) -> Value {
    Value::Array(
        v.iter()
            .take(LISTED)
            .map(|o| json!({"alert": o.alert, "account": o.account, "session": o.session, "why": o.why}))
            .collect(),
    )
}

/// The alert sink's figures (`"alerts"` in the report).
pub fn alerts(s: &AlertScore, plan: &Plan, sink: &str, drain: Duration, dropped: u64) -> Value {
    let mut channels = serde_json::Map::new();
    for (name, c) in &s.by_channel {
        channels.insert(
            name.to_string(),
            json!({"accepted": c.accepted, "alerts": c.alerts, "latency_ms": latency(&c.latency)}),
        );
    }
    json!({
        "sink": sink,
        "clean": s.clean(),
        "expected": s.expected,
        "received": s.received,
        "matched": s.matched,
        "missing": s.missing.len(),
        "duplicated": s.duplicated(),
        "duplicated_alerts": s.duplicated_alerts.len(),
        "duplicated_deliveries": s.duplicated_deliveries.iter().map(|(_, n)| n.saturating_sub(1)).sum::<u32>(),
        "unexpected": s.unexpected.len(),
        "signature_failures": s.signature_failures,
        "rejected": s.rejected,
        "other_events": s.other_events,
        "records_dropped": dropped,
        "latency_ms": latency(&s.latency),
        "latency_from_intended_ms": latency(&s.from_intended),
        "edge_latency_ms": latency(&s.edge),
        "untimed": s.untimed,
        "by_channel": channels,
        "expected_folded": plan.folded,
        "expected_exact": plan.exact,
        "undeliverable_escalations": plan.undeliverable,
        "truth": {
            "accounts": plan.truth_accounts.len(),
            "not_expected": s.truth_not_expected.iter().take(LISTED).collect::<Vec<_>>(),
            "not_expected_count": s.truth_not_expected.len(),
            "expected_not_truth": s.expected_not_truth.iter().take(LISTED).collect::<Vec<_>>(),
            "expected_not_truth_count": s.expected_not_truth.len(),
        },
        "missing_alerts": s.missing.iter().take(LISTED)
            .map(|m| json!({"account": m.account, "session": m.session})).collect::<Vec<_>>(),
        "duplicated_alert_list": odd(&s.duplicated_alerts),
        "duplicated_delivery_list": s.duplicated_deliveries.iter().take(LISTED)
            .map(|(d, n)| json!({"delivery": d, "accepted": n})).collect::<Vec<_>>(),
        "unexpected_alerts": odd(&s.unexpected),
        "drain_s": (drain.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// What an alert sink without a plan received (`"alerts"` in the report; see
/// [`crate::alerts::score::Received`]).
pub fn alerts_received(
    r: &crate::alerts::score::Received<'_>,
    sink: &str,
    drain: Duration,
    dropped: u64,
) -> Value {
    json!({
        "sink": sink,
        "planned": false,
        "received": r.accepted,
        "alerts": r.alerts.len(),
        "duplicated_deliveries": r.duplicated_deliveries.iter().map(|(_, n)| n.saturating_sub(1)).sum::<u32>(),
        "signature_failures": r.signature_failures,
        "rejected": r.rejected,
        "other_events": r.other_events,
        "records_dropped": dropped,
        "edge_latency_ms": latency(&r.edge),
        "alert_list": r.alerts.iter().take(LISTED).map(|a| json!({
            "alert": a.alert, "channel": a.channel.name(), "account": a.account, "user": a.uid,
            "emotion": a.emotion, "link": a.link,
        })).collect::<Vec<_>>(),
        "drain_s": (drain.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// The lines of an alert sink without a plan.
fn received_summary(a: &Value) -> String {
    let mut out = format!(
        "alerts        received {} pages of {} alerts  duplicated deliveries {}  signature failures {}  rejected {}  (not scored: no --edge-config)\n",
        a["received"],
        a["alerts"],
        a["duplicated_deliveries"],
        a["signature_failures"],
        a["rejected"]
            .as_object()
            .map_or(0, |r| r.values().filter_map(Value::as_u64).sum::<u64>()),
    );
    out.push_str(&format!(
        "  edge view   {}  (detected_at -> received, ms clocks)\n",
        fmt_lat(&a["edge_latency_ms"])
    ));
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for x in a["alert_list"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:<8} {:<10} {:<24} {}\n",
            s(&x["alert"]),
            s(&x["channel"]),
            s(&x["emotion"]),
            s(&x["account"]),
            s(&x["link"])
        ));
    }
    out
}

/// The alert lines of the summary; empty without an alert sink.
fn alert_summary(a: &Value) -> String {
    if a.is_null() {
        return String::new();
    }
    if a["planned"] == json!(false) {
        return received_summary(a);
    }
    let mut out = format!(
        "alerts        expected {}  received {}  missing {}  duplicated {} (alerts {}, deliveries {})  unexpected {}  signature failures {}  rejected {}\n",
        a["expected"],
        a["received"],
        a["missing"],
        a["duplicated"],
        a["duplicated_alerts"],
        a["duplicated_deliveries"],
        a["unexpected"],
        a["signature_failures"],
        a["rejected"]
            .as_object()
            .map_or(0, |r| r.values().filter_map(Value::as_u64).sum::<u64>()),
    );
    out.push_str(&format!(
        "alert latency {}  (frame sent -> request received)\n",
        fmt_lat(&a["latency_ms"])
    ));
    out.push_str(&format!(
        "  edge view   {}  (detected_at -> received, ms clocks)\n",
        fmt_lat(&a["edge_latency_ms"])
    ));
    if let Some(cs) = a["by_channel"].as_object() {
        for (name, c) in cs {
            out.push_str(&format!(
                "  {name:<10}  {} accepted, {} alerts: {}\n",
                c["accepted"],
                c["alerts"],
                fmt_lat(&c["latency_ms"])
            ));
        }
    }
    let t = &a["truth"];
    out.push_str(&format!(
        "  expected from the core: {} alerts ({} escalations fold into them){}; truth: {} accounts must page, {} of them not paged by the core, {} paged beyond the truth\n",
        a["expected"],
        a["expected_folded"],
        if a["expected_exact"].as_bool() == Some(false) { " [inexact: an alert closes during the run]" } else { "" },
        t["accounts"], t["not_expected_count"], t["expected_not_truth_count"],
    ));
    if a["clean"].as_bool() != Some(true) {
        out.push_str("ALERTS NOT CLEAN:");
        for (k, what) in [
            ("missing_alerts", "missing"),
            ("duplicated_alert_list", "duplicated alert"),
            ("duplicated_delivery_list", "duplicated delivery"),
            ("unexpected_alerts", "unexpected"),
        ] {
            for x in a[k].as_array().into_iter().flatten() {
                out.push_str(&format!("\n  {what}: {x}"));
            }
        }
        if a["signature_failures"].as_u64().unwrap_or(0) > 0 {
            out.push_str(&format!(
                "\n  signature failures: {}",
                a["signature_failures"]
            ));
        }
        out.push('\n');
    }
    out
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
    // The loadgen's own lateness (included in the latencies above, which count from each
    // frame's intended send time): large values here mean the loadgen, not the edge, was late.
    let lag = &r["loadgen_lag_ms"];
    out.push_str(&format!("loadgen send lag  {}\n", fmt_lat(&lag["send"])));
    out.push_str(&format!("loadgen loop lag  {}\n", fmt_lat(&lag["loop"])));
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
    out.push_str(&alert_summary(&r["alerts"]));
    out.push_str(&truth_summary(&r["experiment_truth"]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uplift::{Seen, SessionOutcome, Tally, Uplift};

    #[test]
    fn the_report_prints_the_experiment_truth_beside_what_the_sessions_did() {
        let mut s = Stats::default();
        let none = report(&s, 1, Duration::from_secs(1), 1, &[]);
        assert!(none.get("experiment_truth").is_none());
        assert!(!summary(&none).contains("Experiment truth"));
        let u = Uplift::parse("holdout=0.05,chat=0.08,offer=0.06").expect("valid");
        let mut t = Tally::new(u);
        let o = |arm: Seen, converts: bool| SessionOutcome {
            session: 0,
            arm,
            qualified: true,
            converts,
            sent: true,
            ivs: 1,
            shown: 1,
        };
        for i in 0..4 {
            t.add(o(Seen::Variant("chat".into()), i == 0));
            t.add(o(Seen::Baseline, false));
        }
        t.add(o(Seen::Variant("offer".into()), true));
        t.add(o(Seen::Variant("mystery".into()), false));
        s.uplift = Some(t);
        let r = report(&s, 10, Duration::from_secs(1), 1, &[]);
        let x = &r["experiment_truth"];
        let arms: Vec<&str> = x["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .filter_map(|a| a["arm"].as_str())
            .collect();
        assert_eq!(arms, ["holdout", "chat", "offer", "mystery"]);
        assert_eq!(x["arms"][1]["p"], 0.08);
        assert_eq!(x["arms"][1]["sessions"], 4);
        assert_eq!(x["arms"][1]["conversions"], 1);
        assert_eq!(x["arms"][1]["rate"], 0.25);
        assert_eq!(x["arms"][3]["p"], Value::Null);
        assert_eq!(x["uplift"]["chat"]["true"], 0.03);
        assert_eq!(x["uplift"]["offer"]["true"], 0.01);
        // Pooled over 6 shown sessions: (4 × 8 % + 6 % + 0) / 6 = 6.33 %, 1.33 pp above.
        assert_eq!(x["pooled"]["true"], 0.013333);
        assert_eq!(x["pooled"]["sessions"], 6);
        let text = summary(&r);
        assert!(text.contains("Experiment truth"), "{text}");
        assert!(text.contains("holdout (none)"), "{text}");
        assert!(text.contains("chat +3.00 pp"), "{text}");
        assert!(text.contains("pooled +1.33 pp"), "{text}");
    }
}
