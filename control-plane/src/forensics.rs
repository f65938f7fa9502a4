//! Revenue forensics of a tenant (issue 17), from what edges reported: per experiment the
//! arms, their intervals, the uplift against the holdout and the money claims
//! (`sentientiq_experiments::forensics`), and the failures beside them — false alarms people
//! labelled, escalations nobody answered, deliveries that failed, interventions dismissed.
//!
//! Pure: the service reads the windows and alerts, this builds the report and its table.
//! The same numbers come from the lake (`docs/FORENSICS.md` has the DuckDB query).

use std::collections::BTreeMap;

use sentientiq_experiments::{Claim, ExperimentCounts, NoClaim, Report, Srm, forensics};
use sentientiq_proto::grpc::{ExperimentTotals, ExperimentWindow, Tenant};
use sentientiq_tenant::plane::{arm_counts, counts_of};
use serde::{Deserialize, Serialize};

use crate::store::alerts::{MAX_ANALYZED_ALERTS, Opened};
use crate::store::experiments::to_tallies;

/// The longest range one request may cover (a year of minutes).
pub const MAX_RANGE_MINUTES: i64 = MAX_DAYS * 24 * 60;
/// The same in days (`siqctl forensics --days`, the dashboard's `?days=`).
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantForensics {
    pub tenant: String,
    pub from_minute: i64,
    pub to_minute: i64,
    pub experiments: Vec<ExperimentForensics>,
    pub failures: Failures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentForensics {
    pub rule: String,
    /// Edge boots that reported counts of it in the range.
    pub edges: usize,
    /// `None` when the rule no longer runs an experiment (its counts are kept, not judged).
    pub report: Option<Report>,
}

/// What went wrong, counted in the range and shown beside the wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failures {
    /// Alerts opened in the range.
    pub alerts: u64,
    /// Alerts a person marked *False alarm*.
    pub false_alarms: u64,
    /// Alerts someone acknowledged.
    pub acknowledged: u64,
    /// Alerts nobody acknowledged or labelled (still open, or closed unanswered).
    pub unanswered: u64,
    /// Deliveries that failed or were given up on.
    pub failed_deliveries: u64,
    /// Sessions shown an experiment's intervention, and those that dismissed it.
    pub interventions_shown: u64,
    pub interventions_dismissed: u64,
    /// The range held more alerts than the newest [`MAX_ANALYZED_ALERTS`] the counts above
    /// are of (a lower bound).
    pub alerts_capped: bool,
}

/// Why the range is refused.
pub fn check_range(from: i64, to: i64) -> Result<(), String> {
    check_span(
        from,
        to,
        MAX_RANGE_MINUTES,
        "minute",
        &format!("{MAX_RANGE_MINUTES} minutes (366 days)"),
    )
}

/// Why a range `[from, to)` of `unit`s (`to_{unit}`, `from_{unit}` in the refusal) is refused:
/// empty, or longer than `max` (said as `cap`). The one range check of Forensics, Evi and
/// Usage.
pub fn check_span(from: i64, to: i64, max: i64, unit: &str, cap: &str) -> Result<(), String> {
    if to <= from {
        return Err(format!("to_{unit} {to} must be after from_{unit} {from}"));
    }
    // Checked: `to - from` far apart passes i64 (and wrapped, would pass the cap).
    match to.checked_sub(from) {
        Some(n) if n <= max => Ok(()),
        n => Err(format!(
            "a range covers at most {cap}, not {}",
            n.map_or_else(|| "that many".to_string(), |n| n.to_string())
        )),
    }
}

