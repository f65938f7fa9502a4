//! Alerts on the plane: a tenant's alerting config (`TenantAdmin.SetAlerts`/`GetAlerts`), the
//! records edges report (`EdgeSync.ReportAlerts`), and what admins see and ask of them
//! (`Alerts.List`/`Act`). Storage and its rules are [`crate::store::alerts`].
//!
//! **What each party sees of the alerting config.** Edges get it whole, secrets included, in
//! the tenants of `WatchConfig` (they deliver the alerts). Admins get it only from `GetAlerts`
//! and `SetAlerts`, with every secret shown as `[redacted]`; `GetTenant`, `ListTenants` and
//! every other admin answer carry none of it, and a tenant create or update that sets it is
//! refused (it is set with `SetAlerts` only). Nothing here logs it.
//!
//! **Which edge a report speaks for.** The `siq-edge-id` request header of the
//! `ReportAlerts` call names it (a name outside the edge name rule, `grpc::valid_edge_name`, is
//! refused); without the header, a stream speaks for the `edge_id` of the last record it
//! reported under a name within the rule (a record under any other is refused). Each ack
//! carries the pending commands of the alerts whose latest record that edge reported.

use crate::now_ms;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use sentientiq_proto::grpc::{
    self, AlertBatch, AlertBatchAck, AlertCommand, AlertsConfig, Empty, ListAlertsRequest,
    ListAlertsResponse, Tenant,
};
use sentientiq_tenant::AlertsSpec;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{BoxStream, Services, blocking};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// The request header naming the edge a `ReportAlerts` stream speaks for (optional).
pub const EDGE_ID_HEADER: &str = "siq-edge-id";
/// How often the server prunes alert records past their retention.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// A tenant create or update never sets the alerting config.
pub(super) fn refuse_alerts_fields(t: &Tenant) -> Result<(), Status> {
    if !t.alerts_toml.is_empty() || !t.alerts_sealed.is_empty() {
        return Err(Status::invalid_argument(
            "alerts_toml/alerts_sealed: a tenant's alerting config is set with SetAlerts \
             (siqctl alerts set), not with the tenant; use SetAlerts",
        ));
    }
    Ok(())
}

/// The config as an admin sees it. The stored text was validated when it was set; should it
/// not parse now (a newer binary refusing an older config), nothing of it is shown.
fn redacted(toml: &str) -> Result<String, Status> {
    AlertsSpec::from_toml(toml)
        .and_then(|a| a.redacted())
        .map_err(|_| Status::internal("the stored alerting config no longer parses; set it again"))
}

pub(super) async fn set_alerts(
    svc: &Services,
    r: grpc::SetAlertsRequest,
) -> Result<AlertsConfig, Status> {
    let s = svc.store.clone();
    let (tenant, toml) = (r.tenant_id, r.toml);
    refuse_invisible_in_urls(&toml)?;
    let (id, stored) = (tenant.clone(), toml.clone());
    let version = blocking(move || s.set_alerts(&id, stored)).await?;
    tracing::info!(%tenant, version, removed = toml.is_empty(), "alerting config set");
    Ok(AlertsConfig {
        tenant_id: tenant,
        toml_redacted: match toml.is_empty() {
            true => String::new(),
            false => redacted(&toml)?,
        },
    })
}

/// A webhook URL (Slack's or a customer's) pasted with an invisible character in it (a
/// non-breaking or zero-width space, a byte-order mark, a non-ASCII control) passes the URL
/// check (`sentientiq_url::check_secret` keeps what the sender accepts) and is sent as is, and
/// its receiver answers 404 at the first alert; so a config that brings one is refused here,
/// naming the contact and the character, never the URL. Only on this write: edges check stored
/// configs with `check_secret` alone, so one stored before is never refused there. A config
/// that does not parse is left to the store's validation, which says why.
fn refuse_invisible_in_urls(toml: &str) -> Result<(), Status> {
    use sentientiq_alerts::channels::Address;
    let Ok(cfg) = AlertsSpec::from_toml(toml).and_then(|a| a.parse()) else {
        return Ok(());
    };
    for c in &cfg.contacts {
        for a in &c.addresses {
            let url = match a {
                Address::SlackWebhook { url } => url.secret(),
                Address::Webhook { url, .. } => url.secret(),
                _ => continue,
            }
            .expose();
            let kind = a.kind().as_str();
            if let Some(ch) = url.chars().find(|&ch| invisible(ch)) {
                return Err(Status::invalid_argument(format!(
                    "contact {}: its {kind} URL holds an invisible character (U+{:04X}) its \
                     receiver would not find; paste the URL again without it",
                    c.id, ch as u32
                )));
            }
        }
    }
    Ok(())
}

