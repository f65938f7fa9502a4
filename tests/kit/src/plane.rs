//! A real `sentientiq-control` process, and `siqctl` against it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use crate::bins::bin;
use crate::net::{free_port, http};
use crate::proc::Proc;
use crate::wait::wait_for;

/// The admin token of planes started here.
pub const ADMIN_TOKEN: &str = "kit-admin-token-000001";
/// The edge token of planes started here.
pub const EDGE_TOKEN: &str = "kit-edge-token-0000001";

#[derive(Debug)]
pub struct Plane {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Its HTTP face (`/metrics`).
    pub http_port: u16,
    proc: Option<Proc>,
    /// The CA file of its self-signed certificate when it serves TLS.
    pub ca: Option<PathBuf>,
    /// That certificate's key file.
    key: Option<PathBuf>,
    /// Settings added to its config file (`Plane::start_with`).
    settings: String,
    /// Its open-file limits (soft, hard) when not the test's own.
    open_files: Option<(u64, u64)>,
}

impl Plane {
    pub fn start() -> Plane {
        Plane::start_with("")
    }

    /// Started with `settings` (TOML lines, e.g. `grpc_handshake_timeout_ms = 500`) added to
    /// its config file.
    pub fn start_with(settings: &str) -> Plane {
        Plane::started(tempfile::tempdir().expect("tempdir"), None, settings, None)
    }

    /// [`Plane::start_with`] under open-file limits (`RLIMIT_NOFILE`) of `soft` and `hard`.
    pub fn start_with_open_files(settings: &str, (soft, hard): (u64, u64)) -> Plane {
        let dir = tempfile::tempdir().expect("tempdir");
        Plane::started(dir, None, settings, Some((soft, hard)))
    }

    /// Serving TLS only, with a fresh self-signed certificate for `localhost`.
    pub fn start_tls() -> Plane {
        Plane::start_tls_with("")
    }

    /// [`Plane::start_tls`] with `settings` added to its config file.
    pub fn start_tls_with(settings: &str) -> Plane {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = crate::tls::self_signed(dir.path(), "cert");
        Plane::started(dir, Some(tls), settings, None)
    }

    fn started(
        dir: tempfile::TempDir,
        tls: Option<(PathBuf, PathBuf)>,
        settings: &str,
        open_files: Option<(u64, u64)>,
    ) -> Plane {
        let mut p = Plane::unstarted(dir, tls, settings, open_files);
        p.spawn();
        p
    }

    /// Its ports not yet chosen, its process not started.
    fn unstarted(
        dir: tempfile::TempDir,
        tls: Option<(PathBuf, PathBuf)>,
        settings: &str,
        open_files: Option<(u64, u64)>,
    ) -> Plane {
        let (ca, key) = tls.unzip();
        Plane {
            dir,
            port: 0,
            http_port: 0,
            proc: None,
            ca,
            key,
            settings: settings.to_string(),
            open_files,
        }
    }

    /// Two distinct free ports (gRPC, HTTP), chosen once.
    fn ports(&mut self) {
        if self.port == 0 {
            self.port = free_port();
            self.http_port = loop {
                let p = free_port();
                if p != self.port && p != self.port + 1 {
                    break p;
                }
            };
        }
    }

    /// A plane that must not start, with `settings` (which may end with a `[tls]` table) under
    /// open-file limits `open_files` when given: its exit status and log once it has exited.
    /// Panics if either of its ports is seen listening (looked at every 20 ms) or it has not
    /// exited within 30 s.
    pub fn refused(settings: &str, open_files: Option<(u64, u64)>) -> (ExitStatus, String) {
        let mut p = Plane::unstarted(
            tempfile::tempdir().expect("tempdir"),
            None,
            settings,
            open_files,
        );
        let mut proc = p.launch();
        let mut status = None;
        wait_for("the control plane exits", Duration::from_secs(30), || {
            for port in [p.port, p.http_port] {
                assert!(
                    !listening(port),
                    "the control plane listens on {port}: {}",
                    proc.log()
                );
            }
            status = proc.exited();
            status.is_some()
        });
        (status.expect("exited"), proc.log())
    }

    /// Starts the process: again after [`Plane::kill9`], on the same ports and data.
    ///
    /// Ready when its log says it serves (one line more than before this start: the log is
    /// appended across restarts), which it says once both ports are bound. Not by connecting:
    /// a probe's connection could still wait in the backlog when a test counts the plane's
    /// connections, and take a place at a per-address cap of 2 from the test.
    pub fn spawn(&mut self) {
        const SERVING: &str = "control plane serving";
        let log = self.dir.path().join("control.log");
        let before = std::fs::read_to_string(&log).map_or(0, |l| l.matches(SERVING).count());
        let mut p = self.launch();
        wait_for("the control plane serves", Duration::from_secs(30), || {
            if let Some(st) = p.exited() {
                panic!("control plane exited ({st}): {}", p.log());
            }
            p.log().matches(SERVING).count() > before
        });
        self.proc = Some(p);
    }

