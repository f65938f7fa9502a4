//! The SentientIQ control plane: tenants, keys and the account directory over gRPC, stored in
//! embedded RocksDB; live config to every edge (`EdgeSync`); the Emotional Volatility Index
//! over the windows edges report (`Analytics`, formula in `docs/EVI.md`); alerts across every
//! region, as edges report them, and admins' acknowledgements back to them (`Alerts`).
//!
//! Binaries: `sentientiq-control --config FILE` (the server) and `siqctl` (the operator's CLI).

pub mod auth;
pub mod config;
pub mod forensics;
pub mod http;
pub mod incoming;
pub mod keys;
pub mod metering;
pub mod service;
pub mod standing;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod web;

/// The plane's wall clock, ms since the Unix epoch (0 before 1970). The only clock read of the
/// plane's shells; pure code takes the time as a parameter.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The current UTC minute since the Unix epoch.
pub(crate) fn now_minute() -> i64 {
    now_ms().div_euclid(60_000)
}

use std::sync::Arc;

use sentientiq_proto::grpc;
use tonic::transport::Server;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("tls: {0}")]
    Tls(String),
}

/// The rustls config of `cfg`'s `[tls]` ([`incoming::tls_config`]), its files read: checked
/// before either port serves, so that a plane that cannot serve TLS does not start (it said
/// "serving", and its HTTP port did, before the gRPC port failed).
pub fn tls(cfg: &Config) -> Result<Option<Arc<tokio_rustls::rustls::ServerConfig>>, ServeError> {
    let Some(tls) = &cfg.tls else {
        return Ok(None);
    };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| ServeError::Tls(format!("{}: the {what} file: {e}", path.display())))
    };
    let (cert, key) = (read(&tls.cert, "certificate")?, read(&tls.key, "key")?);
    let config = incoming::tls_config(&cert, &key).map_err(|e| {
        let at = match e {
            incoming::TlsFilesError::Certificate(_) => tls.cert.display().to_string(),
            incoming::TlsFilesError::Key(_) => tls.key.display().to_string(),
            incoming::TlsFilesError::Pair(_) => {
                format!("{} and {}", tls.cert.display(), tls.key.display())
            }
        };
        ServeError::Tls(format!("{at}: {e}"))
    })?;
    Ok(Some(Arc::new(config)))
}

