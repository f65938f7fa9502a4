//! Expected alerts against what the sink received. Pure: every time is a number given in.
//!
//! - An **alert** is an alert id among the accepted pages (a webhook, a Slack post, a PagerDuty
//!   `trigger`); its account is the one its body names (else its session's).
//! - Per account, received alerts are taken in time order against the plan's expected ones:
//!   the first ones **match**, any further alert of the account is **duplicated** (two alerts
//!   for one account within its group window), expected ones left over are **missing**. An
//!   alert for an account with nothing expected is **unexpected** (anonymous, low value, a
//!   session the core does not escalate, or no session of this run).
//! - A delivery (`webhook-id`, Slack link delivery, PagerDuty `dedup_key` + action) accepted
//!   more than once is a **duplicated delivery**.
//! - **Latency** of a matched alert: its first accepted request's arrival minus the moment the
//!   loadgen sent the frame that completed its evidence (of the alert's own session; when that
//!   session sent several escalating frames, the one nearest the edge's `detected_at`), both on
//!   the same monotonic clock. Also from the frame's intended send time, per channel, and the
//!   edge's own view: arrival (wall clock) minus `detected_at` (the edge's wall clock when the
//!   frame arrived).

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use super::expect::Plan;
use super::sink::{Arrival, Channel, Verdict, repeated_deliveries};
use crate::run::hist;

/// When a watched frame was first sent, µs after the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub session: usize,
    pub seq: u64,
    pub sent_us: u64,
    pub intended_us: u64,
}

/// An alert that should not have been sent, or was sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Odd {
    pub alert: String,
    pub account: Option<String>,
    pub session: Option<String>,
    pub why: String,
}

/// An expected alert that did not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub account: String,
    /// The session whose escalation the plan expected to open it.
    pub session: String,
}

/// Per channel: accepted pages, the alerts they were about, their latency (µs).
#[derive(Debug)]
pub struct PerChannel {
    pub accepted: u64,
    pub alerts: u64,
    pub latency: Histogram<u64>,
}

impl Default for PerChannel {
    fn default() -> Self {
        PerChannel {
            accepted: 0,
            alerts: 0,
            latency: hist(),
        }
    }
}

/// The figures of one run. Latencies in µs.
#[derive(Debug)]
pub struct AlertScore {
    pub expected: u64,
    /// Distinct alerts among accepted pages.
    pub received: u64,
    pub matched: u64,
    pub missing: Vec<Missing>,
    pub duplicated_alerts: Vec<Odd>,
    /// (delivery, times accepted) for deliveries accepted more than once.
    pub duplicated_deliveries: Vec<(String, u32)>,
    pub unexpected: Vec<Odd>,
    pub signature_failures: u64,
    /// Other refusals by reason (malformed requests, the body limit).
    pub rejected: BTreeMap<String, u64>,
    /// Accepted requests that page nobody (PagerDuty acknowledge/resolve).
    pub other_events: u64,
    /// Sent frame → first accepted request.
    pub latency: Histogram<u64>,
    /// Intended send time of that frame → first accepted request.
    pub from_intended: Histogram<u64>,
    /// The edge's `detected_at` → arrival (wall clocks, ms resolution).
    pub edge: Histogram<u64>,
    pub by_channel: BTreeMap<&'static str, PerChannel>,
    /// Matched alerts whose completing frame's send time is unknown (not timed).
    pub untimed: u64,
    /// Accounts the generator's truth says must page that the core does not page, and the
    /// reverse (detection figures, not delivery faults).
    pub truth_not_expected: Vec<String>,
    pub expected_not_truth: Vec<String>,
}

impl AlertScore {
    pub fn duplicated(&self) -> u64 {
        self.duplicated_alerts.len() as u64
            + self
                .duplicated_deliveries
                .iter()
                .map(|(_, n)| u64::from(n.saturating_sub(1)))
                .sum::<u64>()
    }

    /// Nothing missing, duplicated, unexpected or badly signed.
    pub fn clean(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated() == 0
            && self.unexpected.is_empty()
            && self.signature_failures == 0
    }
}

/// One alert as received.
#[derive(Debug)]
struct Got<'a> {
    alert: &'a str,
    first: &'a Arrival,
    session: Option<usize>,
    sid: Option<&'a str>,
    account: Option<String>,
    detected_at_ms: Option<u64>,
    /// First accepted arrival per channel.
    channels: BTreeMap<Channel, &'a Arrival>,
}

fn record_us(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, 600_000_000));
}