    /// The process, its config written, not yet waited for.
    fn launch(&mut self) -> Proc {
        self.ports();
        let cfg = self.dir.path().join("control.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{}\"\nhttp_listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nadmin_token = \"{ADMIN_TOKEN}\"\nedge_token = \"{EDGE_TOKEN}\"\nevi_poll_ms = 200\n{}\n{}",
                self.port,
                self.http_port,
                self.dir.path().join("data"),
                self.settings,
                self.ca
                    .as_ref()
                    .zip(self.key.as_ref())
                    .map_or(String::new(), |(c, k)| format!(
                        "[tls]\ncert = {c:?}\nkey = {k:?}\n"
                    )),
            ),
        )
        .expect("config");
        // Debug logs, so that tests checking the log for secrets check everything the plane
        // can write. (The runner's SIQ_* tokens, which would win over the file's, are not
        // passed on: `Proc`.)
        let env = [(
            "RUST_LOG".to_string(),
            "info,sentientiq_control=debug".to_string(),
        )];
        let log = self.dir.path().join("control.log");
        match self.open_files {
            Some(limits) => {
                Proc::spawn_with_open_files(bin("sentientiq-control"), &cfg, log, &env, limits)
            }
            None => Proc::spawn(bin("sentientiq-control"), &cfg, log, &env),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("control.log")).unwrap_or_default()
    }

    /// The first line of its log that contains `what`; panics, with the log, if none does.
    pub fn log_line(&self, what: &str) -> String {
        let log = self.log();
        match log.lines().find(|l| l.contains(what)) {
            Some(l) => l.to_string(),
            None => panic!("{what} in {log}"),
        }
    }

    /// `GET /metrics` on its HTTP face; panics unless it answers 200.
    pub fn metrics(&self) -> String {
        match http(self.http_port, "/metrics") {
            Some((200, body)) => body,
            other => panic!("GET /metrics: {other:?}"),
        }
    }

    /// Waits (10 s at most) until `n` connections are open on its gRPC port
    /// (`siq_control_grpc_connections`; the kit's readiness probe holds one for a moment).
    pub fn wait_grpc_connections(&self, n: u64) {
        let want = format!("siq_control_grpc_connections {n}\n");
        wait_for(
            &format!("{n} gRPC connections open"),
            Duration::from_secs(10),
            || self.try_metrics().is_some_and(|b| b.contains(&want)),
        );
    }

    /// [`Plane::metrics`], or `None` when not answered (its HTTP port at a cap, say).
    pub fn try_metrics(&self) -> Option<String> {
        match http(self.http_port, "/metrics") {
            Some((200, body)) => Some(body),
            _ => None,
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// SIGTERM; whether it exited 0.
    pub fn sigterm(&mut self) -> bool {
        self.proc.take().is_some_and(|mut p| p.sigterm().success())
    }

    pub fn url(&self) -> String {
        match self.ca {
            Some(_) => format!("https://localhost:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// `ca = "…"` for an edge's `[control]` section when the plane serves TLS, else empty.
    pub fn ca_line(&self) -> String {
        self.ca
            .as_ref()
            .map_or(String::new(), |c| format!("ca = {c:?}\n"))
    }

    /// Runs siqctl; panics unless it succeeds. Returns stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let o = self.try_ctl(args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "siqctl {args:?}: {err}{out}");
        out
    }

    /// `siqctl account import TENANT -` with `jsonl` (one account object per line) on stdin.
    pub fn import_accounts(&self, tenant: &str, jsonl: &str) -> String {
        self.import_accounts_after(tenant, jsonl, Duration::ZERO)
    }

    /// The same, its stdin written `pause` after siqctl starts (as typed or piped slowly).
    pub fn import_accounts_after(&self, tenant: &str, jsonl: &str, pause: Duration) -> String {
        use std::io::Write;
        let mut child = self
            .admin_ctl()
            .args(["account", "import", tenant, "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("siqctl runs");
        std::thread::sleep(pause);
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(jsonl.as_bytes())
            .expect("accounts written");
        let o = child.wait_with_output().expect("siqctl ends");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "siqctl account import: {}{out}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    }

    /// Runs siqctl, whatever the outcome.
    pub fn try_ctl(&self, args: &[&str]) -> std::process::Output {
        self.admin_ctl().args(args).output().expect("siqctl runs")
    }

    /// siqctl pointed at this plane with the admin token.
    fn admin_ctl(&self) -> Command {
        let mut cmd = Command::new(bin("siqctl"));
        cmd.args(["--endpoint", &self.url(), "--token", ADMIN_TOKEN]);
        if let Some(ca) = &self.ca {
            cmd.arg("--ca").arg(ca);
        }
        cmd
    }

    /// `siqctl --json …` parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ctl(&a)).expect("siqctl --json prints JSON")
    }

    /// A gRPC channel to it (plaintext planes).
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    }

    /// siqctl with the endpoint and `token` from the environment (`SIQ_ENDPOINT`,
    /// `SIQ_ADMIN_TOKEN`): whether it succeeded, stdout, stderr.
    pub fn siqctl(&self, args: &[&str], token: &str) -> (bool, String, String) {
        self.siqctl_at(&self.url(), args, token)
    }

    /// The same against `endpoint`.
    pub fn siqctl_at(&self, endpoint: &str, args: &[&str], token: &str) -> (bool, String, String) {
        let o = Command::new(bin("siqctl"))
            .args(args)
            .env("SIQ_ENDPOINT", endpoint)
            .env("SIQ_ADMIN_TOKEN", token)
            .output()
            .expect("siqctl runs");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// A tenant `acme` that emits detections to the page, with one key; returns the key.
    pub fn acme(&self) -> String {
        self.ctl(&["tenant", "create", "acme"]);
        self.ctl(&["tenant", "origins", "acme", "*"]);
        self.ctl(&["tenant", "emit", "acme", "true"]);
        let k = self.json(&["key", "issue", "acme"]);
        k["key"].as_str().expect("key").to_string()
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

/// Whether something listens on `port` at 127.0.0.1. A connect to a port in the ephemeral range
/// that nothing listens on yet can connect the socket to itself (TCP simultaneous open, source
/// port = port): that is not a listener.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