/// Serves every service on `listener`, at most `max_connections` open at once
/// ([`incoming::cap`]), over TLS when `tls` is given (made by [`tls`] from `cfg`'s `[tls]`),
/// until `shutdown` completes.
pub async fn serve(
    cfg: &Config,
    store: Arc<store::Store>,
    metrics: Arc<telemetry::Metrics>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    max_connections: usize,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let cap = incoming::cap(max_connections, cfg.grpc_max_per_address, metrics.clone());
    let (stop_streams, stopping) = tokio::sync::watch::channel(false);
    let mut stopped = stopping.clone();
    let svc = service::Services::new(
        store,
        metrics.clone(),
        cfg.evi_poll_ms,
        cfg.experiment_totals_ms,
        cfg.millicents_per_1000_events,
    )
    .stopping_on(stopping);
    let admin = auth::Bearer::new(cfg.admin_token.clone(), "admin");
    let edge = auth::Bearer::new(cfg.edge_token.clone(), "edge");
    let (mut health, health_svc) = tonic_health::server::health_reporter();
    let names = [
        grpc::tenant_admin_server::SERVICE_NAME,
        grpc::accounts_server::SERVICE_NAME,
        grpc::edge_sync_server::SERVICE_NAME,
        grpc::analytics_server::SERVICE_NAME,
        grpc::alerts_server::SERVICE_NAME,
    ];
    for name in names {
        health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    // At `shutdown` the streams end (they never do by themselves): health watchers are told
    // NOT_SERVING and their streams end, as the plane's own do with UNAVAILABLE. The server
    // then drains what is in flight, for `http::SHUTDOWN_GRACE` at most.
    let shutdown = async move {
        shutdown.await;
        let _ = stop_streams.send(true);
        // All NOT_SERVING first (the whole plane, "", before its parts), then cleared.
        for name in [""].into_iter().chain(names) {
            health
                .set_service_status(name, tonic_health::ServingStatus::NotServing)
                .await;
        }
        for name in [""].into_iter().chain(names) {
            health.clear_service_status(name).await;
        }
    };
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(grpc::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // Older tools (Python's grpcio-reflection, grpcurl before 1.8) speak v1alpha.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(grpc::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    // A connection's first bytes (over TLS: its handshake, then them) within the first of these
    // from its accept, then requests until one carries a token: `incoming`.
    let deadlines = incoming::Deadlines {
        first_bytes: std::time::Duration::from_millis(cfg.grpc_handshake_timeout_ms),
        unauthenticated_idle: std::time::Duration::from_millis(cfg.grpc_unauthenticated_idle_ms),
    };
    let mut builder = Server::builder()
        .layer(telemetry::CountLayer(metrics))
        // Dead edges are noticed and their streams end.
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)));
    // Alert records past their retention go, now and hourly, for as long as the server runs.
    let pruner = tokio::spawn(service::alerts::prune_alerts_periodically(
        svc.store.clone(),
        svc.metrics.clone(),
    ));
    let router = builder
        .add_service(health_svc)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(
            grpc::tenant_admin_server::TenantAdminServer::with_interceptor(
                svc.clone(),
                admin.clone(),
            ),
        )
        .add_service(grpc::accounts_server::AccountsServer::with_interceptor(
            svc.clone(),
            admin.clone(),
        ))
        .add_service(grpc::analytics_server::AnalyticsServer::with_interceptor(
            svc.clone(),
            admin.clone(),
        ))
        .add_service(grpc::alerts_server::AlertsServer::with_interceptor(
            svc.clone(),
            admin,
        ))
        .add_service(grpc::edge_sync_server::EdgeSyncServer::with_interceptor(
            svc, edge,
        ));
    // TLS is done in `incoming`, which also times the preface under it.
    let served = async {
        match tls {
            Some(tls) => {
                router
                    .serve_with_incoming_shutdown(
                        incoming::tls(listener, deadlines, tls, cap),
                        shutdown,
                    )
                    .await
            }
            None => {
                router
                    .serve_with_incoming_shutdown(
                        incoming::first_bytes(listener, deadlines, cap),
                        shutdown,
                    )
                    .await
            }
        }
    };
    // From the stop on (the value stays true once set, whatever becomes of its sender).
    let grace = async move {
        if stopped.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(http::SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        served = served => served,
        () = grace => {
            // tonic runs each connection as its own task: those still open end with the
            // process.
            tracing::warn!("gRPC requests still in flight after the shutdown grace are not waited for");
            Ok(())
        }
    };
    pruner.abort();
    served?;
    Ok(())
}

/// Serves the plane's HTTP face (`/metrics`, `/healthz`, the web dashboard of [`web`]) on
/// `listener` within `limits` ([`http::serve`]) until `shutdown`.
pub async fn serve_http(
    store: Arc<store::Store>,
    metrics: Arc<telemetry::Metrics>,
    dashboard: web::Settings,
    listener: tokio::net::TcpListener,
    limits: http::HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let metrics_for_http = metrics.clone();
    // Open live feeds (server-sent events) end when the server stops, so that the graceful
    // shutdown, which waits for every connection, ends too.
    let (stopping, stop_feeds) = tokio::sync::watch::channel(false);
    // The dashboard's setup wizard calls the same service implementations `serve` serves.
    let dashboard = web::router(
        service::Services::new(
            store.clone(),
            metrics.clone(),
            dashboard.evi_poll_ms,
            dashboard.experiment_totals_ms,
            dashboard.millicents_per_1000_events,
        ),
        dashboard,
        stop_feeds,
    );
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(move || {
                let (store, metrics) = (store.clone(), metrics.clone());
                async move {
                    let stored = tokio::task::spawn_blocking(move || telemetry::Stored {
                        version: store.version().unwrap_or(0),
                        tenants: store.tenant_count().unwrap_or(0),
                        pending_commands: store.pending_commands().unwrap_or(0),
                    })
                    .await
                    .unwrap_or_default();
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        metrics.render(stored),
                    )
                }
            }),
        )
        .merge(dashboard);
    http::serve(app, listener, limits, metrics_for_http, async move {
        shutdown.await;
        let _ = stopping.send(true);
    })
    .await
}
