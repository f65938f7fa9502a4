//! `sentientiq-loadgen`: N human-like sessions with known ground truth against one or more
//! edges; prints a summary and optionally writes a JSON report.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use sentientiq_alerts::secret::WebhookSecret;
use sentientiq_loadgen::alerts::expect::{self, Directory, Plan, load_tenant};
use sentientiq_loadgen::alerts::score;
use sentientiq_loadgen::alerts::sink::{Sink, SinkConfig};
use sentientiq_loadgen::alerts::{Epoch, drain};
use sentientiq_loadgen::run::{Opts, QuicOpts, Stats, Transport, parse_ws_url, run_with};
use sentientiq_loadgen::synth::Mix;
use sentientiq_loadgen::uplift::Uplift;
use sentientiq_loadgen::{parse_duration, report};

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Edge WebSocket URL; repeat to spread sessions over several edges.
    #[arg(long = "edge", default_value = "ws://127.0.0.1:7400/v1/ws")]
    edges: Vec<String>,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// How long each session runs (30s, 2m, ...).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Sessions start evenly over this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    ramp: Duration,
    /// Same seed, same traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Persona mix, e.g. calm=0.7,rage=0.06,frustrated=0.06,hesitant=0.06,confused=0.06,abandoning=0.06
    #[arg(long)]
    mix: Option<String>,
    /// The tenant's publishable write key.
    #[arg(long, default_value = "siq_pk_demo_00000000000000000000")]
    key: String,
    /// Share of sessions that identify as a user of one of `--account-domain`.
    #[arg(long, default_value_t = 0.3)]
    identified: f64,
    /// Email domain of an account the edge knows (repeatable). Default: the `@domain` accounts
    /// of the tenant in `--edge-config` when given, else acme.example.
    #[arg(long = "account-domain")]
    account_domains: Vec<String>,
    /// `ws`, `quic`, or `mixed` (even sessions over WebSocket, odd over QUIC, in one run).
    #[arg(long, default_value = "ws")]
    transport: String,
    /// An edge's QUIC address, one per `--edge` in the same order (default: each edge's host
    /// with the next port, as the edge defaults).
    #[arg(long = "quic")]
    quic_addrs: Vec<std::net::SocketAddr>,
    /// An edge certificate's SHA-256 (hex), or a file holding it (`data_dir/quic/cert.sha256`);
    /// repeat for edges with different certificates.
    #[arg(long = "quic-pin")]
    quic_pins: Vec<String>,
    /// Sessions per QUIC connection (1: like browsers; more: like a server-side SDK).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    quic_sessions_per_connection: u32,
    /// Client UDP sockets QUIC connections are spread over.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    quic_sockets: u32,
    /// Threads that read and write the QUIC sockets and drive the connections (the sockets are
    /// spread over them); 0 runs them on the sessions' thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=64))]
    quic_io_threads: u32,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// A tenant label and the emotion it stands for (repeatable): `det` frames carry the
    /// tenant's contextual label where it has one. The default is the demo tenant's.
    #[arg(long = "label", default_value = "price_anxiety=hesitation")]
    labels: Vec<String>,
    /// Spread sessions over this many loopback source addresses (127.0.0.1, .2, ...), each
    /// bound with its port left for `connect` to choose (`IP_BIND_ADDRESS_NO_PORT`). 1: the OS
    /// chooses the address. Needed past about 14 000 connections to one edge: `connect` looks
    /// for a free port in one half of the ephemeral range first (14 116 ports with Linux's
    /// default 32768–60999), and once that half is taken, every connect scans the ports in
    /// use (measured in `bench/runs/2026-12-03-vm/README.md`, "Thirteenth session").
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    source_ips: u8,
    /// Score the same sessions through the detection core in this process (no edge, no
    /// network): accuracy against ground truth only, at the default thresholds.
    #[arg(long)]
    offline: bool,
    /// Seconds to wait for outstanding acks at the end.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    drain: Duration,
    /// Receive the edge's alerts on this address (e.g. 127.0.0.1:7490): Standard Webhooks on
    /// any path, Slack incoming webhooks on /services/…, PagerDuty on /v2/enqueue. The report
    /// then gives alerts expected/received/missing/duplicated/unexpected and their latency
    /// (the frame that completed the evidence, as sent → the request received). Without
    /// `--edge-config` nothing is expected: it lists the alerts received, with their links.
    #[arg(long)]
    alert_sink: Option<std::net::SocketAddr>,
    /// The signed webhooks' secret (`whsec_…`).
    #[arg(long, default_value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    alert_secret: String,
    /// The edge's config file: its tenant for `--key` (rules, thresholds, account directory,
    /// `[tenant.alerts]` chains) decides which sessions must page, as the edge decides.
    #[arg(long, requires = "alert_sink")]
    edge_config: Option<std::path::PathBuf>,
    /// After the sessions end, how long to wait for late alerts (less once every expected
    /// alert came and nothing arrived for a second).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    alert_drain: Duration,
    /// Sessions answer interventions with known conversion probabilities (issue 17), e.g.
    /// `holdout=0.05,chat=0.08,offer=0.06`: `holdout` (or `none`) is the probability of a session
    /// whose script injected a qualifying episode and that got no `iv`; every other key is a
    /// variant id (the `iv`'s `variant`), the probability of a session shown it. Each session
    /// draws from its own seeded stream; after its scripted frames are acked it sends `out shown`
    /// per `iv` and, if it converts, `out converted`. The report adds "Experiment truth": per arm
    /// the injected probability, sessions, conversions sent and realized rate, and the injected
    /// uplift of each variant and of the pooled treatment against the baseline. At most 9
    /// entries (8 variants and the baseline).
    #[arg(long, conflicts_with = "offline")]
    uplift: Option<String>,
    /// With `--uplift`: an emotion whose injected episode makes a session qualify for the
    /// baseline (repeatable; default: any episode). Name the experiment rule's emotions.
    #[arg(long = "uplift-emotion", requires = "uplift")]
    uplift_emotions: Vec<String>,
}

