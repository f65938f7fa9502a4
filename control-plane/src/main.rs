//! `sentientiq-control --config FILE`: the control plane server.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "SentientIQ control plane: tenants, accounts, edge config, EVI"
)]
struct Args {
    /// Configuration file (see deploy/control.example.toml).
    #[arg(long)]
    config: std::path::PathBuf,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut cfg = sentientiq_control::Config::load(&args.config)?;
    let tls = sentientiq_control::tls(&cfg)?;
    // Every HTTP connection holds a descriptor: the cap must leave the store and the gRPC port
    // theirs under the process's open-file limit.
    let nofile = open_file_limit();
    let budget = sentientiq_control::http::connection_budget(nofile, cfg.http_max_connections)?;
    match budget.lowered_from {
        Some(asked) => tracing::warn!(
            asked,
            cap = budget.cap,
            per_address = cfg.http_max_per_address.min(budget.cap),
            open_file_limit = nofile,
            "http_max_connections lowered to fit the open-file limit (RLIMIT_NOFILE) beside the store's files and the gRPC port's connections; raise the limit to serve more"
        ),
        None => tracing::info!(
            cap = budget.cap,
            open_file_limit = nofile,
            "HTTP connection cap"
        ),
    }
    tracing::info!(
        cap = budget.grpc,
        per_address = cfg.grpc_max_per_address.min(budget.grpc),
        open_file_limit = nofile,
        "gRPC connection cap"
    );
    cfg.http_max_connections = budget.cap;
    cfg.http_max_per_address = cfg.http_max_per_address.min(budget.cap);
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let store = Arc::new(
        sentientiq_control::store::Store::open(&cfg.data_dir)
            .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
    );
    // Tenants an earlier version stored under looser rules: edges of this one refuse them.
    for (id, why) in store
        .refused_tenants()
        .context("reading the stored tenants")?
    {
        tracing::warn!(tenant = %id, reason = %why, "a stored tenant fails this version's checks: edges of this version refuse it and its changes are refused until it is fixed");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("binding {}", cfg.listen))?;
        let http = tokio::net::TcpListener::bind(cfg.http_listen)
            .await
            .with_context(|| format!("binding {}", cfg.http_listen))?;
        let metrics = Arc::new(sentientiq_control::telemetry::Metrics::default());
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http_task = tokio::spawn(sentientiq_control::serve_http(
            store.clone(),
            metrics.clone(),
            sentientiq_control::web::Settings::from_config(&cfg),
            http,
            cfg.http_limits(),
            async move {
                let _ = http_stopped.await;
            },
        ));
        tracing::info!(
            listen = %cfg.listen,
            version = store.version()?,
            tls = cfg.tls.is_some(),
            http = %cfg.http_listen,
            "control plane serving"
        );
        let shutdown = async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "no SIGTERM handler");
                        std::future::pending::<()>().await;
                        unreachable!()
                    }
                };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("shutting down");
            // Both ports at once, each drained within its grace.
            let _ = stop_http.send(());
        };
        sentientiq_control::serve(&cfg, store, metrics, listener, tls, budget.grpc, shutdown)
            .await?;
        let _ = http_task.await;
        tracing::info!("stopped cleanly");
        anyhow::Ok(())
    })
}

/// The process's open-file limit (`RLIMIT_NOFILE`), its soft limit first raised to its hard
/// limit. The soft limit is often 1 024, kept low for programs that use select(2), which the
/// plane does not; servers raise it the same way (Go's runtime does at start, and the edge).
/// Unlimited counts as `u64::MAX`.
fn open_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let r = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (r.current, r.maximum)
        && soft < hard
        && setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            },
        )
        .is_ok()
    {
        return hard;
    }
    r.current.unwrap_or(u64::MAX)
}