/// Every rule's counts over the windows, arms by id, by rule; and how many edge boots
/// reported each.
pub fn totals(tenant: &str, windows: &[ExperimentWindow]) -> (Vec<ExperimentTotals>, Vec<usize>) {
    type Rule<'a> = (
        BTreeMap<String, sentientiq_experiments::ArmCounts>,
        std::collections::BTreeSet<&'a str>,
        i64,
    );
    let mut by_rule: BTreeMap<&str, Rule<'_>> = BTreeMap::new();
    for w in windows {
        let (arms, edges, value) = by_rule.entry(&w.rule).or_default();
        edges.insert(&w.edge_id);
        *value = value.saturating_add(w.value_at_risk_cents);
        for a in &w.arms {
            arms.entry(a.variant.clone())
                .or_insert_with(sentientiq_experiments::ArmCounts::default)
                .merge(&arm_counts(a));
        }
    }
    by_rule
        .into_iter()
        .map(|(rule, (arms, edges, value))| {
            (
                ExperimentTotals {
                    tenant_id: tenant.to_string(),
                    rule: rule.to_string(),
                    arms: to_tallies(&arms),
                    value_at_risk_cents: value,
                },
                edges.len(),
            )
        })
        .unzip()
}

/// The experiments a tenant runs now, validated by the edges' own validator. Only the rules
/// with an experiment are judged here, so the rest (an escalation naming a chain of the
/// alerting config, which admins' views leave out) is set aside first.
fn running(tenant: &Tenant) -> Option<sentientiq_tenant::Tenant> {
    let mut t = tenant.clone();
    t.rules.retain(|r| {
        matches!(
            r.action,
            Some(sentientiq_proto::grpc::rule::Action::Experiment(_))
        )
    });
    sentientiq_tenant::plane::validate(&t).ok()
}

/// The report of `tenant` over `[from, to)` minutes, from its experiment windows and alerts
/// (those opened in the range count). Each experiment's value at risk is the lifetime value of
/// the sessions it assigned, summed (edges report it with the counts).
pub fn tenant_forensics(
    tenant: &Tenant,
    from: i64,
    to: i64,
    experiments: &[ExperimentWindow],
    alerts: &Opened,
) -> TenantForensics {
    let running = running(tenant);
    let (totals, edges) = totals(&tenant.id, experiments);
    let mut out = Vec::new();
    let mut failures = Failures::default();
    // Rules with an experiment now, counted or not, then rules with counts only.
    let mut rules: Vec<String> = running
        .as_ref()
        .map(|t| t.experiments.keys().map(|r| r.to_string()).collect())
        .unwrap_or_default();
    rules.sort();
    for t in &totals {
        if !rules.contains(&t.rule) {
            rules.push(t.rule.clone());
        }
    }
    for rule in rules {
        let i = totals.iter().position(|t| t.rule == rule);
        let x = running
            .as_ref()
            .and_then(|t| t.experiments.get(rule.as_str()));
        let report = x.map(|x| {
            let (counts, value) = i.map_or((ExperimentCounts::default(), 0), |i| {
                (
                    counts_of(&x.experiment, &totals[i].arms),
                    totals[i].value_at_risk_cents,
                )
            });
            forensics(&x.experiment, &counts, value)
        });
        if let Some(i) = i {
            for a in &totals[i].arms {
                failures.interventions_shown += a.shown;
                failures.interventions_dismissed += a.dismissed;
            }
        }
        out.push(ExperimentForensics {
            rule,
            edges: i.map_or(0, |i| edges[i]),
            report,
        });
    }
    failures.alerts_capped = alerts.capped;
    let (lo, hi) = (from.saturating_mul(60_000), to.saturating_mul(60_000));
    for a in alerts
        .alerts
        .iter()
        .filter(|a| a.tenant_id == tenant.id && (lo..hi).contains(&a.opened_ms))
    {
        failures.alerts += 1;
        match a.state.as_str() {
            "false_alarm" => failures.false_alarms += 1,
            "acknowledged" => failures.acknowledged += 1,
            _ if a.acked_by.is_empty() => failures.unanswered += 1,
            _ => failures.acknowledged += 1,
        }
        failures.failed_deliveries += a
            .deliveries
            .iter()
            .filter(|d| d.status == "failed" || d.status == "gave_up")
            .count() as u64;
    }
    TenantForensics {
        tenant: tenant.id.clone(),
        from_minute: from,
        to_minute: to,
        experiments: out,
        failures,
    }
}

fn pct(e: Option<sentientiq_experiments::Estimate>) -> String {
    e.map_or("—".into(), |e| {
        format!(
            "{:.2} % [{:.2}, {:.2}]",
            100.0 * e.point,
            100.0 * e.lo,
            100.0 * e.hi
        )
    })
}

