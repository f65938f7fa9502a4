//! The plane's own metrics, served on its HTTP port at `/metrics` (Prometheus text): gRPC
//! requests by method (and the errors answered at the head, by code), edges following the
//! config stream, config updates sent, windows stored, and what the store holds.

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
}

impl Metrics {
    fn rpc(&self, method: &str, code: &str) {
        let mut m = self.rpcs.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry((method.to_string(), code.to_string())).or_default() += 1;
    }

    /// Prometheus text; `version` and `tenants` are read from the store by the caller.
    pub fn render(&self, version: u64, tenants: u64) -> String {
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
                "siq_control_config_version",
                "The latest config version.",
                "gauge",
                version,
            ),
            ("siq_control_tenants", "Tenants stored.", "gauge", tenants),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
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
        let t = m.render(7, 2);
        assert!(
            t.contains(
                "siq_control_grpc_requests_total{method=\"/sentientiq.v1.TenantAdmin/GetTenant\"} 2"
            ),
            "{t}"
        );
        assert!(t.contains("siq_control_grpc_errors_total{method=\"/sentientiq.v1.TenantAdmin/GetTenant\",code=\"16\"} 1"));
        assert!(t.contains("siq_control_watching_edges 3"));
        assert!(t.contains("siq_control_config_version 7"));
    }
}