/// Scores `arrivals` against `plan`. `sent` are the first sends of the watched frames;
/// `epoch_wall_ms` is the wall clock at the epoch `sent_us` counts from.
pub fn score(plan: &Plan, arrivals: &[Arrival], sent: &[Sent], epoch_wall_ms: u64) -> AlertScore {
    let mut s = AlertScore {
        expected: plan.alerts.len() as u64,
        received: 0,
        matched: 0,
        missing: Vec::new(),
        duplicated_alerts: Vec::new(),
        duplicated_deliveries: repeated_deliveries(arrivals),
        unexpected: Vec::new(),
        signature_failures: 0,
        rejected: BTreeMap::new(),
        other_events: 0,
        latency: hist(),
        from_intended: hist(),
        edge: hist(),
        by_channel: BTreeMap::new(),
        untimed: 0,
        truth_not_expected: Vec::new(),
        expected_not_truth: Vec::new(),
    };
    let mut gots: BTreeMap<&str, Got<'_>> = BTreeMap::new();
    for a in arrivals {
        match &a.verdict {
            Verdict::BadSignature => s.signature_failures += 1,
            Verdict::Rejected(why) => *s.rejected.entry(why.clone()).or_default() += 1,
            Verdict::Accepted if !a.page => s.other_events += 1,
            Verdict::Accepted => {
                s.by_channel.entry(a.channel.name()).or_default().accepted += 1;
                let Some(alert) = a.alert.as_deref() else {
                    s.unexpected.push(Odd {
                        alert: String::new(),
                        account: a.account.clone(),
                        session: a.session.clone(),
                        why: format!("a {} page that names no alert", a.channel.name()),
                    });
                    continue;
                };
                let g = gots.entry(alert).or_insert_with(|| Got {
                    alert,
                    first: a,
                    session: None,
                    sid: None,
                    account: None,
                    detected_at_ms: None,
                    channels: BTreeMap::new(),
                });
                if a.at_us < g.first.at_us {
                    g.first = a;
                }
                g.channels
                    .entry(a.channel)
                    .and_modify(|f| {
                        if a.at_us < f.at_us {
                            *f = a;
                        }
                    })
                    .or_insert(a);
                g.sid = g.sid.or(a.session.as_deref());
                g.account = g.account.take().or_else(|| a.account.clone());
                g.detected_at_ms = g.detected_at_ms.or(a.detected_at_ms);
                if g.session.is_none() {
                    g.session = plan.session_of(a.session.as_deref(), a.uid.as_deref());
                }
            }
        }
    }
    s.received = gots.len() as u64;
    // Accounts, each with its alerts in time order.
    let mut by_account: BTreeMap<Option<String>, Vec<Got<'_>>> = BTreeMap::new();
    for (_, mut g) in gots {
        if g.account.is_none() {
            g.account = g
                .session
                .and_then(|i| plan.sessions.get(i))
                .and_then(|p| p.account.clone());
        }
        by_account.entry(g.account.clone()).or_default().push(g);
    }
    let mut expected: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (k, a) in plan.alerts.iter().enumerate() {
        expected.entry(a.account.as_str()).or_default().push(k);
    }
    let mut sends: BTreeMap<usize, Vec<&Sent>> = BTreeMap::new();
    for x in sent {
        sends.entry(x.session).or_default().push(x);
    }
    let sid_of = |g: &Got<'_>| {
        g.sid.map(str::to_string).or_else(|| {
            g.session
                .and_then(|i| plan.sessions.get(i))
                .map(|p| p.sid.clone())
        })
    };
    for (account, mut got) in by_account {
        got.sort_by_key(|g| (g.detected_at_ms.unwrap_or(g.first.wall_ms), g.first.at_us));
        let want = account
            .as_deref()
            .and_then(|a| expected.remove(a))
            .unwrap_or_default();
        for (j, g) in got.iter().enumerate() {
            if j >= want.len() {
                let odd = Odd {
                    alert: g.alert.to_string(),
                    account: account.clone(),
                    session: sid_of(g),
                    why: String::new(),
                };
                if want.is_empty() {
                    let why = unexpected_why(plan, g.session);
                    s.unexpected.push(Odd { why, ..odd });
                } else {
                    let why = format!(
                        "alert {} of an account expected to page {} time(s) in this run",
                        j + 1,
                        want.len()
                    );
                    s.duplicated_alerts.push(Odd { why, ..odd });
                }
                continue;
            }
            s.matched += 1;
            for c in g.channels.keys() {
                s.by_channel.entry(c.name()).or_default().alerts += 1;
            }
            if let Some(d) = g.detected_at_ms {
                let first_with = g
                    .channels
                    .values()
                    .filter(|a| a.detected_at_ms.is_some())
                    .map(|a| a.wall_ms)
                    .min()
                    .unwrap_or(g.first.wall_ms);
                record_us(&mut s.edge, first_with.saturating_sub(d) * 1000);
            }
            let Some(x) = g
                .session
                .and_then(|i| sends.get(&i))
                .and_then(|v| completing(v, g, epoch_wall_ms))
            else {
                s.untimed += 1;
                continue;
            };
            record_us(&mut s.latency, g.first.at_us.saturating_sub(x.sent_us));
            record_us(
                &mut s.from_intended,
                g.first.at_us.saturating_sub(x.intended_us),
            );
            for (c, a) in &g.channels {
                let h = &mut s.by_channel.entry(c.name()).or_default().latency;
                record_us(h, a.at_us.saturating_sub(x.sent_us));
            }
        }
        for k in want.iter().skip(got.len()) {
            let a = &plan.alerts[*k];
            s.missing.push(Missing {
                account: a.account.clone(),
                session: plan
                    .sessions
                    .get(a.session)
                    .map_or_else(String::new, |p| p.sid.clone()),
            });
        }
    }
    // Expected accounts no alert named at all.
    for (_, ks) in expected {
        for k in ks {
            let a = &plan.alerts[k];
            s.missing.push(Missing {
                account: a.account.clone(),
                session: plan
                    .sessions
                    .get(a.session)
                    .map_or_else(String::new, |p| p.sid.clone()),
            });
        }
    }
    let want = plan.accounts();
    s.truth_not_expected = plan
        .truth_accounts
        .iter()
        .filter(|a| !want.contains(a.as_str()))
        .cloned()
        .collect();
    let truth: BTreeSet<&str> = plan.truth_accounts.iter().map(String::as_str).collect();
    s.expected_not_truth = want
        .iter()
        .filter(|a| !truth.contains(*a))
        .map(|a| a.to_string())
        .collect();
    s
}