fn pts(e: Option<sentientiq_experiments::Estimate>) -> String {
    e.map_or("—".into(), |e| {
        format!(
            "{:+.2} pt [{:+.2}, {:+.2}]",
            100.0 * e.point,
            100.0 * e.lo,
            100.0 * e.hi
        )
    })
}

fn dollars(e: Option<sentientiq_experiments::TEstimate>) -> String {
    e.map_or("—".into(), |t| {
        let e = t.estimate;
        format!(
            "${:.2} [{:.2}, {:.2}]",
            e.point / 100.0,
            e.lo / 100.0,
            e.hi / 100.0
        )
    })
}

/// The holdout check as text.
pub fn srm_text(srm: &Srm) -> String {
    match srm {
        Srm::NoHoldout => "no holdout configured".to_string(),
        Srm::TooFewSessions { sessions } => format!("too few sessions ({sessions}) to check"),
        Srm::Checked(c) => format!(
            "{:.1} % held out of {} (expected {:.1} %), p = {:.3}{}",
            100.0 * c.observed_share,
            c.total_sessions,
            100.0 * c.expected_share,
            c.p_value,
            if c.alert {
                " — SAMPLE RATIO MISMATCH"
            } else {
                ""
            }
        ),
    }
}

/// A money or churn claim as text: the estimate and interval, or why it is not claimed.
pub fn claim_text(c: &Claim, unit: &str, scale: f64) -> String {
    let e = |e: &sentientiq_experiments::Estimate| {
        format!(
            "{:.1} [{:.1}, {:.1}] {unit}",
            e.point / scale,
            e.lo / scale,
            e.hi / scale
        )
    };
    match c {
        Claim::Supported(x) => e(x),
        Claim::NotSupported(why) => match why {
            NoClaim::NoHoldout => "not claimed: no holdout to compare with".into(),
            NoClaim::SampleRatioMismatch { p_value } => {
                format!("not claimed: holdout share mismatch (p = {p_value:.2e})")
            }
            NoClaim::TooFewSessions { sessions } => {
                format!("not claimed: too few sessions ({sessions}) to check the holdout")
            }
            NoClaim::Skewed { skewness } => format!(
                "not claimed: revenue too skewed (skewness {})",
                skewness.map_or("unknown".into(), |g| format!("{g:.2}"))
            ),
            NoClaim::NotSignificant(x) => format!("not significant: {}", e(x)),
            NoClaim::Harmful(x) => format!("HARMFUL: {}", e(x)),
        },
    }
}

