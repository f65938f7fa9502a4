//! `siqctl`: tenant, key, account, alert and EVI operations against the control plane, from
//! the shell. Human-readable by default, `--json` for scripts. The endpoint and admin token come
//! from flags or the environment (`SIQ_ENDPOINT`, `SIQ_ADMIN_TOKEN`, `SIQ_CA`).
//!
//! No command prints a secret: the plane never answers an alerting config but redacted
//! (`[redacted]`), and `siqctl alerts set` prints what the plane answered, not the file.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sentientiq_control::store::alerts::MAX_LIST_ALERTS;
use sentientiq_proto::grpc::{
    self, Account, AlertActionRequest, AlertRecord, DeleteUserRequest, EviRequest,
    ListAlertsRequest, ListTenantsRequest, RevokeKeyRequest, RotateKeyRequest, SetAlertsRequest,
    Tenant, TenantId,
};
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

#[path = "siqctl/dashboard.rs"]
mod dashboard;
#[path = "siqctl/edges.rs"]
mod edges;
#[path = "siqctl/experiment.rs"]
mod experiment;
#[path = "siqctl/http.rs"]
mod http;
use experiment::ExperimentCmd;

#[derive(Debug, Parser)]
#[command(
    version,
    about = "Operate SentientIQ tenants, keys, accounts, alerts and the EVI"
)]
struct Cli {
    /// Control plane address.
    #[arg(long, env = "SIQ_ENDPOINT", default_value = "http://127.0.0.1:7500")]
    endpoint: String,
    /// Admin bearer token.
    #[arg(long, env = "SIQ_ADMIN_TOKEN", hide_env_values = true)]
    token: sentientiq_secret::Secret,
    /// PEM CA certificate to verify an https endpoint with.
    #[arg(long, env = "SIQ_CA")]
    ca: Option<std::path::PathBuf>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Publishable write keys (shown once when issued).
    #[command(subcommand)]
    Key(KeyCmd),
    /// The account directory and GDPR deletions.
    #[command(subcommand)]
    Account(AccountCmd),
    /// Alert delivery: a tenant's alerting config, and alerts across every region.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Experiments on a rule's interventions: variants, a holdout, Thompson sampling.
    #[command(subcommand)]
    Experiment(ExperimentCmd),
    /// Revenue forensics: every experiment's arms with 95 % intervals, the uplift against the
    /// holdout, the money claimed (only where the holdout supports it), and the failures.
    Forensics {
        tenant: String,
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
    /// The web dashboard: a tenant's sign-in token, its public failures page.
    Dashboard(dashboard::DashboardArgs),
    /// Every edge's last health report: region, config served, sessions, build, and each
    /// problem (the dashboard's Regions page); `--check` exits 1 when there is any; `--forget`
    /// drops a decommissioned edge's stale report (`--force`: a fresh one too).
    Edges(edges::EdgesArgs),
    /// Usage per UTC day of a month, priced by the plane's rate card (table, --json or --csv).
    Usage {
        tenant: String,
        /// YYYY-MM (default: the current month).
        #[arg(long)]
        month: Option<String>,
        /// CSV on stdout instead of the table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Emotional Volatility Index per region and global.
    Evi {
        tenant: String,
        /// Minutes back from now, the current one included (at most 366 days).
        #[arg(long, default_value_t = 60,
              value_parser = clap::value_parser!(i64)
                  .range(1..=sentientiq_control::forensics::MAX_RANGE_MINUTES))]
        minutes: i64,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCmd {
    /// Creates a tenant (then issue it a key).
    Create {
        id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Allowed origin (repeatable); `*` allows any.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Send `det` frames back to the page.
        #[arg(long)]
        emit: bool,
    },
    Get {
        id: String,
    },
    List,
    Delete {
        id: String,
    },
    /// Replaces a tenant's settings with a JSON file (as `tenant get --json` prints; keys are
    /// kept).
    Update {
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Edits one part of a tenant (read, change, write back).
    #[command(flatten)]
    Edit(EditCmd),
}

#[derive(Debug, Subcommand)]
enum EditCmd {
    /// Sets detection thresholds: NAME=VALUE ... (rage_clicks, rage_gap_ms, rage_radius_px,
    /// thrash_reversals, thrash_window_ms, thrash_min_accel_px_per_ms2, hesitation_dwell_ms,
    /// dead_clicks, dead_window_ms, escalation_confidence).
    Thresholds {
        id: String,
        #[arg(required = true)]
        set: Vec<String>,
    },
    /// Replaces the allowed origins.
    Origins {
        id: String,
        #[arg(required = true)]
        origins: Vec<String>,
    },
    /// Sets the label `det` frames carry for EMOTION in SECTION (replacing one there).
    Label {
        id: String,
        emotion: String,
        section: String,
        label: String,
    },
    /// Removes the label of EMOTION in SECTION.
    Unlabel {
        id: String,
        emotion: String,
        section: String,
    },
    /// Adds or replaces an escalation contact.
    Contact {
        id: String,
        contact_id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// e.g. webhook, slack, email.
        #[arg(long)]
        channel: String,
        #[arg(long)]
        address: String,
    },
    /// Removes a contact (refused while a rule escalates to it).
    Uncontact { id: String, contact_id: String },
    /// Adds or replaces an intervention or escalation rule.
    Rule {
        id: String,
        rule_id: String,
        /// Emotion it fires on (repeatable).
        #[arg(long = "emotion", required = true)]
        emotions: Vec<String>,
        #[arg(long, default_value_t = 0.5)]
        min_confidence: f64,
        /// Page section it is limited to (repeatable; none: everywhere).
        #[arg(long = "section")]
        sections: Vec<String>,
        #[arg(long)]
        require_identified: bool,
        #[arg(long, default_value_t = 0)]
        min_value_cents: i64,
        #[arg(long, default_value_t = 0)]
        session_cooldown_s: u32,
        #[arg(long, default_value_t = 0)]
        account_cooldown_s: u32,
        /// A message to the page: KIND:VARIANT[:PAYLOAD_JSON].
        #[arg(long, conflicts_with_all = ["escalate", "escalate_chain", "variants"])]
        intervene: Option<String>,
        /// Contacts to escalate to (comma-separated ids): one step, the default wait.
        #[arg(long, value_delimiter = ',', conflicts_with_all = ["escalate_chain", "variants"])]
        escalate: Vec<String>,
        /// A chain of the tenant's alerting config to escalate through (`siqctl alerts set`).
        #[arg(long, conflicts_with = "variants")]
        escalate_chain: Option<String>,
        #[command(flatten)]
        experiment: Box<ExperimentArgs>,
    },
    /// Removes a rule.
    Unrule { id: String, rule_id: String },
    /// Do-Not-Track/GPC policy: `drop` or `anonymous`.
    Dnt { id: String, policy: String },
    /// Whether `det` frames go back to the page.
    Emit {
        id: String,
        /// `true` or `false`.
        #[arg(action = clap::ArgAction::Set)]
        on: bool,
    },
    /// The tenant's own lake destination (both empty: the edge's default). A bucket of its own
    /// is reached through each edge's `[lake.s3]` endpoint, region and credentials.
    Lake {
        id: String,
        #[arg(long, default_value = "")]
        bucket: String,
        #[arg(long, default_value = "")]
        prefix: String,
        /// Removed ([`refuse_removed`]): hidden, so that a script still passing it is told why
        /// rather than given "unexpected argument".
        #[arg(long, hide = true)]
        region: Option<String>,
        #[arg(long, hide = true)]
        endpoint: Option<String>,
    },
    /// Sets limits: NAME=VALUE ... (max_frame_bytes, max_samples, max_sessions tighten the
    /// protocol's; max_frame_bytes is in bytes, at least 8192, over 131072 lowered to it;
    /// events_per_month_soft and events_per_month_hard are the monthly quota of billable
    /// events). VALUE `none` removes a limit.
    Limits {
        id: String,
        #[arg(required = true)]
        set: Vec<String>,
    },
    /// The account value (cents) from which a session is high-value (kept under load, never
    /// refused for the quota); `none`: the default, $100,000.
    HighValue { id: String, cents: String },
}

impl EditCmd {
    fn id(&self) -> &str {
        match self {
            EditCmd::Thresholds { id, .. }
            | EditCmd::Origins { id, .. }
            | EditCmd::Label { id, .. }
            | EditCmd::Unlabel { id, .. }
            | EditCmd::Contact { id, .. }
            | EditCmd::Uncontact { id, .. }
            | EditCmd::Rule { id, .. }
            | EditCmd::Unrule { id, .. }
            | EditCmd::Dnt { id, .. }
            | EditCmd::Emit { id, .. }
            | EditCmd::Lake { id, .. }
            | EditCmd::Limits { id, .. }
            | EditCmd::HighValue { id, .. } => id,
        }
    }
}

#[derive(Debug, Subcommand)]
enum KeyCmd {
    /// Issues a new key; prints it once.
    Issue { tenant: String },
    /// Revokes a key by its SHA-256 (as `tenant get` lists).
    Revoke { tenant: String, key_hash: String },
    /// Issues a new key and revokes the old one in one change.
    Rotate { tenant: String, key_hash: String },
}

#[derive(Debug, Subcommand)]
enum AccountCmd {
    /// Imports accounts from a JSON-lines file (`-` for stdin), one object per line:
    /// {"match": "@acme.example", "company": "Acme", "lifetime_value_cents": 12000000,
    ///  "tier": "enterprise", "owner_contact_ids": ["csm-oncall"]}.
    Import {
        tenant: String,
        file: std::path::PathBuf,
    },
    /// GDPR: purge a user's identity on every edge and suppress their data; recorded.
    DeleteUser { tenant: String, uid: String },
}

#[derive(Debug, Subcommand)]
enum AlertsCmd {
    /// Sets a tenant's alerting config (vendor accounts, contacts, chains) from a TOML file
    /// (`-`: stdin; see alerts/alerts.example.toml) and prints it as stored, secrets redacted.
    Set {
        tenant: String,
        file: std::path::PathBuf,
    },
    /// Prints a tenant's alerting config, secrets redacted.
    Get { tenant: String },
    /// Removes a tenant's alerting config (refused while a rule pages through it).
    Remove { tenant: String },
    /// Alerts from every region, newest first (at most 1000).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Only open ones (not acknowledged, labelled or closed).
        #[arg(long)]
        open: bool,
        /// Only those changed at or after this time (ms since the Unix epoch).
        #[arg(long, default_value_t = 0)]
        since_ms: i64,
    },
    /// "I'm on it": stops the alert's chain everywhere (PagerDuty included).
    Ack {
        alert: String,
        #[arg(long)]
        tenant: String,
        /// Who acknowledges (shown with the alert).
        #[arg(long)]
        by: String,
    },
    /// Labels the alert a false alarm and closes it.
    FalseAlarm {
        alert: String,
        #[arg(long)]
        tenant: String,
        /// Who labels it.
        #[arg(long)]
        by: String,
    },
}

/// Adds the admin token to every request.
#[derive(Debug, Clone)]
struct AddToken(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for AddToken {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

type Auth = tonic::service::interceptor::InterceptedService<Channel, AddToken>;

/// Most bytes of one answer siqctl decodes (tonic's default is 4 MiB). An answer grows with
/// what it lists: an EVI with its minutes and regions (`tenant list` asks page by page, each
/// at most about 1 MiB but for one tenant). siqctl holds an answer whole to print it; 256 MiB
/// bounds a runaway one and is far past any fleet's (a chosen bound, not a measured one).
/// `alerts list` takes its own, computed bound.
const MAX_ANSWER_BYTES: usize = 256 << 20;

async fn channel(cli: &Cli) -> Result<Channel> {
    sentientiq_url::setting("endpoint", &cli.endpoint, sentientiq_url::check_root)?;
    let shown = sentientiq_url::shown(&cli.endpoint);
    let mut ep = Endpoint::from_shared(cli.endpoint.clone())
        .with_context(|| format!("endpoint `{shown}`"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(60));
    if cli.endpoint.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &cli.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        ep = ep.tls_config(tls)?;
    }
    ep.connect()
        .await
        .with_context(|| format!("connecting to {shown}"))
}

fn auth(ch: Channel, token: &str) -> Result<Auth> {
    let v: MetadataValue<_> = format!("Bearer {token}")
        .parse()
        .context("the token must be printable ASCII")?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        ch,
        AddToken(v),
    ))
}

fn out(json: bool, value: &impl serde::Serialize, human: impl FnOnce() -> String) -> Result<()> {
    let text = if json {
        serde_json::to_string_pretty(value)? + "\n"
    } else {
        human()
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

fn now_minute() -> Result<i64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs() as i64
        / 60)
}

/// The plane's forensics of `tenant` over the last `days` (the current minute included).
async fn forensics(
    ch: &Auth,
    tenant: &str,
    days: i64,
) -> Result<sentientiq_control::forensics::TenantForensics> {
    let max = sentientiq_control::forensics::MAX_DAYS;
    if !(1..=max).contains(&days) {
        bail!("--days must be 1..={max}");
    }
    let now = now_minute()?;
    let r = grpc::analytics_client::AnalyticsClient::new(ch.clone())
        .max_decoding_message_size(MAX_ANSWER_BYTES)
        .forensics(grpc::ForensicsRequest {
            tenant_id: tenant.to_string(),
            from_minute: now + 1 - days * 1440,
            to_minute: now + 1,
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", code_name(e.code()), e.message()))?
        .into_inner();
    serde_json::from_str(&r.report_json).context("the plane's forensics report")
}

/// Minutes since the Unix epoch as `YYYY-MM-DD HH:MM` (UTC).
fn utc_minute(minute: i64) -> String {
    let (days, m) = (minute.div_euclid(1440), minute.rem_euclid(1440));
    let (y, mo, d) = sentientiq_proto::civil_date(days);
    format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}", m / 60, m % 60)
}

fn describe(t: &Tenant) -> String {
    let mut s = format!("tenant {}", t.id);
    if !t.name.is_empty() {
        s += &format!(" ({})", t.name);
    }
    s += &format!(
        "\n  keys (sha-256): {}\n  origins: {}\n  emit: {}  rules: {}  contacts: {}  labels: {}\n",
        if t.key_hashes.is_empty() {
            "none".to_string()
        } else {
            t.key_hashes.join(", ")
        },
        if t.allowed_origins.is_empty() {
            "none".to_string()
        } else {
            t.allowed_origins.join(", ")
        },
        t.emit,
        t.rules.len(),
        t.contacts.len(),
        t.labels.len()
    );
    if let Some(th) = &t.thresholds {
        s += &format!(
            "  thresholds: {}\n",
            serde_json::to_string(th).unwrap_or_default()
        );
    }
    s
}

fn set_threshold(th: &mut grpc::Thresholds, kv: &str) -> Result<()> {
    let (k, v) = kv
        .split_once('=')
        .with_context(|| format!("`{kv}` is not NAME=VALUE"))?;
    let int = || -> Result<Option<u32>> {
        Ok(Some(v.parse().with_context(|| {
            format!("{k}: `{v}` is not a whole number")
        })?))
    };
    let float = || -> Result<Option<f64>> {
        Ok(Some(
            v.parse()
                .with_context(|| format!("{k}: `{v}` is not a number"))?,
        ))
    };
    match k {
        "rage_clicks" => th.rage_clicks = int()?,
        "rage_gap_ms" => th.rage_gap_ms = int()?,
        "rage_radius_px" => th.rage_radius_px = int()?,
        "thrash_reversals" => th.thrash_reversals = int()?,
        "thrash_window_ms" => th.thrash_window_ms = int()?,
        "thrash_min_accel_px_per_ms2" => th.thrash_min_accel_px_per_ms2 = float()?,
        "hesitation_dwell_ms" => th.hesitation_dwell_ms = int()?,
        "dead_clicks" => th.dead_clicks = int()?,
        "dead_window_ms" => th.dead_window_ms = int()?,
        "escalation_confidence" => th.escalation_confidence = float()?,
        _ => bail!("unknown threshold `{k}`"),
    }
    Ok(())
}

/// Flags siqctl no longer acts on, refused before anything is sent, naming the flag and not
/// its value (an endpoint may hold credentials): `tenant lake --region` and `--endpoint` (the
/// plane refuses both, since they were stored and never used).
fn refuse_removed(cmd: &Cmd) -> Result<()> {
    if let Cmd::Tenant(TenantCmd::Edit(EditCmd::Lake {
        region, endpoint, ..
    })) = cmd
    {
        for (flag, given) in [("--region", region), ("--endpoint", endpoint)] {
            if given.is_some() {
                bail!(
                    "{flag}: a tenant's lake no longer has its own region or endpoint; every \
                     edge reaches the tenant's bucket through its own [lake.s3] endpoint, region \
                     and credentials (set them in each edge's config): give --bucket and \
                     --prefix only (the plane's own --endpoint goes before the subcommand)"
                );
            }
        }
    }
    Ok(())
}

/// Applies one of the editing subcommands to a tenant read from the control plane.
fn edit_tenant(t: &mut Tenant, edit: EditCmd) -> Result<()> {
    match edit {
        EditCmd::Thresholds { set, .. } => {
            let mut th = t.thresholds.take().unwrap_or_default();
            for kv in &set {
                set_threshold(&mut th, kv)?;
            }
            t.thresholds = Some(th);
        }
        EditCmd::Origins { origins, .. } => t.allowed_origins = origins,
        EditCmd::Label {
            emotion,
            section,
            label,
            ..
        } => {
            t.labels
                .retain(|l| !(l.emotion == emotion && l.section == section));
            t.labels.push(grpc::ContextLabel {
                emotion,
                section,
                label,
            });
        }
        EditCmd::Unlabel {
            emotion, section, ..
        } => {
            let before = t.labels.len();
            t.labels
                .retain(|l| !(l.emotion == emotion && l.section == section));
            if t.labels.len() == before {
                bail!("no label for {emotion} in {section}");
            }
        }
        EditCmd::Contact {
            contact_id,
            name,
            channel,
            address,
            ..
        } => {
            t.contacts.retain(|c| c.id != contact_id);
            t.contacts.push(grpc::Contact {
                id: contact_id,
                name,
                channel,
                address,
            });
        }
        EditCmd::Uncontact { contact_id, .. } => {
            let before = t.contacts.len();
            t.contacts.retain(|c| c.id != contact_id);
            if t.contacts.len() == before {
                bail!("no contact {contact_id}");
            }
        }
        EditCmd::Rule {
            rule_id,
            emotions,
            min_confidence,
            sections,
            require_identified,
            min_value_cents,
            session_cooldown_s,
            account_cooldown_s,
            intervene,
            escalate,
            escalate_chain,
            experiment,
            ..
        } => {
            let action = match (intervene, escalate.is_empty()) {
                (None, true) if !experiment.variants.is_empty() => {
                    grpc::rule::Action::Experiment(experiment::experiment_of(*experiment)?)
                }
                (None, true) if escalate_chain.is_some() => {
                    grpc::rule::Action::Escalation(grpc::Escalation {
                        contact_ids: Vec::new(),
                        chain: escalate_chain.unwrap_or_default(),
                    })
                }
                (Some(spec), _) => {
                    let mut parts = spec.splitn(3, ':');
                    let kind = parts.next().unwrap_or_default().to_string();
                    let variant = parts.next().unwrap_or_default().to_string();
                    let payload_json = parts.next().unwrap_or("{}").to_string();
                    if kind.is_empty() {
                        bail!("--intervene KIND:VARIANT[:PAYLOAD_JSON]");
                    }
                    serde_json::from_str::<serde_json::Value>(&payload_json)
                        .with_context(|| format!("--intervene payload `{payload_json}`"))?;
                    grpc::rule::Action::Intervention(grpc::Intervention {
                        kind,
                        variant,
                        payload_json,
                    })
                }
                (None, false) => grpc::rule::Action::Escalation(grpc::Escalation {
                    contact_ids: escalate,
                    chain: String::new(),
                }),
                (None, true) => {
                    bail!("a rule needs --intervene, --variant, --escalate or --escalate-chain")
                }
            };
            t.rules.retain(|r| r.id != rule_id);
            t.rules.push(grpc::Rule {
                id: rule_id,
                emotions,
                min_confidence,
                sections,
                require_identified,
                min_value_cents,
                action: Some(action),
                session_cooldown_s,
                account_cooldown_s,
            });
        }
        EditCmd::Unrule { rule_id, .. } => {
            let before = t.rules.len();
            t.rules.retain(|r| r.id != rule_id);
            if t.rules.len() == before {
                bail!("no rule {rule_id}");
            }
        }
        EditCmd::Dnt { policy, .. } => {
            t.dnt = match policy.as_str() {
                "drop" => grpc::DntPolicy::Drop,
                "anonymous" => grpc::DntPolicy::Anonymous,
                p => bail!("dnt policy `{p}`: drop or anonymous"),
            } as i32;
        }
        EditCmd::Emit { on, .. } => t.emit = on,
        EditCmd::Lake { bucket, prefix, .. } => {
            t.lake = Some(grpc::LakeDestination {
                bucket,
                prefix,
                ..grpc::LakeDestination::default()
            });
        }
        EditCmd::Limits { set, .. } => {
            let mut l = t.limits.take().unwrap_or_default();
            for kv in &set {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("`{kv}` is not NAME=VALUE"))?;
                let n: Option<u64> =
                    match v {
                        "none" => None,
                        _ => Some(v.parse().with_context(|| {
                            format!("{k}: `{v}` is not a whole number or `none`")
                        })?),
                    };
                let small = |n: Option<u64>| -> Result<Option<u32>> {
                    n.map(|n| u32::try_from(n).with_context(|| format!("{k}: {n} is too large")))
                        .transpose()
                };
                match k {
                    "max_frame_bytes" => l.max_frame_bytes = small(n)?,
                    "max_samples" => l.max_samples = small(n)?,
                    "max_sessions" => l.max_sessions = small(n)?,
                    "events_per_month_soft" => l.events_per_month_soft = n,
                    "events_per_month_hard" => l.events_per_month_hard = n,
                    _ => bail!("unknown limit `{k}`"),
                }
            }
            t.limits = Some(l);
        }
        EditCmd::HighValue { cents, .. } => {
            t.high_value_cents = match cents.as_str() {
                "none" => None,
                c => Some(
                    c.parse()
                        .with_context(|| format!("`{c}` is not a whole number of cents"))?,
                ),
            };
        }
    }
    Ok(())
}

/// What a command reads from a file, or from stdin for `-`: `account import`'s accounts and
/// `alerts set`'s TOML; `None` for the others.
fn input(cmd: &Cmd) -> Result<Option<String>> {
    let file = match cmd {
        Cmd::Account(AccountCmd::Import { file, .. }) => file,
        Cmd::Alerts(AlertsCmd::Set { file, .. }) => file,
        _ => return Ok(None),
    };
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    Ok(Some(text))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    refuse_removed(&cli.cmd)?;
    match &cli.cmd {
        Cmd::Dashboard(args) => return dashboard::run(args, cli.token.expose(), cli.json).await,
        Cmd::Edges(args) => return edges::run(args, cli.token.expose(), cli.json).await,
        _ => {}
    }
    // Read before connecting: the plane closes a connection that has started no request for
    // `grpc_unauthenticated_idle_ms` (30 s), and input typed or piped slowly may take longer.
    let mut input = input(&cli.cmd)?;
    let ch = auth(channel(&cli).await?, cli.token.expose())?;
    let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone())
        .max_decoding_message_size(MAX_ANSWER_BYTES);
    let json = cli.json;
    let status = |e: tonic::Status| anyhow::anyhow!("{}: {}", code_name(e.code()), e.message());
    match cli.cmd {
        Cmd::Tenant(TenantCmd::Create {
            id,
            name,
            origins,
            emit,
        }) => {
            let t = admin
                .create_tenant(Tenant {
                    id,
                    name,
                    allowed_origins: origins,
                    emit,
                    ..Tenant::default()
                })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &t, || {
                format!(
                    "created {}\n(no keys yet: siqctl key issue {})\n",
                    describe(&t),
                    t.id
                )
            })?;
        }
        Cmd::Tenant(TenantCmd::Get { id }) => {
            let t = admin
                .get_tenant(TenantId { id: id.clone() })
                .await
                .map_err(status)?
                .into_inner();
            // Whether it has an alerting config (never its content: `alerts get` shows that).
            let alerting = match json {
                true => None,
                false => Some(admin.get_alerts(TenantId { id: id.clone() }).await.is_ok()),
            };
            out(json, &t, || {
                let mut s = describe(&t);
                if let Some(set) = alerting {
                    s += &match set {
                        true => format!("  alerting config: set (siqctl alerts get {id})\n"),
                        false => {
                            "  alerting config: none (escalations are recorded, not delivered)\n"
                                .to_string()
                        }
                    };
                }
                s
            })?;
        }
        Cmd::Tenant(TenantCmd::List) => {
            let tenants = all_pages(MAX_ANSWER_BYTES, |after| {
                let mut admin = admin.clone();
                async move {
                    let req = ListTenantsRequest {
                        after,
                        limit: 0,
                        paged: true,
                    };
                    Ok(admin.list_tenants(req).await.map_err(status)?.into_inner())
                }
            })
            .await?;
            out(json, &tenants, || {
                if tenants.is_empty() {
                    return "no tenants\n".into();
                }
                tenants
                    .iter()
                    .map(|t| format!("{}\t{} keys\t{}\n", t.id, t.key_hashes.len(), t.name))
                    .collect()
            })?;
        }
        Cmd::Tenant(TenantCmd::Delete { id }) => {
            admin
                .delete_tenant(TenantId { id: id.clone() })
                .await
                .map_err(status)?;
            out(json, &serde_json::json!({"deleted": id}), || {
                format!("deleted tenant {id}\n")
            })?;
        }
        Cmd::Tenant(TenantCmd::Update { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // The reason never repeats a value: serde quotes a string put where another type
            // belongs, and a tenant may hold credentials.
            let t: Tenant = serde_json::from_str(&text).map_err(|e| {
                let why = sentientiq_secret::without_values(&e.to_string());
                anyhow::anyhow!("{}: not a tenant in JSON: {why}", file.display())
            })?;
            let t = admin.update_tenant(t).await.map_err(status)?.into_inner();
            out(json, &t, || format!("updated {}", describe(&t)))?;
        }
        Cmd::Tenant(TenantCmd::Edit(edit)) => {
            let mut t = admin
                .get_tenant(TenantId {
                    id: edit.id().to_string(),
                })
                .await
                .map_err(status)?
                .into_inner();
            edit_tenant(&mut t, edit)?;
            let t = admin.update_tenant(t).await.map_err(status)?.into_inner();
            out(json, &t, || format!("updated {}", describe(&t)))?;
        }
        Cmd::Key(KeyCmd::Issue { tenant }) => {
            let k = admin
                .issue_key(TenantId { id: tenant.clone() })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &k, || {
                format!(
                    "key for {tenant} (shown once; store it now):\n{}\nsha-256: {}\n",
                    k.key, k.key_hash
                )
            })?;
        }
        Cmd::Key(KeyCmd::Revoke { tenant, key_hash }) => {
            admin
                .revoke_key(RevokeKeyRequest {
                    tenant_id: tenant.clone(),
                    key_hash: key_hash.clone(),
                })
                .await
                .map_err(status)?;
            out(json, &serde_json::json!({"revoked": key_hash}), || {
                format!("revoked {key_hash} of {tenant}\n")
            })?;
        }
        Cmd::Key(KeyCmd::Rotate { tenant, key_hash }) => {
            let k = admin
                .rotate_key(RotateKeyRequest {
                    tenant_id: tenant.clone(),
                    key_hash: key_hash.clone(),
                })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &k, || {
                format!(
                    "revoked {key_hash}; new key for {tenant} (shown once; store it now):\n{}\nsha-256: {}\n",
                    k.key, k.key_hash
                )
            })?;
        }
        Cmd::Account(AccountCmd::Import { tenant, .. }) => {
            let text = input.take().unwrap_or_default();
            let mut accounts = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let mut a: Account = serde_json::from_str(line)
                    .with_context(|| format!("line {}: not an account object", i + 1))?;
                a.tenant_id = tenant.clone();
                accounts.push(a);
            }
            let n = accounts.len();
            let mut acc = grpc::accounts_client::AccountsClient::new(ch.clone())
                .max_decoding_message_size(MAX_ANSWER_BYTES);
            let s = acc
                .import(tokio_stream::iter(accounts))
                .await
                .map_err(status)?
                .into_inner();
            out(json, &s, || {
                format!("imported {} of {n} accounts into {tenant}\n", s.upserted)
            })?;
        }
        Cmd::Account(AccountCmd::DeleteUser { tenant, uid }) => {
            let mut acc = grpc::accounts_client::AccountsClient::new(ch.clone())
                .max_decoding_message_size(MAX_ANSWER_BYTES);
            acc.delete_user(DeleteUserRequest {
                tenant_id: tenant.clone(),
                uid: uid.clone(),
            })
            .await
            .map_err(status)?;
            out(json, &serde_json::json!({"deleted_user": uid}), || {
                format!("deletion of {uid} in {tenant} recorded; edges purge it\n")
            })?;
        }
        Cmd::Alerts(cmd) => alerts(ch, json, cmd, input.take()).await?,
        Cmd::Experiment(ExperimentCmd::Show { tenant, rule, days }) => {
            let t = admin
                .get_tenant(TenantId { id: tenant.clone() })
                .await
                .map_err(status)?
                .into_inner();
            let f = forensics(&ch, &tenant, days).await?;
            let shown = experiment::show(&t, &rule, &f)?;
            out(json, &shown, || experiment::render_shown(&shown, &f))?;
        }
        Cmd::Experiment(cmd) => {
            let mut t = admin
                .get_tenant(TenantId {
                    id: cmd.tenant().to_string(),
                })
                .await
                .map_err(status)?
                .into_inner();
            let said = experiment::edit(&mut t, cmd)?;
            let t = admin.update_tenant(t).await.map_err(status)?.into_inner();
            out(json, &t, || format!("{said}\nupdated {}", describe(&t)))?;
        }
        Cmd::Usage { tenant, month, csv } => {
            let (from_day, to_day) = match &month {
                Some(m) => {
                    sentientiq_control::metering::month_days(m).map_err(anyhow::Error::msg)?
                }
                None => {
                    let (y, m, _) = sentientiq_proto::civil_date(now_minute()?.div_euclid(1440));
                    sentientiq_control::metering::month_days(&format!("{y:04}-{m:02}"))
                        .map_err(anyhow::Error::msg)?
                }
            };
            let u = grpc::analytics_client::AnalyticsClient::new(ch.clone())
                .max_decoding_message_size(MAX_ANSWER_BYTES)
                .usage(grpc::UsageRequest {
                    tenant_id: tenant.clone(),
                    from_day,
                    to_day,
                })
                .await
                .map_err(status)?
                .into_inner();
            if csv {
                std::io::stdout().write_all(sentientiq_control::metering::csv(&u).as_bytes())?;
            } else {
                out(json, &u, || {
                    sentientiq_control::metering::render(&tenant, &u)
                })?;
            }
        }
        Cmd::Forensics { tenant, days } => {
            let f = forensics(&ch, &tenant, days).await?;
            out(json, &f, || sentientiq_control::forensics::render(&f))?;
        }
        // Answered above, before any gRPC connection.
        Cmd::Dashboard(_) | Cmd::Edges(_) => {}
        Cmd::Evi { tenant, minutes } => {
            let now = now_minute()?;
            let mut an = grpc::analytics_client::AnalyticsClient::new(ch.clone())
                .max_decoding_message_size(MAX_ANSWER_BYTES);
            let r = an
                .evi(EviRequest {
                    tenant_id: tenant.clone(),
                    from_minute: now + 1 - minutes,
                    to_minute: now + 1,
                })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &r, || {
                let mut s = format!("EVI of {tenant}, last {minutes} min\n");
                let mut regions: Vec<&str> = r.points.iter().map(|p| p.region.as_str()).collect();
                regions.sort_unstable();
                regions.dedup();
                for reg in regions {
                    let last = r
                        .points
                        .iter()
                        .filter(|p| p.region == reg)
                        .max_by_key(|p| p.minute);
                    if let Some(p) = last {
                        s += &format!(
                            "  {:<10} {:>5.1}  ({} active sessions, minute {} UTC)\n",
                            if reg.is_empty() { "global" } else { reg },
                            p.evi,
                            p.active_sessions,
                            utc_minute(p.minute)
                        );
                    }
                }
                if r.points.is_empty() {
                    s += "  no windows reported in this range\n";
                }
                // The last minute alone moves with the clock (a run's tail may be all it holds):
                // the global index of each minute in range, oldest first (the last ten).
                let mut global: Vec<&grpc::EviPoint> =
                    r.points.iter().filter(|p| p.region.is_empty()).collect();
                global.sort_by_key(|p| p.minute);
                if global.len() > 1 {
                    s += "  global by minute (UTC):";
                    for p in &global[global.len().saturating_sub(10)..] {
                        let hm = utc_minute(p.minute);
                        s += &format!("  {} {:.1}", &hm[hm.len() - 5..], p.evi);
                    }
                    s += "\n";
                }
                s
            })?;
        }
    }
    Ok(())
}

