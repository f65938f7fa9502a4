//! What the tests share: a plane process, token-carrying requests, a stand-in edge reporting
//! alerts, and an alerting config with real-looking secrets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sentientiq_proto::grpc::{
    self, AlertBatch, AlertBatchAck, AlertDelivery, AlertRecord, ConfigUpdate, RegisterEdge,
};
use sentientiq_testkit::net::free_port;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

pub const ADMIN: &str = "plane-test-admin-token-01";
pub const EDGE: &str = "plane-test-edge-token-001";

/// A tenant's alerting config whose every credential looks real. [`SECRETS`] are its secret
/// values: none may ever be shown to an admin.
pub const SECRET_ALERTS: &str = r#"
[providers]
slack_bot_token = "xoxb-2041-7733-SlackBotSecretValue"

[providers.twilio]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth = { kind = "auth_token", token = "TwilioAuthTokenSecret0123456789" }
sms_from = { number = "+14155552345" }

[[contacts]]
id = "csm"
name = "Ana (CSM)"
addresses = [
  { kind = "slack_webhook", url = "https://hooks.slack.com/services/T0SECRET/B0SECRET/HookSecretValue" },
  { kind = "sms", to = "+14155550100" },
]

[[contacts]]
id = "vp"
name = "VP Customer Success"
addresses = [{ kind = "pagerduty", routing_key = "R0ut1ngKeySecret0123456789abcdef" }]

[[contacts]]
id = "ceo"
name = "CEO"
addresses = [
  { kind = "webhook", url = "https://ops.example.com/hooks/siq?token=UrlTokenSecret", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
]

[chains.enterprise]
steps = [{ contacts = ["csm"] }, { contacts = ["vp"], wait_ms = 120000 }, { contacts = ["ceo"] }]
"#;

/// The secret values of [`SECRET_ALERTS`] (each a distinctive part of one).
pub const SECRETS: [&str; 7] = [
    "xoxb-2041",
    "SlackBotSecretValue",
    "TwilioAuthTokenSecret",
    "HookSecretValue",
    "R0ut1ngKeySecret",
    "UrlTokenSecret",
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
];

/// Panics if `text` shows any of [`SECRETS`].
pub fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows the secret {s:?}:\n{text}");
    }
}

pub fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

/// A real `sentientiq-control` process with its data in a temporary directory.
#[derive(Debug)]
pub struct Plane {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub http_port: u16,
    child: Option<Child>,
}

impl Plane {
    pub fn start() -> Plane {
        // Claimed for this test process, below the ephemeral range (the kit's, which says why).
        let (port, http_port) = (free_port(), free_port());
        let mut p = Plane {
            dir: tempfile::tempdir().expect("tempdir"),
            port,
            http_port,
            child: None,
        };
        p.spawn();
        p
    }

    /// Starts the process (again, after [`Plane::kill9`]) on the same ports and data.
    pub fn spawn(&mut self) {
        let cfg = self.dir.path().join("control.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\n\
                 admin_token = \"{ADMIN}\"\nedge_token = \"{EDGE}\"\n",
                self.port,
                self.http_port,
                self.dir.path().join("data"),
            ),
        )
        .expect("config");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("control.log"))
            .expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentientiq-control"))
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "info,sentientiq_control=debug")
            .env_remove("SIQ_ADMIN_TOKEN")
            .env_remove("SIQ_EDGE_TOKEN")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the plane starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("the plane exited ({st}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the plane does not listen:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("control.log")).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    /// `GET /metrics` on its HTTP face.
    pub fn metrics(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).expect("http");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("request");
        let mut body = String::new();
        s.read_to_string(&mut body).expect("response");
        assert!(
            body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
            "{body}"
        );
        body
    }

    /// Runs siqctl against it: whether it succeeded, stdout, stderr.
    pub fn siqctl(&self, args: &[&str]) -> (bool, String, String) {
        let o = Command::new(env!("CARGO_BIN_EXE_siqctl"))
            .args(args)
            .env("SIQ_ENDPOINT", self.url())
            .env("SIQ_ADMIN_TOKEN", ADMIN)
            .output()
            .expect("siqctl runs");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("control plane log:\n{}", self.log());
        }
        self.kill9();
    }
}

pub fn admin(ch: &Channel) -> grpc::tenant_admin_client::TenantAdminClient<Channel> {
    grpc::tenant_admin_client::TenantAdminClient::new(ch.clone())
}

pub fn alerts(ch: &Channel) -> grpc::alerts_client::AlertsClient<Channel> {
    grpc::alerts_client::AlertsClient::new(ch.clone())
}

/// `WatchConfig` as edge `edge_id`.
pub async fn watch(ch: &Channel, edge_id: &str, from: u64) -> tonic::Streaming<ConfigUpdate> {
    grpc::edge_sync_client::EdgeSyncClient::new(ch.clone())
        .watch_config(with_token(
            RegisterEdge {
                edge_id: edge_id.into(),
                region: "us-east-1".into(),
                resume_from_version: from,
                ..RegisterEdge::default()
            },
            EDGE,
        ))
        .await
        .expect("watch")
        .into_inner()
}

pub async fn next_update(s: &mut tonic::Streaming<ConfigUpdate>) -> ConfigUpdate {
    tokio::time::timeout(Duration::from_secs(5), s.next())
        .await
        .expect("an update within 5 s")
        .expect("stream open")
        .expect("no error")
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
        Reporter::open(ch, EDGE, edge_header)
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