/// The alert sink and what it should receive.
struct Alerts {
    sink: Sink,
    /// What the edge must send; None without `--edge-config` (receive and list only).
    plan: Option<Plan>,
    epoch: Epoch,
}

/// Plans the run's alerts against the edge's config and starts the sink.
fn alerts(a: &Args, mix: &Mix, domains: &[String]) -> Result<Option<Alerts>> {
    let Some(addr) = a.alert_sink else {
        return Ok(None);
    };
    let secret = WebhookSecret::new(a.alert_secret.clone())
        .map_err(|e| anyhow::anyhow!("--alert-secret: {e}"))?;
    let Some(path) = &a.edge_config else {
        let epoch = Epoch::now();
        let sink = Sink::start(SinkConfig::new(addr, secret, epoch.at))?;
        eprintln!(
            "alerts: receiving on {addr} (no --edge-config: listed, not scored)",
            addr = sink.addr()
        );
        return Ok(Some(Alerts {
            sink,
            plan: None,
            epoch,
        }));
    };
    let tenant = load_tenant(path, &a.key)?;
    let started = Instant::now();
    let plan = Plan::new(
        &expect::Run {
            seed: a.seed,
            sessions: a.sessions,
            duration: a.duration,
            ramp: a.ramp,
            mix,
            identified: a.identified,
            domains,
        },
        &tenant,
    );
    eprintln!(
        "alerts: {} expected from {} escalating sessions of tenant `{}` ({} accounts must page by the truth; planned in {:.1} s)",
        plan.alerts.len(),
        plan.sessions
            .iter()
            .filter(|s| !s.escalations.is_empty())
            .count(),
        tenant.id,
        plan.truth_accounts.len(),
        started.elapsed().as_secs_f64()
    );
    let epoch = Epoch::now();
    let sink = Sink::start(SinkConfig::new(addr, secret, epoch.at))?;
    Ok(Some(Alerts {
        sink,
        plan: Some(plan),
        epoch,
    }))
}

/// Files the loadgen keeps open besides its sessions' sockets: its runtime's, its QUIC
/// endpoints', its report's and the process's own (a WebSocket run of 10 sessions held 8
/// besides its sockets, 2026-12-06); the rest is room.
const OWN_FILES: u64 = 128;