/// The report as a person reads it: one table per experiment, then the failures.
pub fn render(f: &TenantForensics) -> String {
    let mut s = format!(
        "Forensics of {} (last {} minutes)\n",
        f.tenant,
        f.to_minute - f.from_minute
    );
    if f.experiments.is_empty() {
        s += "  no experiments\n";
    }
    for x in &f.experiments {
        let Some(r) = &x.report else {
            s += &format!(
                "\nrule {}: no experiment runs on it now (counts kept)\n",
                x.rule
            );
            continue;
        };
        s += &format!(
            "\nrule {} — reported by {} edge boot(s); value at risk ${:.2} (lifetime value of the \
             sessions it assigned)\n",
            x.rule,
            x.edges,
            r.value_at_risk_cents as f64 / 100.0
        );
        s += &format!(
            "  {:<14} {:>8} {:>6} {:<26} {:<26} {:<28} {:>7}\n",
            "arm",
            "sessions",
            "conv",
            "conversion (95 %)",
            "revenue/session",
            "uplift vs holdout",
            "P(best)"
        );
        let row = |name: &str, a: &sentientiq_experiments::ArmReport, up: String, pb: String| {
            format!(
                "  {:<14} {:>8} {:>6} {:<26} {:<26} {:<28} {:>7}\n",
                name,
                a.counts.sessions,
                a.counts.conversions,
                pct(a.conversion_rate),
                dollars(a.revenue_per_session),
                up,
                pb
            )
        };
        s += &row("holdout", &r.holdout, "(baseline)".into(), String::new());
        for v in &r.variants {
            let name = if v.paused {
                format!("{} (paused)", v.id)
            } else {
                v.id.clone()
            };
            s += &row(
                &name,
                &v.arm,
                pts(v.uplift_vs_holdout.conversion),
                format!("{:.3}", v.prob_best),
            );
        }
        s += &row(
            "all variants",
            &r.treated,
            pts(r.uplift.conversion),
            String::new(),
        );
        s += &format!("  holdout check: {}\n", srm_text(&r.srm));
        s += &format!(
            "  revenue uplift per session (Welch ∪ Hall): {}\n",
            dollars(r.uplift.revenue_per_session_corrected)
        );
        s += &format!(
            "  prevented churn: {}\n",
            claim_text(&r.prevented_churn, "sessions", 1.0)
        );
        s += &format!(
            "  attributed revenue: {}\n",
            claim_text(&r.attributed_revenue_cents, "dollars", 100.0)
        );
        s += "  (per-variant uplifts are adaptively collected: shown, never claimed)\n";
    }
    let fl = &f.failures;
    s += &format!(
        "\nfailures: {} false alarm(s) of {} alert(s), {} unanswered, {} acknowledged, \
         {} failed deliver(ies); interventions dismissed {} of {} shown\n",
        fl.false_alarms,
        fl.alerts,
        fl.unanswered,
        fl.acknowledged,
        fl.failed_deliveries,
        fl.interventions_dismissed,
        fl.interventions_shown
    );
    if fl.alerts_capped {
        s += &format!("  (alert counts are of the newest {MAX_ANALYZED_ALERTS} alerts only)\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_experiments::ArmCounts;
    use sentientiq_proto::grpc::{
        AlertDelivery, AlertRecord, Experiment, Rule, Variant, rule::Action,
    };
    use sentientiq_tenant::plane::arm_tally;

    fn tenant() -> Tenant {
        let v = |id: &str| Variant {
            id: id.into(),
            kind: "chat".into(),
            payload_json: "{}".into(),
            paused: false,
        };
        Tenant {
            id: "acme".into(),
            rules: vec![Rule {
                id: "help".into(),
                emotions: vec!["rage".into()],
                action: Some(Action::Experiment(Experiment {
                    variants: vec![v("chat"), v("offer")],
                    holdout_share: Some(0.2),
                    ..Experiment::default()
                })),
                ..Rule::default()
            }],
            ..Tenant::default()
        }
    }

    fn window(edge: &str, minute: i64, rule: &str, arms: &[(&str, u64, u64)]) -> ExperimentWindow {
        ExperimentWindow {
            tenant_id: "acme".into(),
            region: "r".into(),
            edge_id: edge.into(),
            minute,
            rule: rule.into(),
            arms: arms
                .iter()
                .map(|(v, n, conv)| {
                    arm_tally(
                        v,
                        &ArmCounts {
                            sessions: *n,
                            conversions: *conv,
                            shown: if v.is_empty() { 0 } else { *n },
                            dismissed: u64::from(!v.is_empty()),
                            ..ArmCounts::default()
                        },
                    )
                })
                .collect(),
            value_at_risk_cents: 1_000,
        }
    }

    fn alert(state: &str, acked_by: &str, opened_min: i64, failed: bool) -> AlertRecord {
        AlertRecord {
            tenant_id: "acme".into(),
            state: state.into(),
            acked_by: acked_by.into(),
            opened_ms: opened_min * 60_000,
            deliveries: vec![AlertDelivery {
                status: if failed { "gave_up" } else { "delivered" }.into(),
                ..AlertDelivery::default()
            }],
            ..AlertRecord::default()
        }
    }

    #[test]
    fn edges_and_minutes_add_up_and_failures_are_counted_beside_the_wins() {
        let windows = [
            window("e1@1", 10, "help", &[("", 4, 1), ("chat", 10, 3)]),
            window("e2@1", 10, "help", &[("", 1, 0), ("offer", 5, 2)]),
            window("e1@1", 11, "help", &[("chat", 2, 1)]),
            // A rule whose experiment was removed: kept, not judged.
            window("e1@1", 11, "old", &[("", 1, 1)]),
        ];
        let alerts = Opened {
            alerts: vec![
                alert("false_alarm", "ceo", 10, false),
                alert("acknowledged", "csm", 10, false),
                alert("open", "", 11, true),
                alert("closed", "", 11, false),
                // Outside the range: not counted.
                alert("false_alarm", "ceo", 99, false),
            ],
            capped: false,
        };
        let f = tenant_forensics(&tenant(), 10, 12, &windows, &alerts);
        assert_eq!(f.experiments.len(), 2);
        let help = &f.experiments[0];
        assert_eq!((help.rule.as_str(), help.edges), ("help", 2));
        let r = help.report.as_ref().expect("runs an experiment");
        assert_eq!(
            r.value_at_risk_cents, 3_000,
            "three windows of the rule, 1000 each"
        );
        assert_eq!(
            (r.holdout.counts.sessions, r.holdout.counts.conversions),
            (5, 1)
        );
        assert_eq!(
            (
                r.variants[0].arm.counts.sessions,
                r.variants[1].arm.counts.sessions
            ),
            (12, 5)
        );
        assert_eq!(r.treated.counts.conversions, 6);
        assert_eq!(
            (f.experiments[1].rule.as_str(), &f.experiments[1].report),
            ("old", &None)
        );
        assert_eq!(
            f.failures,
            Failures {
                alerts: 4,
                false_alarms: 1,
                acknowledged: 1,
                unanswered: 2,
                failed_deliveries: 1,
                interventions_shown: 17,
                interventions_dismissed: 3,
                alerts_capped: false,
            }
        );
        let text = render(&f);
        for want in [
            "rule help",
            "holdout",
            "chat",
            "offer",
            "1 false alarm(s) of 4",
            "no experiment runs on it now",
        ] {
            assert!(text.contains(want), "{want}: {text}");
        }
    }

    #[test]
    fn the_report_round_trips_through_json_even_with_constant_samples() {
        // No revenue anywhere: every revenue interval has se 0 and an infinite df.
        let windows = [window(
            "e1@1",
            10,
            "help",
            &[("", 40, 4), ("chat", 40, 8), ("offer", 40, 6)],
        )];
        let none = Opened {
            alerts: vec![],
            capped: false,
        };
        let f = tenant_forensics(&tenant(), 10, 11, &windows, &none);
        let json = serde_json::to_string(&f).expect("json");
        assert!(json.contains("\"df\":\"inf\""), "{json}");
        let back: TenantForensics = serde_json::from_str(&json).expect("parses back");
        // serde_json parses floats to within an ulp (no `float_roundtrip`): compare what is
        // exact — the counts, the failures — and the infinite df.
        let (r0, r1) = (
            f.experiments[0].report.as_ref().expect("report"),
            back.experiments[0].report.as_ref().expect("report"),
        );
        assert_eq!(back.failures, f.failures);
        assert_eq!(r1.holdout.counts, r0.holdout.counts);
        assert_eq!(r1.treated.counts, r0.treated.counts);
        let df = |r: &Report| r.uplift.revenue_per_session.map(|t| t.df);
        assert_eq!(df(r1), Some(f64::INFINITY));
        assert_eq!(df(r1), df(r0));
    }

    #[test]
    fn ranges_are_checked_at_their_limits() {
        assert!(check_range(10, 10).is_err());
        assert!(check_range(10, 9).is_err());
        assert!(check_range(0, MAX_RANGE_MINUTES - 1).is_ok());
        assert!(check_range(0, MAX_RANGE_MINUTES).is_ok());
        assert!(check_range(0, MAX_RANGE_MINUTES + 1).is_err());
        // Minutes far apart: refused, not wrapped past the cap (nor a panic).
        assert!(check_range(-2, i64::MAX).is_err());
        assert!(check_range(i64::MIN, 0).is_err());
        // The words, as callers pin them.
        assert_eq!(
            check_range(10, 10),
            Err("to_minute 10 must be after from_minute 10".into())
        );
        assert_eq!(
            check_range(0, MAX_RANGE_MINUTES + 1),
            Err("a range covers at most 527040 minutes (366 days), not 527041".into())
        );
        assert_eq!(
            check_range(-2, i64::MAX),
            Err("a range covers at most 527040 minutes (366 days), not that many".into())
        );
    }
}
