//! The plane's own metrics, served on its HTTP port at `/metrics` (Prometheus text): gRPC
//! requests by method (and the errors answered at the head, by code), edges following the
//! config stream, config updates sent, windows stored, alert records and commands, and what
//! the store holds.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

#[derive(Debug, Default)]
pub struct Metrics {
    /// (method path, grpc-status answered at the head or "") → requests.
    rpcs: Mutex<BTreeMap<(String, String), u64>>,
    /// `WatchConfig` streams open.
    pub watchers: AtomicU64,
    pub updates_sent: AtomicU64,
    pub windows_stored: AtomicU64,
    /// Reported windows (and experiment windows) not stored for their content.
    pub windows_refused: AtomicU64,
    /// Tenants that went past their soft or hard monthly quota (each crossing once).
    pub quota_crossings: AtomicU64,
    /// `ReportAlerts` streams open.
    pub alert_streams: AtomicU64,
    /// Alert records stored from edge reports.
    pub alert_records: AtomicU64,
    /// Records not stored, by reason: older than the stored one, of a tenant that does not
    /// exist, invalid.
    pub alert_records_stale: AtomicU64,
    pub alert_records_unknown_tenant: AtomicU64,
    pub alert_records_invalid: AtomicU64,
    /// Commands queued by `Alerts.Act`.
    pub alert_commands_queued: AtomicU64,
    /// Commands sent in acks (a pending command is sent again in every ack to its edge).
    pub alert_commands_sent: AtomicU64,
    /// Alert records pruned past their retention.
    pub alerts_pruned: AtomicU64,
    /// HTTP connections open now, and those closed unanswered at a cap (`crate::http`).
    pub http_connections: AtomicU64,
    pub http_refused_all: AtomicU64,
    pub http_refused_address: AtomicU64,
    /// gRPC connections open now, and those closed at a cap (`crate::incoming::cap`).
    pub grpc_connections: AtomicU64,
    pub grpc_refused_all: AtomicU64,
    pub grpc_refused_address: AtomicU64,
    /// Refusals that repeat at every retry, logged throttled (`crate::throttle`).
    refusal_lines: Mutex<crate::throttle::Throttle>,
}

/// What the store holds, read by the caller at each scrape.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stored {
    pub version: u64,
    pub tenants: u64,
    pub pending_commands: u64,
}