/// `siqctl alerts …`.
async fn alerts(ch: Auth, json: bool, cmd: AlertsCmd, input: Option<String>) -> Result<()> {
    let status = |e: tonic::Status| anyhow::anyhow!("{}: {}", code_name(e.code()), e.message());
    let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone())
        .max_decoding_message_size(MAX_ANSWER_BYTES);
    // A list's answer may pass tonic's default 4 MiB: up to MAX_LIST_ALERTS records of up to
    // MAX_ALERT_RECORD_BYTES each (about 64 MiB), each with its key and length.
    let mut alerts = grpc::alerts_client::AlertsClient::new(ch).max_decoding_message_size(
        MAX_LIST_ALERTS * (sentientiq_control::store::alerts::MAX_ALERT_RECORD_BYTES + 8),
    );
    match cmd {
        AlertsCmd::Set { tenant, file } => {
            let toml = input.unwrap_or_default();
            if toml.trim().is_empty() {
                bail!(
                    "{} is empty; to remove the alerting config: siqctl alerts remove {tenant}",
                    file.display()
                );
            }
            let c = admin
                .set_alerts(SetAlertsRequest {
                    tenant_id: tenant.clone(),
                    toml,
                })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &c, || {
                format!(
                    "alerting config of {tenant} set (secrets redacted):\n{}",
                    c.toml_redacted
                )
            })?;
        }
        AlertsCmd::Get { tenant } => {
            let c = admin
                .get_alerts(TenantId { id: tenant })
                .await
                .map_err(status)?
                .into_inner();
            out(json, &c, || c.toml_redacted.clone())?;
        }
        AlertsCmd::Remove { tenant } => {
            admin
                .set_alerts(SetAlertsRequest {
                    tenant_id: tenant.clone(),
                    toml: String::new(),
                })
                .await
                .map_err(status)?;
            out(json, &serde_json::json!({"removed": tenant}), || {
                format!(
                    "alerting config of {tenant} removed; escalations are recorded, not delivered\n"
                )
            })?;
        }
        AlertsCmd::List {
            tenant,
            open,
            since_ms,
        } => {
            let l = alerts
                .list(ListAlertsRequest {
                    tenant_id: tenant.unwrap_or_default(),
                    since_ms,
                    open_only: open,
                })
                .await
                .map_err(status)?
                .into_inner();
            let now = now_ms()?;
            out(json, &l.alerts, || alert_table(&l.alerts, now))?;
        }
        AlertsCmd::Ack { alert, tenant, by } => {
            act(&mut alerts, json, tenant, alert, "acknowledge", by).await?;
        }
        AlertsCmd::FalseAlarm { alert, tenant, by } => {
            act(&mut alerts, json, tenant, alert, "false_alarm", by).await?;
        }
    }
    Ok(())
}