/// The soft open-file limit (`Max open files` in `/proc/self/limits`); `None` when unlimited
/// or unknown.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() -> Result<()> {
    let a = Args::parse();
    let transport = Transport::parse(&a.transport).map_err(anyhow::Error::msg)?;
    let mut hosts = Vec::new();
    for e in &a.edges {
        hosts.push(parse_ws_url(e).map_err(anyhow::Error::msg)?.0);
    }
    let quic = match transport {
        Transport::Ws => None,
        Transport::Quic | Transport::Mixed => Some(quic_opts(&a, &hosts)?),
    };
    if a.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    // A WebSocket session is a socket; QUIC sessions share `--quic-sockets`. A run that cannot
    // open them would report the machine's limit as the server's errors.
    if let Some(limit) = open_file_limit() {
        let sockets = match transport {
            Transport::Ws => a.sessions as u64,
            Transport::Quic => u64::from(a.quic_sockets),
            // Even sessions over WebSocket (`Transport::of`): half of them, rounded up.
            Transport::Mixed => a.sessions.div_ceil(2) as u64 + u64::from(a.quic_sockets),
        };
        let needed = sockets + OWN_FILES;
        if needed > limit {
            bail!(
                "--sessions {} needs about {needed} open files ({sockets} sockets and {OWN_FILES} of its own); this process may open {limit} (RLIMIT_NOFILE): raise it (ulimit -n) or run fewer sessions",
                a.sessions
            );
        }
    }
    if !(0.0..=1.0).contains(&a.identified) {
        bail!("--identified is a share in 0..=1");
    }
    let mix = match &a.mix {
        Some(m) => Mix::parse(m).map_err(anyhow::Error::msg)?,
        None => Mix::default(),
    };
    if a.offline {
        return offline(&a, &mix);
    }
    let uplift = match &a.uplift {
        Some(u) => Some(
            Uplift::parse(u)
                .and_then(|u| u.with_emotions(&a.uplift_emotions))
                .map_err(anyhow::Error::new)?,
        ),
        None => None,
    };
    let mut labels = Vec::new();
    for l in &a.labels {
        let (label, emotion) = l
            .split_once('=')
            .with_context(|| format!("--label `{l}` is not LABEL=EMOTION"))?;
        if !sentientiq_loadgen::truth::EMOTIONS.contains(&emotion) {
            bail!("--label `{l}`: unknown emotion `{emotion}`");
        }
        labels.push((label.to_string(), emotion.to_string()));
    }
    let mut domains = a.account_domains.clone();
    if domains.is_empty()
        && let Some(path) = &a.edge_config
    {
        domains = Directory::of(&load_tenant(path, &a.key)?)
            .domains()
            .to_vec();
        if domains.is_empty() {
            bail!(
                "{}: the tenant has no `@domain` accounts; give --account-domain",
                path.display()
            );
        }
    }
    if domains.is_empty() {
        domains.push("acme.example".into());
    }
    let alerting = alerts(&a, &mix, &domains)?;
    let watch = alerting
        .as_ref()
        .and_then(|al| al.plan.as_ref())
        .map(Plan::watch)
        .unwrap_or_default();
    let opts = Opts {
        edges: a.edges.clone(),
        sessions: a.sessions,
        duration: a.duration,
        ramp: a.ramp,
        seed: a.seed,
        mix,
        key: a.key.clone(),
        identified: a.identified,
        account_domains: domains,
        labels,
        drain: a.drain,
        progress: true,
        source_ips: a.source_ips,
        transport,
        quic,
    };
    let stats = Rc::new(RefCell::new(Stats::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    local.block_on(&rt, async {
        let progress = {
            let stats = stats.clone();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(if tty { 1 } else { 5 }));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let s = stats.borrow();
                    let line = format!(
                        "{:>5.0}s  sessions {:>6} active  frames {:>9} sent {:>9} acked  samples {:>10}  det {:>6}  errors {:>4}",
                        started.elapsed().as_secs_f64(),
                        s.sessions_active,
                        s.frames_sent,
                        s.acked,
                        s.samples_sent,
                        s.detections.values().sum::<u64>(),
                        s.errors.values().sum::<u64>()
                    );
                    let mut err = std::io::stderr().lock();
                    let _ = if tty {
                        write!(err, "\r{line}")
                    } else {
                        writeln!(err, "{line}")
                    };
                    let _ = err.flush();
                }
            })
        };
        let r = run_with(opts, stats.clone(), watch, uplift).await;
        progress.abort();
        r
    })
    .map_err(anyhow::Error::msg)?;
    if tty {
        eprintln!();
    }
    let elapsed = started.elapsed();
    let mut r = report::report(&stats.borrow(), a.sessions, elapsed, a.seed, &a.edges);
    if let Some(al) = &alerting {
        let sent = al.epoch.sent(&stats.borrow().watched);
        let drained = drain(&al.sink, al.plan.as_ref(), &sent, &al.epoch, a.alert_drain);
        let arrivals = al.sink.arrivals();
        let sink = al.sink.addr().to_string();
        r["alerts"] = match &al.plan {
            Some(plan) => report::alerts(
                &score::score(plan, &arrivals, &sent, al.epoch.wall_ms),
                plan,
                &sink,
                drained,
                al.sink.dropped(),
            ),
            None => report::alerts_received(
                &score::received(&arrivals),
                &sink,
                drained,
                al.sink.dropped(),
            ),
        };
    }
    if let Some(al) = alerting {
        al.sink.stop();
    }
    let text = report::summary(&r);
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("stdout")?;
    if let Some(path) = &a.report {
        std::fs::write(path, serde_json::to_vec_pretty(&r)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn quic_opts(a: &Args, hosts: &[String]) -> Result<QuicOpts> {
    let addrs = if a.quic_addrs.is_empty() {
        let mut v = Vec::new();
        for h in hosts {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(h.as_str())
                .with_context(|| format!("resolving {h}"))?
                .next()
                .with_context(|| format!("{h}: no address"))?;
            v.push(std::net::SocketAddr::new(
                addr.ip(),
                addr.port().wrapping_add(1),
            ));
        }
        v
    } else if a.quic_addrs.len() == a.edges.len() {
        a.quic_addrs.clone()
    } else {
        bail!("give one --quic address per --edge, or none");
    };
    if a.quic_pins.is_empty() {
        bail!("QUIC needs --quic-pin (the edge prints it; data_dir/quic/cert.sha256)");
    }
    let pins = a
        .quic_pins
        .iter()
        .map(|p| match std::fs::read_to_string(p) {
            Ok(text) => text.trim().to_string(),
            Err(_) => p.clone(),
        })
        .collect();
    Ok(QuicOpts {
        addrs,
        pins,
        sessions_per_connection: a.quic_sessions_per_connection as usize,
        sockets: a.quic_sockets as usize,
        io_threads: a.quic_io_threads as usize,
    })
}

fn offline(a: &Args, mix: &Mix) -> Result<()> {
    let started = Instant::now();
    let s = sentientiq_loadgen::offline::score(
        a.seed,
        a.sessions,
        a.duration.as_secs_f64(),
        mix,
        &sentientiq_core::TenantPolicy::default(),
    );
    let mut out = format!(
        "offline: {} sessions x {:.0} s, seed {}, default thresholds ({:.1} s)\n",
        a.sessions,
        a.duration.as_secs_f64(),
        a.seed,
        started.elapsed().as_secs_f64()
    );
    for e in sentientiq_loadgen::truth::EMOTIONS {
        let c = s.by_emotion.get(e).copied().unwrap_or_default();
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        out += &format!(
            "  {e:<12} precision {}  recall {}  (tp {}, fp {}, missed {})\n",
            f(c.precision()),
            f(c.recall()),
            c.tp,
            c.fp,
            c.missed
        );
    }
    out += &format!(
        "  false detections per calm session-hour: {} ({} over {:.1} calm session-hours)\n",
        s.false_per_calm_hour()
            .map_or("-".to_string(), |v| format!("{v:.3}")),
        s.calm_false,
        s.calm_seconds / 3600.0
    );
    let e = s.escalations;
    out += &format!(
        "  escalations (rage of identified ${}k accounts, {:.0} % of sessions identified): \
         expected {}, escalated {}, repeats {}, unexpected {}, anonymous {}\n",
        sentientiq_loadgen::offline::ACCOUNT_VALUE_CENTS / 100_000,
        sentientiq_loadgen::offline::IDENTIFIED_SHARE * 100.0,
        e.expected,
        e.escalated,
        e.repeats,
        e.unexpected,
        e.anonymous
    );
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("stdout")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_io_threads_take_0_to_64() {
        let parse = |n: &str| Args::try_parse_from(["sentientiq-loadgen", "--quic-io-threads", n]);
        assert_eq!(parse("63").expect("63").quic_io_threads, 63);
        assert_eq!(parse("64").expect("64").quic_io_threads, 64);
        assert!(parse("65").is_err(), "one more than the cap is refused");
        assert_eq!(parse("0").expect("0").quic_io_threads, 0);
        let default = Args::try_parse_from(["sentientiq-loadgen"]).expect("defaults");
        assert_eq!(default.quic_io_threads, 1);
    }
}
