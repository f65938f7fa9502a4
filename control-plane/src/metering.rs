//! Usage metering (issue 18): per tenant and UTC day, the sessions, frames, samples, billable
//! events, bytes, detections, interventions, escalations and alerts, priced by the rate card.
//!
//! Pure: the service reads the EVI windows edges report (each carries the minute's usage, counted
//! as the edge accepted and never on replay) and the alert records; this sums them per day.
//! Windows are stored one per (tenant, region, edge boot, minute), replaced on re-send, so a
//! re-sent report or a restarted edge (a new boot id) never counts anything twice.

use std::collections::BTreeMap;

use sentientiq_proto::grpc::{Tenant, UsageDay, UsageResponse, WindowAggregate};

use crate::store::alerts::{MAX_ANALYZED_ALERTS, Opened};

/// The default rate card: $0.01 per 1000 events (issue 18), in millicents per 1000 events.
pub const DEFAULT_MILLICENTS_PER_1000_EVENTS: u64 = 1_000;
/// The largest rate accepted: $100 per 1000 events (a typo guard, not a business rule).
pub const MAX_MILLICENTS_PER_1000_EVENTS: u64 = 10_000_000;
/// The longest range one request may cover.
pub const MAX_RANGE_DAYS: i64 = 366;

/// Why a range is refused.
pub fn check_range(from_day: i64, to_day: i64) -> Result<(), String> {
    crate::forensics::check_span(
        from_day,
        to_day,
        MAX_RANGE_DAYS,
        "day",
        &format!("{MAX_RANGE_DAYS} days"),
    )
}

/// The price of `events` at `rate` millicents per 1000 events, in cents, rounded half up
/// (integer arithmetic: no float touches money).
pub fn price_cents(events: u64, rate: u64) -> u64 {
    let millicents = u128::from(events) * u128::from(rate) / 1000;
    u64::try_from((millicents + 500) / 1000).unwrap_or(u64::MAX)
}

fn add(d: &mut UsageDay, o: &UsageDay) {
    d.sessions += o.sessions;
    d.frames += o.frames;
    d.samples += o.samples;
    d.events += o.events;
    d.bytes += o.bytes;
    d.detections += o.detections;
    d.interventions += o.interventions;
    d.escalations += o.escalations;
    d.alerts += o.alerts;
}

/// A stored tenant's quota (stored tenants passed `sentientiq_tenant`'s validator, limits
/// included).
pub fn quota_of(t: &Tenant) -> sentientiq_tenant::Quota {
    let l = t.limits.unwrap_or_default();
    sentientiq_tenant::Quota {
        soft: l.events_per_month_soft,
        hard: l.events_per_month_hard,
    }
}

/// Fills in the tenant's quota for this month: its limits, `month_events` counted so far and
/// where they stand ([`sentientiq_tenant::Quota`]).
pub fn quota_status(u: &mut UsageResponse, t: &Tenant, month_events: u64) {
    let q = quota_of(t);
    u.quota_soft = q.soft.unwrap_or(0);
    u.quota_hard = q.hard.unwrap_or(0);
    u.month_events = month_events;
    u.quota_state = q.state(month_events).as_str().to_string();
}

/// Usage per day of `[from_day, to_day)` from the tenant's windows and alert records (when
/// they are capped, the alert counts are a lower bound).
pub fn usage(
    windows: &[WindowAggregate],
    alerts: &Opened,
    from_day: i64,
    to_day: i64,
    rate: u64,
) -> UsageResponse {
    let mut days: BTreeMap<i64, UsageDay> = BTreeMap::new();
    let in_range = |day: i64| (from_day..to_day).contains(&day);
    for w in windows {
        let day = w.minute.div_euclid(1440);
        if !in_range(day) {
            continue;
        }
        let d = days.entry(day).or_insert_with(|| UsageDay {
            day,
            ..UsageDay::default()
        });
        add(
            d,
            &UsageDay {
                sessions: w.new_sessions,
                frames: w.frames,
                samples: w.samples,
                events: w.events,
                bytes: w.bytes,
                detections: w.detections.iter().sum(),
                interventions: w.interventions,
                escalations: w.escalations,
                ..UsageDay::default()
            },
        );
    }
    for a in &alerts.alerts {
        let day = a.opened_ms.div_euclid(86_400_000);
        if in_range(day) {
            days.entry(day)
                .or_insert_with(|| UsageDay {
                    day,
                    ..UsageDay::default()
                })
                .alerts += 1;
        }
    }
    let mut total = UsageDay::default();
    let days: Vec<UsageDay> = days
        .into_values()
        .map(|mut d| {
            d.price_cents = price_cents(d.events, rate);
            add(&mut total, &d);
            d
        })
        .collect();
    // The total is priced on the summed events (not the sum of rounded daily prices).
    total.price_cents = price_cents(total.events, rate);
    UsageResponse {
        days,
        total: Some(total),
        millicents_per_1000_events: rate,
        alerts_capped: alerts.capped,
        quota_state: "under".into(),
        ..UsageResponse::default()
    }
}