async fn act(
    alerts: &mut grpc::alerts_client::AlertsClient<Auth>,
    json: bool,
    tenant: String,
    alert: String,
    action: &str,
    by: String,
) -> Result<()> {
    alerts
        .act(AlertActionRequest {
            tenant_id: tenant.clone(),
            alert_id: alert.clone(),
            action: action.to_string(),
            by: by.clone(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("{}: {}", code_name(e.code()), e.message()))?;
    let v = serde_json::json!({"tenant": tenant, "alert": alert, "action": action, "by": by});
    out(json, &v, || {
        let what = match action {
            "acknowledge" => "acknowledged",
            _ => "labelled a false alarm",
        };
        format!(
            "{alert} of {tenant}: {what} by {by}; the edge holding it applies it at its next report \
             (siqctl alerts list --tenant {tenant} shows when)\n"
        )
    })
}

fn now_ms() -> Result<i64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_millis() as i64)
}

/// Cents as dollars with thousands separators: `$120,000`, `$1,234.50`, `-$5`.
fn dollars(cents: i64) -> String {
    let (sign, c) = match cents < 0 {
        true => ("-", cents.unsigned_abs()),
        false => ("", cents.unsigned_abs()),
    };
    let whole = (c / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match c % 100 {
        0 => format!("{sign}${grouped}"),
        r => format!("{sign}${grouped}.{r:02}"),
    }
}

/// How long ago, in the largest unit that fits: `45s`, `12m`, `3h`, `2d`.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `2/3 delivered`, with failures and give-ups when there are any.
fn deliveries(a: &AlertRecord) -> String {
    let count = |st: &[&str]| {
        a.deliveries
            .iter()
            .filter(|d| st.contains(&d.status.as_str()))
            .count()
    };
    let mut s = format!("{}/{} delivered", count(&["delivered"]), a.deliveries.len());
    let failed = count(&["failed", "gave_up"]);
    if failed > 0 {
        s += &format!(", {failed} failed");
    }
    s
}

/// Alerts as a table, newest first as the plane answers them.
fn alert_table(alerts: &[AlertRecord], now_ms: i64) -> String {
    if alerts.is_empty() {
        return "no alerts\n".into();
    }
    let dash = |s: &str| match s.is_empty() {
        true => "-".to_string(),
        false => s.to_string(),
    };
    let mut rows = vec![
        [
            "ID",
            "TENANT",
            "REGION",
            "ACCOUNT",
            "VALUE",
            "USER",
            "EMOTION",
            "STATE",
            "STEP",
            "DELIVERIES",
            "ACKED BY",
            "AGE",
        ]
        .map(String::from),
    ];
    for a in alerts {
        rows.push([
            a.alert_id.clone(),
            a.tenant_id.clone(),
            dash(&a.region),
            dash(&a.account),
            dollars(a.value_cents),
            dash(&a.user),
            dash(&a.emotion),
            a.state.clone(),
            a.step.to_string(),
            deliveries(a),
            dash(&a.acked_by),
            age(now_ms - a.opened_ms),
        ]);
    }
    let mut width = [0usize; 12];
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s += line.join("  ").trim_end();
        s.push('\n');
    }
    if alerts.len() >= MAX_LIST_ALERTS {
        s += &format!("(the newest {MAX_LIST_ALERTS}; narrow with --tenant or --since-ms)\n");
    }
    s
}