impl Metrics {
    /// Whether the log line of a refusal of `kind`, about `what` (the names refused), from
    /// `peer`'s address, is due now ([`crate::throttle`]): `Some(n)` with the `n` lines of it
    /// not logged since the last.
    pub fn refusal_due(
        &self,
        kind: &str,
        what: &str,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<u64> {
        let key = format!("{kind} {what} {:?}", peer.map(|a| a.ip()));
        self.refusal_lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due(&key, crate::now_ms())
    }

    fn rpc(&self, method: &str, code: &str) {
        let mut m = self.rpcs.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((method.to_string(), code.to_string())).or_default() += 1;
    }

    /// Prometheus text; `stored` is read from the store by the caller.
    pub fn render(&self, stored: Stored) -> String {
        let mut o = String::new();
        let esc = |v: &str| {
            v.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let rpcs = self.rpcs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = writeln!(
            o,
            "# HELP siq_control_grpc_requests_total gRPC requests by method.\n# TYPE siq_control_grpc_requests_total counter"
        );
        let mut by_method: BTreeMap<&str, u64> = BTreeMap::new();
        for ((m, _), n) in &rpcs {
            *by_method.entry(m).or_default() += n;
        }
        for (m, n) in &by_method {
            let _ = writeln!(
                o,
                "siq_control_grpc_requests_total{{method=\"{}\"}} {n}",
                esc(m)
            );
        }
        let _ = writeln!(
            o,
            "# HELP siq_control_grpc_errors_total gRPC requests refused at once (status in the response head), by method and code.\n# TYPE siq_control_grpc_errors_total counter"
        );
        for ((m, c), n) in rpcs.iter().filter(|((_, c), _)| !c.is_empty() && c != "0") {
            let _ = writeln!(
                o,
                "siq_control_grpc_errors_total{{method=\"{}\",code=\"{}\"}} {n}",
                esc(m),
                esc(c)
            );
        }
        for (name, help, kind, v) in [
            (
                "siq_control_watching_edges",
                "Edges following the config stream now.",
                "gauge",
                self.watchers.load(Relaxed),
            ),
            (
                "siq_control_config_updates_sent_total",
                "Config updates sent to edges (snapshot parts and deltas).",
                "counter",
                self.updates_sent.load(Relaxed),
            ),
            (
                "siq_control_windows_stored_total",
                "Aggregate windows stored from edge reports.",
                "counter",
                self.windows_stored.load(Relaxed),
            ),
            (
                "siq_control_windows_refused_total",
                "Reported windows and experiment windows not stored for their content (logged with the first reason; the batch is acknowledged).",
                "counter",
                self.windows_refused.load(Relaxed),
            ),
            (
                "siq_control_quota_crossings_total",
                "Times a tenant's events of the month went past its soft or hard quota (logged).",
                "counter",
                self.quota_crossings.load(Relaxed),
            ),
            (
                "siq_control_config_version",
                "The latest config version.",
                "gauge",
                stored.version,
            ),
            (
                "siq_control_tenants",
                "Tenants stored.",
                "gauge",
                stored.tenants,
            ),
            (
                "siq_plane_alert_streams",
                "Edges reporting alerts now (ReportAlerts streams open).",
                "gauge",
                self.alert_streams.load(Relaxed),
            ),
            (
                "siq_plane_alert_records_total",
                "Alert records stored from edge reports.",
                "counter",
                self.alert_records.load(Relaxed),
            ),
            (
                "siq_plane_alert_commands_queued_total",
                "Commands (acknowledge, false_alarm) queued by Alerts.Act.",
                "counter",
                self.alert_commands_queued.load(Relaxed),
            ),
            (
                "siq_plane_alert_commands_sent_total",
                "Commands sent in acks to edges (a pending one is sent in every ack to its edge).",
                "counter",
                self.alert_commands_sent.load(Relaxed),
            ),
            (
                "siq_plane_alert_commands_pending",
                "Commands not yet shown applied by a record of their alert.",
                "gauge",
                stored.pending_commands,
            ),
            (
                "siq_control_http_connections",
                "HTTP connections open now (dashboard, /metrics, /healthz).",
                "gauge",
                self.http_connections.load(Relaxed),
            ),
            (
                "siq_control_grpc_connections",
                "gRPC connections open now (edges, siqctl), handshakes included.",
                "gauge",
                self.grpc_connections.load(Relaxed),
            ),
            (
                "siq_plane_alerts_pruned_total",
                "Alert records pruned past their retention (30 days).",
                "counter",
                self.alerts_pruned.load(Relaxed),
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        for (name, help, all, address) in [
            (
                "siq_control_http_connections_refused_total",
                "HTTP connections closed unanswered at a cap, by cap (all: http_max_connections; address: http_max_per_address).",
                &self.http_refused_all,
                &self.http_refused_address,
            ),
            (
                "siq_control_grpc_connections_refused_total",
                "gRPC connections closed at their accept, by cap (all: what the open-file limit leaves the port; address: grpc_max_per_address).",
                &self.grpc_refused_all,
                &self.grpc_refused_address,
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for (cap, n) in [("all", all), ("address", address)] {
                let _ = writeln!(o, "{name}{{cap=\"{cap}\"}} {}", n.load(Relaxed));
            }
        }
        let _ = writeln!(
            o,
            "# HELP siq_plane_alert_records_dropped_total Alert records not stored, by reason.\n# TYPE siq_plane_alert_records_dropped_total counter"
        );
        for (reason, n) in [
            ("stale", &self.alert_records_stale),
            ("unknown_tenant", &self.alert_records_unknown_tenant),
            ("invalid", &self.alert_records_invalid),
        ] {
            let _ = writeln!(
                o,
                "siq_plane_alert_records_dropped_total{{reason=\"{reason}\"}} {}",
                n.load(Relaxed)
            );
        }
        o
    }
}

/// A tower layer counting gRPC requests by method.
#[derive(Debug, Clone)]
pub struct CountLayer(pub Arc<Metrics>);

impl<S> tower::Layer<S> for CountLayer {
    type Service = Count<S>;
    fn layer(&self, inner: S) -> Count<S> {
        Count {
            inner,
            m: self.0.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Count<S> {
    inner: S,
    m: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, RB> tower::Service<http::Request<B>> for Count<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    RB: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // Every service's requests, token or not, keep their connection from being idle.
        crate::standing::request_started(&req);
        let method = req.uri().path().to_string();
        let m = self.m.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let r = fut.await;
            let code = match &r {
                Ok(resp) => resp
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
                Err(_) => "transport".to_string(),
            };
            m.rpc(&method, &code);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_refusals_render_by_method() {
        let m = Metrics::default();
        m.rpc("/sentientiq.v1.TenantAdmin/GetTenant", "");
        m.rpc("/sentientiq.v1.TenantAdmin/GetTenant", "16");
        m.watchers.store(3, Relaxed);
        m.alert_records.store(5, Relaxed);
        m.alert_records_invalid.store(1, Relaxed);
        let t = m.render(Stored {
            version: 7,
            tenants: 2,
            pending_commands: 4,
        });
        assert!(
            t.contains(
                "siq_control_grpc_requests_total{method=\"/sentientiq.v1.TenantAdmin/GetTenant\"} 2"
            ),
            "{t}"
        );
        assert!(t.contains("siq_control_grpc_errors_total{method=\"/sentientiq.v1.TenantAdmin/GetTenant\",code=\"16\"} 1"));
        assert!(t.contains("siq_control_watching_edges 3"));
        assert!(t.contains("siq_control_config_version 7"));
        assert!(t.contains("siq_plane_alert_records_total 5"), "{t}");
        assert!(t.contains("siq_plane_alert_commands_pending 4"), "{t}");
        assert!(t.contains("siq_plane_alert_records_dropped_total{reason=\"invalid\"} 1"));
        // Every sample has its TYPE line, and no gauge shares a counter's stem.
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(t.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
}