/// `YYYY-MM` as its days: `[first day, first day of the next month)`.
pub fn month_days(month: &str) -> Result<(i64, i64), String> {
    let bad = || format!("month `{month}`: YYYY-MM");
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    let from = sentientiq_proto::days_from_civil(y, m, 1);
    let to = if m == 12 {
        sentientiq_proto::days_from_civil(y + 1, 1, 1)
    } else {
        sentientiq_proto::days_from_civil(y, m + 1, 1)
    };
    Ok((from, to))
}

/// Each row of the report: its label (the UTC date, then `total`), its counts in the columns'
/// order, and its price in dollars (`D.CC`).
fn rows(u: &UsageResponse) -> Vec<(String, [u64; 9], String)> {
    let cells = |d: &UsageDay| {
        [
            d.sessions,
            d.frames,
            d.samples,
            d.events,
            d.bytes,
            d.detections,
            d.interventions,
            d.escalations,
            d.alerts,
        ]
    };
    let price = |d: &UsageDay| format!("{}.{:02}", d.price_cents / 100, d.price_cents % 100);
    let mut out: Vec<(String, [u64; 9], String)> = u
        .days
        .iter()
        .map(|d| {
            let (y, m, dd) = sentientiq_proto::civil_date(d.day);
            (format!("{y:04}-{m:02}-{dd:02}"), cells(d), price(d))
        })
        .collect();
    if let Some(t) = &u.total {
        out.push(("total".into(), cells(t), price(t)));
    }
    out
}

const COLUMNS: [&str; 9] = [
    "sessions",
    "frames",
    "samples",
    "events",
    "bytes",
    "detections",
    "interventions",
    "escalations",
    "alerts",
];

/// The usage as CSV (a header, a row per day, then `total`).
pub fn csv(u: &UsageResponse) -> String {
    let mut s = format!("day,{},price_usd\n", COLUMNS.join(","));
    for (label, cells, price) in rows(u) {
        let cells: Vec<String> = cells.iter().map(u64::to_string).collect();
        s += &format!("{label},{},{price}\n", cells.join(","));
    }
    s
}

/// The usage as a person reads it.
pub fn render(tenant: &str, u: &UsageResponse) -> String {
    const WIDTHS: [usize; 9] = [9, 11, 12, 12, 14, 10, 13, 11, 6];
    let mut s = format!(
        "Usage of {tenant} (UTC days), rate ${}.{:05} per 1000 events\n  {:<10}",
        u.millicents_per_1000_events / 100_000,
        u.millicents_per_1000_events % 100_000,
        "day"
    );
    for (c, w) in COLUMNS.iter().zip(WIDTHS) {
        s += &format!(" {c:>w$}");
    }
    s += &format!(" {:>11}\n", "price");
    if u.days.is_empty() {
        s += "  no usage in this range\n";
    }
    for (label, cells, price) in rows(u) {
        s += &format!("  {label:<10}");
        for (c, w) in cells.iter().zip(WIDTHS) {
            s += &format!(" {c:>w$}");
        }
        s += &format!(" {:>11}\n", format!("${price}"));
    }
    if u.alerts_capped {
        s += &format!("  (alert counts are of the newest {MAX_ANALYZED_ALERTS} alerts only)\n");
    }
    s += &quota_line(u);
    s
}