fn code_name(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::NotFound => "not found",
        tonic::Code::AlreadyExists => "already exists",
        tonic::Code::InvalidArgument => "invalid",
        tonic::Code::Unavailable => "unavailable",
        _ => "error",
    }
}

/// Every tenant, page by page (each at most about 1 MiB), so a list of any size arrives:
/// `page(after)` asks for the page after `after`. At most `max_bytes` of pages are held, and
/// a page that does not move on (ids come in order) ends the list with an error rather than
/// being asked for ever.
async fn all_pages<F, P>(max_bytes: usize, mut page: F) -> Result<Vec<Tenant>>
where
    F: FnMut(String) -> P,
    P: std::future::Future<Output = Result<grpc::ListTenantsResponse>>,
{
    let mut tenants = Vec::new();
    let mut after = String::new();
    let mut bytes = 0usize;
    loop {
        let p = page(after.clone()).await?;
        bytes += prost::Message::encoded_len(&p);
        if bytes > max_bytes {
            bail!("the tenants pass {max_bytes} bytes: more than siqctl holds");
        }
        tenants.extend(p.tenants);
        if p.next_after.is_empty() {
            return Ok(tenants);
        }
        if p.next_after <= after {
            bail!("the plane's tenant pages do not move on (after {after:?})");
        }
        after = p.next_after;
    }
}

