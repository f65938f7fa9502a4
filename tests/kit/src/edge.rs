//! A real `sentientiq-edge` process with its own directory, port and config.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use sentientiq_proto::{ClientFrame, EdgeFrame, ErrorCode};

use crate::bins::bin;
use crate::net::{self, free_port};
use crate::plane::Plane;
use crate::proc::Proc;
use crate::wait::{poll, wait_for};
use crate::ws::Client;

/// `deploy/edge.example.toml` listening on 127.0.0.1:`port` (QUIC on `port` + 1) with `shards`
/// shards, its data and lake under `dir`.
pub fn example_config(port: u16, shards: usize, dir: &Path) -> String {
    std::fs::read_to_string(crate::repo_root().join("deploy/edge.example.toml"))
        .expect("example config")
        .replace(
            "listen = \"127.0.0.1:7400\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
        .replace("shards = 0 ", &format!("shards = {shards} "))
        .replace(
            "data_dir = \"data/edge\"",
            &format!("data_dir = {:?}", dir.join("data")),
        )
        .replace(
            "dir = \"data/lake\"",
            &format!("dir = {:?}", dir.join("lake")),
        )
}

/// `config` with `FROM => TO` replacements joined by ` && ` (or none).
fn replacing(config: String, edits: &str) -> String {
    edits
        .split(" && ")
        .filter_map(|e| e.split_once(" => "))
        .fold(config, |c, (from, to)| c.replace(from, to))
}

/// An edge process. Killed (SIGKILL) when dropped; its log is printed if a test panics.
#[derive(Debug)]
pub struct Edge {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The config file's text (restarts reuse it).
    pub config: String,
    /// Extra environment of the edge process.
    pub env: Vec<(String, String)>,
    /// The open-file limits (`RLIMIT_NOFILE`: soft, hard) the process starts under, if not
    /// the test's own.
    pub nofile: Option<(u64, u64)>,
    proc: Option<Proc>,
}

impl Edge {
    /// An edge whose config is `config(dir, port)`, started and ready, on a port claimed for
    /// this test process ([`free_port`]: no other test process and no kernel-chosen port takes
    /// it; an edge that still finds it in use says so and the test fails with its words).
    pub fn launch(config: impl Fn(&Path, u16) -> String, env: Vec<(String, String)>) -> Edge {
        let mut e = Edge::unstarted(&config, env);
        if let Err(early) = e.try_spawn() {
            panic!("{early}");
        }
        e
    }

    /// An edge whose config is `config(dir, port)`, not started yet.
    fn unstarted(config: impl FnOnce(&Path, u16) -> String, env: Vec<(String, String)>) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = config(dir.path(), port);
        Edge {
            dir,
            port,
            config,
            env,
            nofile: None,
            proc: None,
        }
    }

    /// The example config with `shards` shards and `extra` appended.
    pub fn start(shards: usize, extra: &str) -> Edge {
        Edge::start_with(shards, extra, 5000)
    }

    /// The same with another `header_timeout_ms`.
    pub fn start_with(shards: usize, extra: &str, header_timeout_ms: u64) -> Edge {
        Edge::launch(
            |dir, port| {
                let c = example_config(port, shards, dir).replace(
                    "header_timeout_ms = 5000",
                    &format!("header_timeout_ms = {header_timeout_ms}"),
                );
                format!("{c}\n{extra}")
            },
            Vec::new(),
        )
    }

    /// The example config passed through `edit` first.
    pub fn start_edited(shards: usize, edit: impl Fn(String) -> String) -> Edge {
        Edge::launch(
            |dir, port| edit(example_config(port, shards, dir)),
            Vec::new(),
        )
    }

    /// The example config passed through `edit`, not started yet, to start under open-file
    /// limits of `soft` and `hard` (`RLIMIT_NOFILE`).
    pub fn edited_with_open_files(
        shards: usize,
        (soft, hard): (u64, u64),
        edit: impl Fn(String) -> String,
    ) -> Edge {
        let mut e = Edge::unstarted(
            |dir, port| edit(example_config(port, shards, dir)),
            Vec::new(),
        );
        e.nofile = Some((soft, hard));
        e
    }

    /// The example config with `FROM => TO` replacements joined by ` && ` (or none).
    pub fn start_replacing(shards: usize, edits: &str) -> Edge {
        Edge::start_edited(shards, |c| replacing(c, edits))
    }

    /// [`Edge::start_replacing`] for edits that set `edge.wait_gather_us` (the shards gather
    /// their wake-ups), which needs io_uring min-wait (Linux 6.12). On a kernel without it the
    /// edge must refuse such a config at start, naming the setting and the reason: that is
    /// checked (and that the kernel is indeed older than 6.12), `test` is reported skipped on
    /// stderr (shown with `--show-output`), and `None` returned.
    pub fn start_gathering(test: &str, shards: usize, edits: &str) -> Option<Edge> {
        let mut e = Edge::unstarted(
            |dir, port| replacing(example_config(port, shards, dir), edits),
            Vec::new(),
        );
        match e.try_spawn() {
            Ok(()) => Some(e),
            Err(early)
                if early.contains("edge.wait_gather_us = ")
                    && early.contains("needs io_uring min-wait") =>
            {
                crate::kernel::refused_for_min_wait(test, &early);
                None
            }
            Err(early) => panic!("{early}"),
        }
    }

    /// An edge of `region` following `plane` (no tenants of its own; 2 shards; lake segments
    /// shipped within about a second; windows reported every second).
    pub fn follow(region: &str, plane: &Plane) -> Edge {
        Edge::follow_at(region, &plane.url(), &plane.ca_line())
    }

    /// The same for a plane at `url`, trusting what `ca` (an `[control]` line, or empty) says.
    pub fn follow_at(region: &str, url: &str, ca: &str) -> Edge {
        Edge::follow_env(region, url, ca, Vec::new())
    }

    /// The same with extra environment for the edge process.
    pub fn follow_env(region: &str, url: &str, ca: &str, env: Vec<(String, String)>) -> Edge {
        Edge::launch(
            |dir, port| {
                // The example's own tenant goes: the plane is the source of tenants here.
                let head = example_config(port, 2, dir)
                    .split("[[tenant]]")
                    .next()
                    .expect("example head")
                    .replace("id = \"edge-local-1\"", &format!("id = \"edge-{region}\""))
                    .replace("region = \"us-east-1\"", &format!("region = \"{region}\""))
                    .replace("max_age_s = 60 ", "max_age_s = 1 ")
                    .replace("poll_ms = 1000", "poll_ms = 200");
                format!(
                    "{head}\n[control]\nendpoint = \"{url}\"\ntoken = \"{}\"\nreport_interval_ms = 1000\n{ca}",
                    crate::plane::EDGE_TOKEN
                )
            },
            env,
        )
    }

    /// The region its config names.
    pub fn region(&self) -> String {
        self.config
            .lines()
            .find_map(|l| l.strip_prefix("region = \""))
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_string()
    }

    /// Starts the process with the current config and waits for `/readyz`.
    pub fn spawn(&mut self) {
        if let Err(early) = self.try_spawn() {
            panic!("{early}");
        }
    }

    /// The same, returning how the edge exited (and its log) if it exited before it was ready.
    pub fn try_spawn(&mut self) -> Result<(), String> {
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, &self.config).expect("write config");
        // Ready is this process listening and answering: another process on the port (a
        // port taken between choosing it and binding it) answers /readyz too.
        let listening = |log: &str| log.matches("edge listening").count();
        let before = listening(&self.log());
        let mut p = self.start_process(&path);
        let port = self.port;
        let mut early = None;
        wait_for("the edge is ready", Duration::from_secs(30), || {
            if let Some(st) = p.exited() {
                early = Some(format!("edge exited early ({st}): {}", p.log()));
                return true;
            }
            listening(&p.log()) > before
                && net::http(port, "/readyz").is_some_and(|(s, _)| s == 200)
        });
        match early {
            Some(early) => Err(early),
            None => {
                self.proc = Some(p);
                Ok(())
            }
        }
    }

    /// Starts the process without waiting for it to be ready (it may be meant to fail).
    pub fn spawn_unchecked(&mut self) -> &mut Proc {
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, &self.config).expect("write config");
        self.proc = Some(self.start_process(&path));
        self.proc.as_mut().expect("just set")
    }

    /// The edge process on config `path`, under `nofile` if set.
    fn start_process(&self, path: &Path) -> Proc {
        let log = self.dir.path().join("edge.log");
        // At info, whatever the test's own RUST_LOG: readiness reads the log (`try_spawn`).
        // The edge's own `env` comes after, so a test may still set it.
        let mut env = vec![("RUST_LOG".to_string(), "info".to_string())];
        env.extend(self.env.iter().cloned());
        match self.nofile {
            None => Proc::spawn(bin("sentientiq-edge"), path, log, &env),
            Some(n) => Proc::spawn_with_open_files(bin("sentientiq-edge"), path, log, &env, n),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("edge.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().and_then(Proc::pid)
    }

    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    pub fn sigterm(&mut self) -> ExitStatus {
        self.proc.take().expect("running").sigterm()
    }

    pub fn rss_kib(&self) -> u64 {
        self.proc.as_ref().expect("running").rss_kib()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("data/spool")
    }

    pub fn lake_dir(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    pub fn try_http(&self, raw: &str) -> std::io::Result<(u16, String, Vec<u8>)> {
        net::raw(self.port, raw.as_bytes())
    }

    pub fn try_http_bytes(&self, raw: &[u8]) -> std::io::Result<(u16, String, Vec<u8>)> {
        net::raw(self.port, raw)
    }

    pub fn http(&self, raw: &str) -> (u16, String, Vec<u8>) {
        self.try_http(raw).expect("http")
    }

    /// `GET path`: status and body, or `None` when there is no answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        net::http(self.port, path)
    }

    /// A beacon (`POST /v1/batch`) with `body`, from `origin`: status and JSON answer.
    pub fn post_batch(&self, body: &[u8], origin: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = format!("POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n", body.len()).into_bytes();
        if let Some(o) = origin {
            req.extend_from_slice(format!("Origin: {o}\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
        let (st, _, b) = self.try_http_bytes(&req).expect("http");
        (
            st,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }

    pub fn metrics_text(&self) -> String {
        self.get("/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// `/metrics` from a shard with room: a scrape the kernel gives to a shard at its
    /// connection cap is refused (503), so it is asked again ([`poll`]).
    pub fn metrics_text_past_cap(&self) -> String {
        poll("a scrape answered by a shard with room", || {
            self.get("/metrics")
                .and_then(|(st, body)| (st == 200).then_some(body))
        })
    }

    /// The sum of a metric's samples over its labels.
    pub fn metric(&self, name: &str) -> f64 {
        net::metric_sum(&self.metrics_text(), name)
    }

    /// The sum of a metric's samples carrying `label` (`key="value"`).
    pub fn metric_with(&self, name: &str, label: &str) -> f64 {
        net::metric_with(&self.metrics_text(), name, label)
    }

    /// `siq_errors_total` for one error code.
    pub fn errors(&self, code: &str) -> f64 {
        self.metric_with("siq_errors_total", &format!("code=\"{code}\""))
    }

    /// Polls a metric until `ok` holds.
    pub fn wait_metric(&self, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
        poll(name, || Some(self.metric(name)).filter(|v| ok(*v)))
    }

    pub fn ws(&self) -> Client {
        self.ws_with(&[])
    }

    pub fn ws_with(&self, headers: &[(&str, &str)]) -> Client {
        Client::connect(self.port, headers)
            .unwrap_or_else(|e| panic!("ws handshake: {e}\nedge log:\n{}", self.log()))
    }

    /// What a new session with `key` gets: its welcome, or the error code it is refused with.
    pub fn try_hello(&self, key: &str, sid: &str) -> Result<Client, ErrorCode> {
        let mut c = self.ws();
        c.send(&ClientFrame::Hello(crate::frames::hello(key, sid, None)));
        match c.recv() {
            Some(EdgeFrame::Welcome(_)) => Ok(c),
            Some(EdgeFrame::Err(e)) => Err(e.code),
            other => panic!("expected welcome or err, got {other:?}"),
        }
    }

    pub fn quic_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port + 1))
    }

    /// The pin of its QUIC certificate.
    pub fn fingerprint(&self) -> String {
        crate::quic::quic_pin(&self.data_dir())
    }

    /// A QUIC client trusting this edge's certificate.
    pub fn quic_client(&self) -> sentientiq_client::Client {
        sentientiq_client::Client::new(
            "127.0.0.1:0".parse().expect("addr"),
            sentientiq_client::Trust::Pin(self.fingerprint()),
        )
        .expect("client")
    }

    pub async fn connect(&self, c: &sentientiq_client::Client) -> sentientiq_client::Connection {
        c.connect(self.quic_addr(), "localhost")
            .await
            .expect("connect")
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("edge log:\n{}", self.log());
        }
        self.kill9();
    }
}
