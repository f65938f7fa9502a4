//! The plane's gRPC as an edge and an admin see it: token-carrying requests, clients, a config
//! watch, an edge reporting alerts, and a runtime to drive them from a test.

use std::time::Duration;

use sentientiq_proto::grpc::{
    self, AggregateBatch, AlertBatch, AlertBatchAck, AlertDelivery, AlertRecord, ArmTally,
    ConfigUpdate, ExperimentWindow, RegisterEdge,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::plane::EDGE_TOKEN;

/// `msg` with `authorization: Bearer token`.
pub fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

pub fn admin(ch: &Channel) -> grpc::tenant_admin_client::TenantAdminClient<Channel> {
    grpc::tenant_admin_client::TenantAdminClient::new(ch.clone())
}

pub fn alerts(ch: &Channel) -> grpc::alerts_client::AlertsClient<Channel> {
    grpc::alerts_client::AlertsClient::new(ch.clone())
}

/// `WatchConfig` as edge `edge_id` of `region`, resuming after version `from` (0: a snapshot).
pub async fn watch(
    ch: &Channel,
    edge_id: &str,
    region: &str,
    from: u64,
) -> tonic::Streaming<ConfigUpdate> {
    register(
        ch,
        RegisterEdge {
            edge_id: edge_id.into(),
            region: region.into(),
            resume_from_version: from,
            ..RegisterEdge::default()
        },
    )
    .await
    .expect("watch")
}

/// `WatchConfig` with the edge token and `reg` as given: the stream, or the refusal.
pub async fn register(
    ch: &Channel,
    reg: RegisterEdge,
) -> Result<tonic::Streaming<ConfigUpdate>, tonic::Status> {
    grpc::edge_sync_client::EdgeSyncClient::new(ch.clone())
        .watch_config(with_token(reg, EDGE_TOKEN))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn next_update(s: &mut tonic::Streaming<ConfigUpdate>) -> ConfigUpdate {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an update within 5 s")
        .expect("stream open")
        .expect("no error")
}

/// `n` experiment windows of `tenant` reported under `edge_id` (`edge@boot_ms`) in
/// us-east-1, rules `rule-00000-rrr…` (61 bytes), each with the holdout and `arms - 1` variants
/// of 61-byte ids, every count ten bytes encoded: about 1.5 KB a total, so that 3000 of them
/// are more than a 4 MiB gRPC message holds.
pub fn large_experiment_windows(
    tenant: &str,
    edge_id: &str,
    n: usize,
    arms: usize,
) -> Vec<ExperimentWindow> {
    let big = u64::MAX / 3;
    let arm = |variant: String| ArmTally {
        variant,
        sessions: big,
        conversions: big,
        revenue_cents: big,
        revenue_sq_hi: big,
        revenue_sq_lo: big,
        revenue_cube_hi: big,
        revenue_cube_lo: big,
        shown: big,
        clicked: big,
        dismissed: big,
    };
    (0..n)
        .map(|i| ExperimentWindow {
            tenant_id: tenant.into(),
            region: "us-east-1".into(),
            edge_id: edge_id.into(),
            minute: 29_000_000,
            rule: format!("rule-{i:05}-{}", "r".repeat(50)),
            arms: std::iter::once(String::new())
                .chain((1..arms).map(|v| format!("variant-{v}-{}", "v".repeat(50))))
                .map(arm)
                .collect(),
            value_at_risk_cents: 0,
        })
        .collect()
}

/// Reports `windows` as an edge, 500 a batch; panics unless every batch is stored.
pub async fn report_experiments(ch: &Channel, windows: Vec<ExperimentWindow>) {
    let batches: Vec<AggregateBatch> = windows
        .chunks(500)
        .zip(1u64..)
        .map(|(c, batch_id)| AggregateBatch {
            experiments: c.to_vec(),
            batch_id,
            ..AggregateBatch::default()
        })
        .collect();
    let n = batches.len() as u64;
    let acks: Vec<u64> = grpc::edge_sync_client::EdgeSyncClient::new(ch.clone())
        .report_aggregates(with_token(tokio_stream::iter(batches), EDGE_TOKEN))
        .await
        .expect("report")
        .into_inner()
        .map(|a| a.expect("stored").batch_id)
        .collect()
        .await;
    assert_eq!(acks, (1..=n).collect::<Vec<u64>>());
}

/// An edge's `ReportAlerts` stream.
#[derive(Debug)]
pub struct Reporter {
    tx: mpsc::Sender<AlertBatch>,
    acks: tonic::Streaming<AlertBatchAck>,
    next: u64,
}

impl Reporter {
    /// Opens the stream with `token`, naming the edge in the `siq-edge-id` header if given.
    pub async fn open(
        ch: &Channel,
        token: &str,
        edge_header: Option<&str>,
    ) -> Result<Reporter, tonic::Status> {
        let (tx, rx) = mpsc::channel(16);
        let mut req = with_token(ReceiverStream::new(rx), token);
        if let Some(e) = edge_header {
            req.metadata_mut()
                .insert("siq-edge-id", e.parse().expect("ascii"));
        }
        let acks = grpc::edge_sync_client::EdgeSyncClient::new(ch.clone())
            .report_alerts(req)
            .await?
            .into_inner();
        Ok(Reporter { tx, acks, next: 0 })
    }

    pub async fn connect(ch: &Channel, edge_header: Option<&str>) -> Reporter {
        Reporter::open(ch, EDGE_TOKEN, edge_header)
            .await
            .expect("ReportAlerts opens")
    }

    /// Sends one batch and waits for its ack.
    pub async fn report(&mut self, alerts: Vec<AlertRecord>) -> AlertBatchAck {
        self.next += 1;
        let batch_id = self.next;
        self.tx
            .send(AlertBatch { alerts, batch_id })
            .await
            .expect("stream open");
        let ack = tokio::time::timeout(Duration::from_secs(10), self.acks.next())
            .await
            .expect("an ack within 10 s")
            .expect("stream open")
            .expect("no error");
        assert_eq!(ack.batch_id, batch_id, "acks come in order");
        ack
    }

    /// An empty batch (the heartbeat); the commands its ack carries, as `alert:action:by`.
    pub async fn heartbeat(&mut self) -> Vec<String> {
        commands(&self.report(vec![]).await)
    }
}

pub fn commands(ack: &AlertBatchAck) -> Vec<String> {
    ack.commands
        .iter()
        .map(|c| format!("{}:{}:{}", c.alert_id, c.action, c.by))
        .collect()
}

/// A record as an edge reports it: a $120k account's rage, two of three pages delivered.
pub fn record(tenant: &str, id: &str, edge: &str, state: &str, opened_ms: i64) -> AlertRecord {
    let d = |n: u32, status: &str, step: u32| AlertDelivery {
        id: format!("{id}-d{n}"),
        contact: "csm".into(),
        channel: "slack_webhook".into(),
        status: status.into(),
        attempts: 1,
        latency_ms: if status == "delivered" { 850 } else { 0 },
        step,
    };
    AlertRecord {
        alert_id: id.into(),
        tenant_id: tenant.into(),
        region: "us-east-1".into(),
        edge_id: edge.into(),
        account: "Globex".into(),
        value_cents: 12_000_000,
        user: "ana@globex.example".into(),
        session: "s-1".into(),
        emotion: "rage".into(),
        confidence: 0.97,
        section: "checkout".into(),
        page: "/checkout".into(),
        opened_ms,
        state: state.into(),
        step: 1,
        repeats: 0,
        deliveries: vec![
            d(1, "delivered", 0),
            d(2, "delivered", 1),
            d(3, "pending", 1),
        ],
        acked_by: String::new(),
        acked_ms: 0,
        updated_ms: opened_ms,
        rule: "page".into(),
    }
}

/// ms since the Unix epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