#[cfg(test)]
mod tests {
    use super::{age, alert_table, all_pages, dollars, utc_minute};
    use sentientiq_proto::grpc::{AlertDelivery, AlertRecord, ListTenantsResponse, Tenant};

    /// Pages of one tenant each, `next_after` as given.
    fn pages(script: &[(&str, &str)]) -> Vec<ListTenantsResponse> {
        script
            .iter()
            .map(|(id, next)| ListTenantsResponse {
                tenants: vec![Tenant {
                    id: id.to_string(),
                    ..Tenant::default()
                }],
                next_after: next.to_string(),
            })
            .collect()
    }

    /// Runs `all_pages` over `script`; the ids gathered, or the error's words, and the
    /// `after` of each ask.
    fn run(
        script: &[(&str, &str)],
        max_bytes: usize,
    ) -> (Result<Vec<String>, String>, Vec<String>) {
        let mut left = pages(script).into_iter();
        let mut asked = Vec::new();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let got = rt.block_on(all_pages(max_bytes, |after| {
            asked.push(after);
            let p = left.next().expect("asked past the script");
            async move { Ok(p) }
        }));
        let got = got
            .map(|t| t.into_iter().map(|t| t.id).collect())
            .map_err(|e| e.to_string());
        (got, asked)
    }

