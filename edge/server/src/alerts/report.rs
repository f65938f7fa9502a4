//! Alert state to the control plane (`EdgeSync.ReportAlerts`) and to the lake (`alerts` rows).
//!
//! Every `report_interval_ms` the alerts that changed since the plane last acknowledged them
//! go in one batch (an empty batch is the heartbeat); the plane's answer carries commands for
//! alerts this edge holds (an acknowledgement or a false-alarm label given with `siqctl`),
//! which become runner commands. The plane repeats a command until a record shows it applied,
//! and the runner applies each idempotently. What the plane did not acknowledge stays dirty
//! and goes again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sentientiq_alerts::Chain;
use sentientiq_alerts::chain::State;
use sentientiq_alerts::shell::Command;
use sentientiq_proto::grpc::{self, edge_sync_client::EdgeSyncClient};
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

use super::Handle;
use crate::config::ControlSection;
use crate::control::Retry;

/// Alerts in one batch at most.
pub const MAX_BATCH: usize = 200;

/// An enum's serde name (`gave_up`, `acknowledge`).
fn text(s: impl serde::Serialize) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `open`, `acknowledged`, `false_alarm` or `closed` (closed without acknowledgement: the
/// chain was exhausted and the account went quiet).
pub fn state(c: &Chain) -> &'static str {
    match (&c.state, c.closed_ms) {
        (State::Acknowledged { .. }, _) => "acknowledged",
        (State::FalseAlarm { .. }, _) => "false_alarm",
        (State::Open, None) => "open",
        (State::Open, Some(_)) => "closed",
    }
}

/// The plane's record of an alert.
pub fn record(c: &Chain, edge: &str, region: &str, now_ms: u64) -> grpc::AlertRecord {
    let d = &c.detection;
    let (by, at) = match &c.state {
        State::Acknowledged { by, at_ms } | State::FalseAlarm { by, at_ms } => {
            (by.clone(), *at_ms as i64)
        }
        State::Open => (String::new(), 0),
    };
    grpc::AlertRecord {
        alert_id: c.id.to_string(),
        tenant_id: d.tenant.clone(),
        region: region.to_string(),
        edge_id: edge.to_string(),
        account: d.account.clone(),
        value_cents: d.value_cents,
        user: d.user.clone().unwrap_or_default(),
        session: d.session.clone(),
        emotion: d.emotion.clone(),
        confidence: d.confidence,
        section: d.section.clone().unwrap_or_default(),
        page: d.page.clone().unwrap_or_default(),
        opened_ms: c.opened_ms as i64,
        state: state(c).to_string(),
        step: c.step as u32 + 1,
        repeats: c.count.saturating_sub(1),
        deliveries: c
            .deliveries
            .iter()
            .map(|x| grpc::AlertDelivery {
                id: x.id.to_string(),
                contact: x.contact.to_string(),
                channel: x.channel.as_str().to_string(),
                status: text(x.status),
                attempts: x.attempts,
                latency_ms: c.latency_ms(x).map_or(0, |v| v as i64),
                step: x.step,
            })
            .collect(),
        acked_by: by,
        acked_ms: at,
        updated_ms: now_ms as i64,
        rule: d.rule.clone().unwrap_or_default(),
    }
}

