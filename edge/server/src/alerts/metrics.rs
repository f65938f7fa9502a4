//! The alerts thread's counters (`/metrics`, `siq_alert_*`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::telemetry::{Exposition, Kind};

/// Detection → vendor acceptance, ms (bucket upper bounds).
pub const LATENCY_BOUNDS_MS: [u64; 12] = [
    50, 100, 250, 500, 1000, 2000, 3000, 5000, 10_000, 30_000, 60_000, 300_000,
];

#[derive(Debug, Default)]
pub struct AlertMetrics {
    pub escalations: AtomicU64,
    pub undeliverable: AtomicU64,
    pub recovered: AtomicU64,
    pub opened: AtomicU64,
    pub folded: AtomicU64,
    pub persist_failed: AtomicU64,
    pub address_failed: AtomicU64,
    pub lake_rows: AtomicU64,
    pub reported: AtomicU64,
    pub report_failures: AtomicU64,
    pub commands: AtomicU64,
    pub interventions: AtomicU64,
    pub interventions_shown: AtomicU64,
    pub open: AtomicU64,
    /// (channel, outcome) → attempts.
    pub attempts: Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<([u64; LATENCY_BOUNDS_MS.len()], u64, u64)>,
}

impl AlertMetrics {
    pub fn attempt(&self, channel: &'static str, outcome: &'static str) {
        let mut m = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((channel, outcome)).or_default() += 1;
    }

    pub fn delivered_after(&self, ms: u64) {
        let mut g = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = LATENCY_BOUNDS_MS.iter().position(|b| ms <= *b) {
            g.0[i] += 1;
        }
        g.1 += 1;
        g.2 += ms;
    }

    pub fn render(&self, e: &mut Exposition) {
        let c = |a: &AtomicU64| a.load(Relaxed);
        for (name, help, v) in [
            (
                "siq_alert_escalations_total",
                "Escalations the shards handed to the alerts thread.",
                c(&self.escalations),
            ),
            (
                "siq_alert_undeliverable_total",
                "Escalations with nowhere to go (the rule names no [tenant.alerts] chain or contacts): recorded in the lake, not delivered.",
                c(&self.undeliverable),
            ),
            (
                "siq_alert_recovered_total",
                "Escalations found in the spool at start that no stored alert had taken (paged after a crash).",
                c(&self.recovered),
            ),
            (
                "siq_alert_opened_total",
                "Alerts opened (a first page went out at once).",
                c(&self.opened),
            ),
            (
                "siq_alert_folded_total",
                "Repeat detections folded into an account's open alert (nobody paged again).",
                c(&self.folded),
            ),
            (
                "siq_alert_persist_failed_total",
                "Alert state that could not be stored (messages went anyway): an alarm.",
                c(&self.persist_failed),
            ),
            (
                "siq_alert_address_failed_total",
                "Contact addresses a vendor said are dead (hook gone, number invalid).",
                c(&self.address_failed),
            ),
            (
                "siq_alert_lake_rows_total",
                "Finished alerts handed to the spool for the lake's alerts table.",
                c(&self.lake_rows),
            ),
            (
                "siq_alert_reported_total",
                "Alert states the control plane acknowledged.",
                c(&self.reported),
            ),
            (
                "siq_alert_report_failures_total",
                "Alert reports to the control plane that failed (resent).",
                c(&self.report_failures),
            ),
            (
                "siq_alert_commands_total",
                "Acknowledgements and false-alarm labels received from the control plane.",
                c(&self.commands),
            ),
            (
                "siq_alert_interventions_total",
                "Interventions pushed to a customer's page from an alert's link page.",
                c(&self.interventions),
            ),
            (
                "siq_alert_interventions_shown_total",
                "Of those, the ones the page reported shown.",
                c(&self.interventions_shown),
            ),
        ] {
            e.single(name, help, Kind::Counter, v);
        }
        e.single(
            "siq_alert_open",
            "Alerts open on this edge (not yet closed).",
            Kind::Gauge,
            c(&self.open),
        );
        let a = self
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        e.family("siq_alert_attempts_total", "Requests to vendors by channel and classified answer (delivered, retry, permanent, lookup_first, found, not_found).", Kind::Counter);
        for ((ch, out), n) in &a {
            e.sample(
                "siq_alert_attempts_total",
                &[("channel", ch), ("outcome", out)],
                n,
            );
        }
        let (b, count, sum) = *self.latency.lock().unwrap_or_else(|e| e.into_inner());
        e.histogram(
            "siq_alert_delivery_seconds",
            "Detection (server time of the frame that completed the evidence) to the vendor's acceptance.",
            &LATENCY_BOUNDS_MS,
            &b,
            count,
            sum,
            1000.0,
        );
    }
}