/// The quota's line under the table: this month's events against the limits, and a warning
/// past either.
pub fn quota_line(u: &UsageResponse) -> String {
    if u.quota_soft == 0 && u.quota_hard == 0 {
        return format!("  quota: none set ({} events this month)\n", u.month_events);
    }
    let lim = |v: u64| {
        if v == 0 {
            "none".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "  quota this month: {} events of soft {} / hard {}",
        u.month_events,
        lim(u.quota_soft),
        lim(u.quota_hard)
    );
    s += match u.quota_state.as_str() {
        "soft" => " -- WARNING: past the soft limit\n",
        "hard" => {
            " -- HARD LIMIT REACHED: edges refuse frames (429 / rate_limited) but from high-value sessions\n"
        }
        _ => "\n",
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::grpc::AlertRecord;

    fn w(minute: i64, events: u64, sessions: u64) -> WindowAggregate {
        WindowAggregate {
            tenant_id: "acme".into(),
            minute,
            new_sessions: sessions,
            frames: events,
            samples: events,
            events,
            bytes: 10 * events,
            detections: vec![1, 0, 2, 0, 0],
            interventions: 1,
            ..WindowAggregate::default()
        }
    }

    #[test]
    fn the_quota_is_reported_at_cap_minus_one_cap_and_cap_plus_one() {
        let mut t = Tenant {
            id: "acme".into(),
            limits: Some(sentientiq_proto::grpc::Limits {
                events_per_month_soft: Some(800),
                events_per_month_hard: Some(1_000),
                ..Default::default()
            }),
            ..Tenant::default()
        };
        let mut u = UsageResponse::default();
        for (used, state, says) in [
            (799, "under", None),
            (800, "soft", Some("WARNING: past the soft limit")),
            (999, "soft", Some("WARNING")),
            (1_000, "hard", Some("HARD LIMIT REACHED")),
            (1_001, "hard", Some("HARD LIMIT REACHED")),
        ] {
            quota_status(&mut u, &t, used);
            assert_eq!(u.quota_state, state, "{used}");
            assert_eq!(
                (u.quota_soft, u.quota_hard, u.month_events),
                (800, 1_000, used)
            );
            let line = quota_line(&u);
            assert!(
                line.contains(&format!("{used} events of soft 800 / hard 1000")),
                "{line}"
            );
            match says {
                Some(w) => assert!(line.contains(w), "{line}"),
                None => assert!(!line.contains("--"), "{line}"),
            }
        }
        t.limits = None;
        quota_status(&mut u, &t, 5);
        assert_eq!(
            (u.quota_soft, u.quota_hard, u.quota_state.as_str()),
            (0, 0, "under")
        );
        assert_eq!(quota_line(&u), "  quota: none set (5 events this month)\n");
    }

    #[test]
    fn usage_sums_minutes_into_utc_days_and_prices_with_integers() {
        let day = 20_788; // 2026-12-01
        let m = day * 1440;
        let windows = [
            w(m, 600_000, 10),
            w(m + 1439, 400_000, 5),
            w(m + 1440, 1_499, 1),
            // Outside the range: not counted.
            w(m - 1, 9, 9),
            w(m + 2 * 1440, 9, 9),
        ];
        let alert = |ms: i64| AlertRecord {
            opened_ms: ms,
            ..AlertRecord::default()
        };
        let alerts = Opened {
            alerts: vec![alert(m * 60_000 + 5), alert((m + 1440) * 60_000 - 1)],
            capped: false,
        };
        let u = usage(
            &windows,
            &alerts,
            day,
            day + 2,
            DEFAULT_MILLICENTS_PER_1000_EVENTS,
        );
        assert_eq!(u.days.len(), 2);
        let d0 = &u.days[0];
        assert_eq!(
            (d0.day, d0.sessions, d0.events, d0.bytes),
            (day, 15, 1_000_000, 10_000_000)
        );
        assert_eq!((d0.detections, d0.interventions, d0.alerts), (6, 2, 2));
        // $0.01 per 1000 events: a million events is $10.
        assert_eq!(d0.price_cents, 1_000);
        // 1499 events: 1.499 cents, rounded half up to 1; the total is priced on its events.
        assert_eq!(u.days[1].price_cents, 1);
        let t = u.total.expect("total");
        assert_eq!((t.events, t.price_cents), (1_001_499, 1_001));
        assert!(csv(&u).contains("2026-12-01,15,"));
        assert!(csv(&u).ends_with("total,16,1001499,1001499,1001499,10014990,9,3,0,2,10.01\n"));
        assert!(render("acme", &u).contains("2026-12-01"));
    }

    #[test]
    fn prices_round_half_up_and_never_overflow() {
        assert_eq!(price_cents(0, 1000), 0);
        assert_eq!(price_cents(499, 1000), 0); // 0.499 cents
        assert_eq!(price_cents(500, 1000), 1); // 0.5 cents
        assert_eq!(price_cents(1000, 1000), 1);
        // 1.8e20 cents does not fit: saturated, never wrapped.
        assert_eq!(
            price_cents(u64::MAX, MAX_MILLICENTS_PER_1000_EVENTS),
            u64::MAX
        );
        assert_eq!(price_cents(u64::MAX, 1000), u64::MAX / 1000 + 1);
    }

    #[test]
    fn months_and_ranges_are_checked() {
        assert_eq!(month_days("2026-12"), Ok((20_788, 20_819)));
        assert_eq!(month_days("2024-02").map(|(a, b)| b - a), Ok(29));
        assert_eq!(month_days("2023-02").map(|(a, b)| b - a), Ok(28));
        for bad in ["2026-13", "2026-00", "26-12", "2026-1", "2026/12", "x"] {
            assert!(month_days(bad).is_err(), "{bad}");
        }
        assert!(check_range(1, 1).is_err());
        assert!(check_range(0, MAX_RANGE_DAYS - 1).is_ok());
        assert!(check_range(0, MAX_RANGE_DAYS).is_ok());
        assert!(check_range(0, MAX_RANGE_DAYS + 1).is_err());
        // Days far apart: refused, not wrapped past the cap (nor a panic).
        assert!(check_range(-2, i64::MAX).is_err());
        assert!(check_range(i64::MIN, 0).is_err());
        assert_eq!(
            check_range(3, 2),
            Err("to_day 2 must be after from_day 3".into())
        );
        assert_eq!(
            check_range(0, MAX_RANGE_DAYS + 1),
            Err("a range covers at most 366 days, not 367".into())
        );
    }
}