/// The lake's row of a finished alert.
pub fn lake_row(c: &Chain) -> sentientiq_lake::AlertRow {
    let d = &c.detection;
    let (acked, false_alarm) = match &c.state {
        State::Acknowledged { by, at_ms } => (Some((by.clone(), *at_ms)), None),
        State::FalseAlarm { by, at_ms } => (None, Some((by.clone(), *at_ms))),
        State::Open => (None, None),
    };
    let final_state = match (&c.state, c.exhausted) {
        (State::Acknowledged { .. }, _) => "acknowledged",
        (State::FalseAlarm { .. }, _) => "false_alarm",
        (State::Open, true) => "exhausted",
        (State::Open, false) => "closed",
    };
    sentientiq_lake::AlertRow {
        alert_id: c.id.to_string(),
        rule: d.rule.clone(),
        account: Some(d.account.clone()),
        value_cents: d.value_cents,
        user: d.user.clone(),
        detection: None,
        emotion: d.emotion.clone(),
        confidence: d.confidence,
        section: d.section.clone(),
        page: d.page.clone(),
        detected_ms: d.at_ms,
        opened_ms: c.opened_ms,
        closed_ms: c.closed_ms.unwrap_or(0),
        state: final_state.to_string(),
        steps_fired: c.step as u32 + 1,
        repeats: c.count.saturating_sub(1),
        acked_by: acked.as_ref().map(|a| a.0.clone()),
        acked_ms: acked.map(|a| a.1),
        false_alarm_by: false_alarm.as_ref().map(|a| a.0.clone()),
        false_alarm_ms: false_alarm.map(|a| a.1),
        possible_duplicates: c.possible_duplicates(),
        deliveries: c
            .deliveries
            .iter()
            .map(|x| sentientiq_lake::DeliveryRow {
                id: x.id.to_string(),
                step: x.step,
                contact: x.contact.to_string(),
                channel: x.channel.as_str().to_string(),
                purpose: text(x.purpose),
                status: text(x.status),
                attempts: x.attempts,
                latency_ms: c.latency_ms(x),
                provider_id: x.provider_id.clone(),
                error: x.error.clone(),
            })
            .collect(),
    }
}

/// Reports until the edge stops (the task is aborted).
pub async fn run(h: Arc<Handle>, cfg: ControlSection, every: Duration) {
    let ch = match crate::control::channel(&cfg) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "alerts: not reporting to the control plane");
            return;
        }
    };
    let Ok(token) = cfg.bearer().parse() else {
        return;
    };
    let mut client = EdgeSyncClient::new(ch);
    let mut retry = Retry::new(crate::control::retry_seed(
        &h.edge_id,
        crate::control::Stream::Alerts,
    ));
    loop {
        if let Err(s) = stream(&h, &mut client, &token, every, &mut retry).await {
            h.metrics.report_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(code = ?s.code(), message = s.message(), "alerts: report stream broke (changes are resent)");
        }
        tokio::time::sleep(retry.wait()).await;
    }
}

/// One stream: a batch every `every`, answers as they come.
async fn stream(
    h: &Handle,
    client: &mut EdgeSyncClient<tonic::transport::Channel>,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    every: Duration,
    retry: &mut Retry,
) -> Result<(), tonic::Status> {
    let (tx, rx) = mpsc::channel::<grpc::AlertBatch>(4);
    let mut req = tonic::Request::new(ReceiverStream(rx));
    req.metadata_mut().insert("authorization", token.clone());
    // The plane learns which edge holds which alerts from this (commands for an edge wait
    // for its stream, even when it reports nothing new).
    if let Ok(v) = h.edge_id.parse() {
        req.metadata_mut().insert("siq-edge-id", v);
    }
    let first = tx.clone();
    // The first batch goes before the call returns: a plane answers a stream's headers only
    // once it has read from it.
    let mut sent: HashMap<u64, Vec<Arc<Chain>>> = HashMap::new();
    let mut next_id = 1u64;
    let mut make = |sent: &mut HashMap<u64, Vec<Arc<Chain>>>| {
        let chains = h.views.dirty(MAX_BATCH);
        let now = crate::clock::now_ms();
        let id = next_id;
        next_id += 1;
        let b = grpc::AlertBatch {
            alerts: chains
                .iter()
                .map(|c| record(c, &h.edge_id, &h.region, now))
                .collect(),
            batch_id: id,
        };
        sent.insert(id, chains);
        b
    };
    let _ = first.try_send(make(&mut sent));
    let mut acks = client.report_alerts(req).await?.into_inner();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                // At most a few batches unanswered: a plane that stops answering is not flooded.
                if sent.len() < 4 {
                    let b = make(&mut sent);
                    if tx.send(b).await.is_err() {
                        return Err(tonic::Status::unavailable("request stream closed"));
                    }
                }
            }
            a = acks.message() => {
                let Some(a) = a? else {
                    return Err(tonic::Status::unavailable("the plane ended the stream"));
                };
                retry.answered();
                if let Some(chains) = sent.remove(&a.batch_id) {
                    h.metrics.reported.fetch_add(chains.len() as u64, Ordering::Relaxed);
                    h.views.reported(&chains);
                }
                for c in a.commands {
                    apply(h, c);
                }
            }
        }
    }
}