    #[test]
    fn tenant_pages_are_followed_to_the_end_within_their_bytes_and_in_order() {
        let script = [("a", "a"), ("b", "b"), ("c", "")];
        let (got, asked) = run(&script, usize::MAX);
        assert_eq!(got, Ok(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(asked, ["", "a", "b"]);
        // The bytes held: all three pages at exactly their sum, refused one byte under.
        let sum: usize = pages(&script).iter().map(prost::Message::encoded_len).sum();
        assert!(run(&script, sum).0.is_ok());
        assert_eq!(
            run(&script, sum - 1).0,
            Err(format!(
                "the tenants pass {} bytes: more than siqctl holds",
                sum - 1
            ))
        );
        // A page that does not move on ends the list instead of being asked again.
        let (got, asked) = run(&[("a", "a"), ("b", "a")], usize::MAX);
        assert_eq!(
            got,
            Err("the plane's tenant pages do not move on (after \"a\")".into())
        );
        assert_eq!(asked, ["", "a"]);
    }

    #[test]
    fn values_print_as_dollars() {
        for (cents, want) in [
            (0, "$0"),
            (5, "$0.05"),
            (100, "$1"),
            (99_999, "$999.99"),
            (100_000, "$1,000"),
            (12_000_000, "$120,000"),
            (123_456_789, "$1,234,567.89"),
            (-150, "-$1.50"),
            (i64::MIN, "-$92,233,720,368,547,758.08"),
        ] {
            assert_eq!(dollars(cents), want, "{cents}");
        }
    }

    #[test]
    fn ages_print_in_the_largest_unit_that_fits() {
        for (ms, want) in [
            (-5, "0s"),
            (59_999, "59s"),
            (60_000, "1m"),
            (3_599_999, "59m"),
            (3_600_000, "1h"),
            (86_399_999, "23h"),
            (86_400_000, "1d"),
        ] {
            assert_eq!(age(ms), want, "{ms}");
        }
    }

    #[test]
    fn alerts_print_as_an_aligned_table() {
        let d = |status: &str| AlertDelivery {
            status: status.into(),
            ..AlertDelivery::default()
        };
        let a = AlertRecord {
            alert_id: "al_1".into(),
            tenant_id: "acme".into(),
            region: "us-east-1".into(),
            account: "Globex".into(),
            value_cents: 12_000_000,
            user: "ana@globex.example".into(),
            emotion: "rage".into(),
            state: "acknowledged".into(),
            step: 1,
            deliveries: vec![d("delivered"), d("delivered"), d("gave_up")],
            acked_by: "bob".into(),
            opened_ms: 1_000,
            ..AlertRecord::default()
        };
        let t = alert_table(&[a], 181_000);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].starts_with("ID    TENANT  REGION"), "{t}");
        for want in [
            "$120,000",
            "ana@globex.example",
            "2/3 delivered, 1 failed",
            "bob",
            "3m",
        ] {
            assert!(lines[1].contains(want), "{want} in {t}");
        }
        // Columns line up: every column starts where its header does.
        let col = |l: &str, s: &str| l.find(s).expect("present");
        assert_eq!(col(lines[0], "VALUE"), col(lines[1], "$120,000"));
        assert_eq!(col(lines[0], "AGE"), col(lines[1], "3m"));
        assert_eq!(alert_table(&[], 0), "no alerts\n");
    }