/// Whitespace and control characters beyond ASCII (the URL check refuses ASCII ones), and the
/// zero-width characters and byte-order mark that show as nothing (Unicode's
/// `Default_Ignorable_Code_Point` ones met in pasted text: U+200B..U+200D, U+2060, U+FEFF).
fn invisible(ch: char) -> bool {
    ch.is_whitespace()
        || ch.is_control()
        || matches!(ch, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

pub(super) async fn get_alerts(svc: &Services, tenant: String) -> Result<AlertsConfig, Status> {
    let s = svc.store.clone();
    let id = tenant.clone();
    let toml = blocking(move || {
        s.alerts_toml(&id)?
            .ok_or_else(|| StoreError::NotFound(format!("alerting config of tenant {id}")))
    })
    .await?;
    Ok(AlertsConfig {
        tenant_id: tenant,
        toml_redacted: redacted(&toml)?,
    })
}

/// The `ReportAlerts` stream: each batch's records upserted (synced) before its ack, and the
/// ack carrying the commands pending for the alerts the reporting edge holds.
/// A header naming an edge outside the rule (`grpc::valid_edge_name`) is refused
/// (`INVALID_ARGUMENT`) before anything is read.
pub(super) fn report_alerts(
    svc: &Services,
    req: Request<Streaming<AlertBatch>>,
) -> Result<BoxStream<AlertBatchAck>, Status> {
    let header = match req.metadata().get(EDGE_ID_HEADER) {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => match v.to_str().ok().filter(|e| grpc::valid_edge_name(e)) {
            Some(e) => Some(e.to_string()),
            None => {
                let peer = crate::standing::peer_addr(&req);
                let shown = sentientiq_proto::shown_name(&String::from_utf8_lossy(v.as_bytes()));
                if let Some(not_logged) = svc.metrics.refusal_due("alerts", &shown, peer) {
                    tracing::warn!(edge = %shown, ?peer, not_logged, "alert stream refused: its {EDGE_ID_HEADER} breaks the rule");
                }
                return Err(Status::invalid_argument(format!(
                    "{EDGE_ID_HEADER}: {} (the edge's [edge] id)",
                    grpc::EDGE_NAME_RULE
                )));
            }
        },
    };
    let mut stream = req.into_inner();
    let (store, metrics) = (svc.store.clone(), svc.metrics.clone());
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        metrics.alert_streams.fetch_add(1, Relaxed);
        // Counted down however the stream ends.
        struct Open(Arc<Metrics>);
        impl Drop for Open {
            fn drop(&mut self) {
                self.0.alert_streams.fetch_sub(1, Relaxed);
            }
        }
        let _open = Open(metrics.clone());
        let mut edge = header.clone();
        let mut cursor: Option<Vec<u8>> = None;
        while let Some(b) = stream.next().await {
            let b = match b {
                Ok(b) => b,
                Err(e) => {
                    tracing::info!(error = %e, edge = ?edge, "alert stream ended");
                    return;
                }
            };
            if header.is_none()
                && let Some(r) = b
                    .alerts
                    .iter()
                    .rev()
                    .find(|r| grpc::valid_edge_name(&r.edge_id))
            {
                edge = Some(r.edge_id.clone());
            }
            let (s, e, mut cur, batch_id) =
                (store.clone(), edge.clone(), cursor.take(), b.batch_id);
            let records = b.alerts;
            let r = blocking(move || {
                let put = s.put_alerts(&records)?;
                let commands = match &e {
                    Some(e) => s.commands_for(e, &mut cur)?,
                    None => Vec::new(),
                };
                Ok((put, commands, cur))
            })
            .await;
            let (put, commands) = match r {
                Ok((put, commands, cur)) => {
                    cursor = cur;
                    (put, commands)
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            metrics.alert_records.fetch_add(put.stored as u64, Relaxed);
            metrics
                .alert_records_stale
                .fetch_add(put.stale as u64, Relaxed);
            metrics
                .alert_records_unknown_tenant
                .fetch_add(put.unknown_tenant as u64, Relaxed);
            metrics
                .alert_records_invalid
                .fetch_add(put.invalid as u64, Relaxed);
            metrics
                .alert_commands_sent
                .fetch_add(commands.len() as u64, Relaxed);
            if tx
                .send(Ok(AlertBatchAck { batch_id, commands }))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// Prunes alert records past their retention now and every [`PRUNE_EVERY`], until dropped.
pub async fn prune_alerts_periodically(store: Arc<Store>, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let s = store.clone();
        match blocking(move || s.prune_alerts(now_ms())).await {
            Ok(n) => {
                metrics.alerts_pruned.fetch_add(n as u64, Relaxed);
                if n > 0 {
                    tracing::info!(pruned = n, "alert records past their retention pruned");
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning alert records"),
        }
    }
}

#[tonic::async_trait]
impl grpc::alerts_server::Alerts for Services {
    /// Records newest first (by `opened_ms`), at most
    /// [`MAX_LIST_ALERTS`](crate::store::alerts::MAX_LIST_ALERTS): of one tenant (not found if
    /// it does not exist) or, with an empty `tenant_id`, of all; changed at or after
    /// `since_ms`; only open ones with `open_only`.
    async fn list(
        &self,
        req: Request<ListAlertsRequest>,
    ) -> Result<Response<ListAlertsResponse>, Status> {
        let r = req.into_inner();
        let s = self.store.clone();
        let alerts = blocking(move || {
            let tenant = Some(r.tenant_id.as_str()).filter(|t| !t.is_empty());
            if let Some(t) = tenant
                && s.tenant(t)?.is_none()
            {
                return Err(StoreError::NotFound(format!("tenant {t}")));
            }
            s.list_alerts(tenant, r.since_ms, r.open_only)
        })
        .await?;
        Ok(Response::new(ListAlertsResponse { alerts }))
    }

    /// Queues `acknowledge` or `false_alarm` for the edge holding the alert; it is sent in
    /// every ack to that edge until a record shows it took effect. Not found: no such alert in
    /// that tenant. Nothing is queued when the alert's record shows it took effect already.
    async fn act(&self, req: Request<grpc::AlertActionRequest>) -> Result<Response<Empty>, Status> {
        let r = req.into_inner();
        let c = AlertCommand {
            alert_id: r.alert_id,
            action: r.action,
            by: r.by,
            tenant_id: r.tenant_id,
        };
        let (tenant, alert, action) = (c.tenant_id.clone(), c.alert_id.clone(), c.action.clone());
        let s = self.store.clone();
        let queued = blocking(move || s.queue_command(&c)).await?;
        if queued {
            self.metrics.alert_commands_queued.fetch_add(1, Relaxed);
        }
        tracing::info!(%tenant, %alert, %action, queued, "alert action");
        Ok(Response::new(Empty {}))
    }
}