/// A plane command for an alert this edge holds.
fn apply(h: &Handle, c: grpc::AlertCommand) {
    let Ok(alert) = sentientiq_alerts::AlertId::new(c.alert_id.as_str()) else {
        return;
    };
    let Some(chain) = h.views.get(&alert) else {
        return;
    };
    // Applied already (the plane repeats a command until a record shows it).
    let done = matches!(
        (c.action.as_str(), &chain.state),
        (_, State::FalseAlarm { .. }) | ("acknowledge", State::Acknowledged { .. })
    );
    if done {
        return;
    }
    let by = if c.by.is_empty() {
        "control plane".to_string()
    } else {
        c.by.clone()
    };
    h.metrics.commands.fetch_add(1, Ordering::Relaxed);
    match c.action.as_str() {
        "acknowledge" => h.command(Command::Acknowledge { alert, by }),
        "false_alarm" => h.command(Command::FalseAlarm { alert, by }),
        other => tracing::warn!(action = other, "alerts: unknown command from the plane"),
    }
}

/// A request stream from a channel receiver (tonic takes any `Stream`).
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::sync::mpsc;

    #[derive(Debug)]
    pub struct ReceiverStream<T>(pub mpsc::Receiver<T>);

    impl<T> futures_util::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use sentientiq_alerts::chain::{Policy, Roster};
    use sentientiq_alerts::ids::{AlertId, ContactId};
    use sentientiq_alerts::message::Detection;

    #[test]
    fn a_chain_becomes_the_planes_record_and_the_lakes_row() {
        let d = Detection {
            tenant: "acme".into(),
            account: "Globex".into(),
            value_cents: 12_000_000,
            user: Some("u1".into()),
            session: "s1".into(),
            emotion: "rage".into(),
            confidence: 0.91,
            section: Some("checkout".into()),
            page: None,
            evidence: vec![],
            at_ms: 1_000,
            rule: Some("page".into()),
        };
        let csm = ContactId::new("csm").expect("id");
        let mut out = vec![];
        let mut c = Chain::open(
            1_050,
            AlertId::new("al_x").expect("id"),
            d,
            Policy::one_step(vec![csm]),
            &Roster::default(),
            &mut out,
        );
        let r = record(&c, "e1", "eu", 2_000);
        assert_eq!(
            (
                r.state.as_str(),
                r.step,
                r.repeats,
                r.rule.as_str(),
                r.region.as_str()
            ),
            ("open", 1, 0, "page", "eu")
        );
        assert_eq!((r.opened_ms, r.updated_ms), (1_050, 2_000));
        c.false_alarm(3_000, "ana", &Roster::default(), &mut out);
        let r = record(&c, "e1", "eu", 3_000);
        assert_eq!(
            (r.state.as_str(), r.acked_by.as_str(), r.acked_ms),
            ("false_alarm", "ana", 3_000)
        );
        let row = lake_row(&c);
        assert_eq!(row.state, "false_alarm");
        assert_eq!(
            (row.false_alarm_by.as_deref(), row.false_alarm_ms),
            (Some("ana"), Some(3_000))
        );
        assert_eq!(
            (row.detected_ms, row.opened_ms, row.steps_fired),
            (1_000, 1_050, 1)
        );
        assert_eq!(row.rule.as_deref(), Some("page"));
        assert!(row.acked_by.is_none());
    }
}