    #[test]
    fn minutes_print_as_utc_dates() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(-1), "1969-12-31 23:59");
        // 2000-02-29 12:34 (a leap day in a century leap year) = 951 827 640 s.
        assert_eq!(utc_minute(951_827_640 / 60), "2000-02-29 12:34");
        // 2026-11-30 16:25 = 1 796 055 900 s.
        assert_eq!(utc_minute(1_796_055_900 / 60), "2026-11-30 16:25");
    }
}

/// `siqctl tenant rule … --variant …`: an experiment instead of one intervention (issue 17).
#[derive(Debug, clap::Args)]
struct ExperimentArgs {
    /// A variant ID:KIND[:PAYLOAD_JSON] (repeatable, in a fixed order: append or pause, never
    /// reorder or remove).
    #[arg(long = "variant")]
    variants: Vec<String>,
    /// A variant that is never assigned (repeatable; its counts stay).
    #[arg(long = "paused", requires = "variants")]
    paused: Vec<String>,
    /// Share of qualifying sessions held out, shown nothing (0..=0.5; default 0.1).
    #[arg(long, requires = "variants")]
    holdout: Option<f64>,
    /// Sessions every variant gets before Thompson sampling takes over (default 100).
    #[arg(long, requires = "variants")]
    burn_in: Option<u64>,
    /// Least probability of each active variant (default 0.01; at most 1/variants).
    #[arg(long, requires = "variants")]
    floor: Option<f64>,
    /// How long after assignment outcomes count, seconds (default 1800).
    #[arg(long, requires = "variants")]
    attribution_window_s: Option<u64>,
}