/// The frame whose escalation the alert is about: of its session's escalating frames, the one
/// sent nearest the edge's `detected_at`, else the last sent before the alert arrived.
fn completing<'a>(sends: &[&'a Sent], g: &Got<'_>, epoch_wall_ms: u64) -> Option<&'a Sent> {
    match g.detected_at_ms {
        Some(d) => sends
            .iter()
            .min_by_key(|x| (epoch_wall_ms + x.sent_us / 1000).abs_diff(d))
            .copied(),
        None => sends
            .iter()
            .filter(|x| x.sent_us <= g.first.at_us)
            .max_by_key(|x| x.sent_us)
            .or_else(|| sends.first())
            .copied(),
    }
}

fn unexpected_why(plan: &Plan, session: Option<usize>) -> String {
    let Some(p) = session.and_then(|i| plan.sessions.get(i)) else {
        return "not a session of this run".into();
    };
    if p.uid.is_none() {
        return "an anonymous session".into();
    }
    if let Some(min) = plan.min_value_cents
        && p.value_cents < min
    {
        return format!(
            "an account worth {} cents, below the rule's {min}",
            p.value_cents
        );
    }
    if p.escalations.is_empty() {
        return "a session the core does not escalate".into();
    }
    "an account not expected to page".into()
}

/// What a sink received when no plan says what to expect (`--alert-sink` without
/// `--edge-config`, as `make demo` runs it): nothing can be missing or unexpected, but every
/// alert is listed once, duplicated deliveries and bad signatures still count, and the edge's
/// own latency (its `detected_at` → the first page received) is measured.
#[derive(Debug)]
pub struct Received<'a> {
    /// Accepted pages (messages to a person).
    pub accepted: u64,
    /// Each alert's first accepted page, in arrival order.
    pub alerts: Vec<&'a Arrival>,
    pub duplicated_deliveries: Vec<(String, u32)>,
    pub signature_failures: u64,
    pub rejected: BTreeMap<String, u64>,
    /// PagerDuty `acknowledge`/`resolve` and other non-page events.
    pub other_events: u64,
    /// µs from the edge's `detected_at` to the alert's first page, per alert that carries it.
    pub edge: Histogram<u64>,
}

/// Lists what the sink received (see [`Received`]).
pub fn received(arrivals: &[Arrival]) -> Received<'_> {
    let mut r = Received {
        accepted: 0,
        alerts: Vec::new(),
        duplicated_deliveries: repeated_deliveries(arrivals),
        signature_failures: 0,
        rejected: BTreeMap::new(),
        other_events: 0,
        edge: hist(),
    };
    let mut by_alert: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: Vec<&Arrival> = arrivals.iter().collect();
    order.sort_by_key(|a| a.at_us);
    for a in order {
        match &a.verdict {
            Verdict::BadSignature => r.signature_failures += 1,
            Verdict::Rejected(why) => *r.rejected.entry(why.clone()).or_default() += 1,
            Verdict::Accepted if !a.page => r.other_events += 1,
            Verdict::Accepted => {
                r.accepted += 1;
                let Some(alert) = a.alert.as_deref() else {
                    continue;
                };
                if !by_alert.contains_key(alert) {
                    by_alert.insert(alert, r.alerts.len());
                    r.alerts.push(a);
                }
            }
        }
    }
    for a in &r.alerts {
        // The first page that carries `detected_at` (Slack's body does not).
        let first = arrivals
            .iter()
            .filter(|x| x.alert == a.alert && x.detected_at_ms.is_some())
            .filter(|x| matches!(x.verdict, Verdict::Accepted) && x.page)
            .min_by_key(|x| x.at_us);
        if let Some(f) = first
            && let Some(d) = f.detected_at_ms
        {
            record_us(&mut r.edge, f.wall_ms.saturating_sub(d) * 1000);
        }
    }
    r
}

#[cfg(test)]
mod tests;
