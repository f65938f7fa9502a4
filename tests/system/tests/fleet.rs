//! The control plane and three regional edges as separate processes, driven with `siqctl` and
//! real WebSocket (and QUIC) clients: live key rotation and thresholds, a plane restart under live
//! sessions, a cold start from the last-known-good config, and EVI from all three regions.
//!
//! The plane's binaries are the workspace's (`cargo test --workspace` builds them beside the
//! edge's).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message};

mod common;
use common::{free_port, http, moves};
use sentientiq_proto::{
    ClientFrame, EdgeFrame, ErrorCode, Hello, Limits, Seq, client_to_vec, decode_edge,
};

const ADMIN: &str = "fleet-admin-token-0001";
const EDGE: &str = "fleet-edge-token-00001";
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// A binary of the workspace, beside the edge's.
fn sibling(name: &str) -> PathBuf {
    let p = std::path::Path::new(env!("CARGO_BIN_EXE_sentientiq-edge")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo test --workspace)",
        p.display()
    );
    p
}

fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < within, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(bin: PathBuf, config: &std::path::Path, log: PathBuf) -> Proc {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn");
        Proc {
            child: Some(child),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn sigterm(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        c.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Plane {
    dir: tempfile::TempDir,
    port: u16,
    proc: Option<Proc>,
    /// The CA file of its self-signed certificate when it serves TLS.
    ca: Option<PathBuf>,
}

impl Plane {
    fn start() -> Plane {
        let mut p = Plane {
            dir: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
            proc: None,
            ca: None,
        };
        p.spawn();
        p
    }

    /// Serving TLS only, with a fresh self-signed certificate for `localhost`.
    fn start_tls() -> Plane {
        let dir = tempfile::tempdir().expect("tempdir");
        let ck =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).expect("cert");
        std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
        let mut p = Plane {
            dir,
            port: free_port(),
            proc: None,
            ca: Some(cert),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let cfg = self.dir.path().join("control.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:{}\"\ndata_dir = {:?}\nadmin_token = \"{ADMIN}\"\nedge_token = \"{EDGE}\"\nevi_poll_ms = 200\n{}",
                self.port,
                self.dir.path().join("data"),
                self.ca.as_ref().map_or(String::new(), |c| format!(
                    "[tls]\ncert = {c:?}\nkey = {:?}\n",
                    c.with_file_name("key.pem")
                )),
            ),
        )
        .expect("config");
        let mut p = Proc::spawn(
            sibling("sentientiq-control"),
            &cfg,
            self.dir.path().join("control.log"),
        );
        wait_for("the control plane listens", Duration::from_secs(30), || {
            if let Some(st) = p.exited() {
                panic!("control plane exited ({st}): {}", p.log());
            }
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        self.proc = Some(p);
    }

    fn url(&self) -> String {
        match self.ca {
            Some(_) => format!("https://localhost:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Runs siqctl; panics unless it succeeds. Returns stdout.
    fn ctl(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(sibling("siqctl"));
        cmd.args(["--endpoint", &self.url(), "--token", ADMIN]);
        if let Some(ca) = &self.ca {
            cmd.arg("--ca").arg(ca);
        }
        let o = cmd.args(args).output().expect("siqctl runs");
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "siqctl {args:?}: {err}{out}");
        out
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ctl(&a)).expect("siqctl --json prints JSON")
    }

    /// A tenant `acme` that emits detections to the page, with one key; returns the key.
    fn acme(&self) -> String {
        self.ctl(&["tenant", "create", "acme"]);
        self.ctl(&["tenant", "origins", "acme", "*"]);
        self.ctl(&["tenant", "emit", "acme", "true"]);
        let k = self.json(&["key", "issue", "acme"]);
        k["key"].as_str().expect("key").to_string()
    }
}

struct Edge {
    dir: tempfile::TempDir,
    port: u16,
    region: &'static str,
    plane: String,
    /// `ca = ...` for a plane serving TLS.
    ca: String,
    proc: Option<Proc>,
}

impl Edge {
    fn start(region: &'static str, plane: &Plane) -> Edge {
        let mut e = Edge {
            dir: tempfile::tempdir().expect("tempdir"),
            port: free_port(),
            region,
            plane: plane.url(),
            ca: plane
                .ca
                .as_ref()
                .map_or(String::new(), |c| format!("ca = {c:?}\n")),
            proc: None,
        };
        e.spawn();
        e
    }

    fn spawn(&mut self) {
        // The example's own tenant goes: the plane is the source of tenants here.
        let head = common::example_config(self.port, 2, self.dir.path())
            .split("[[tenant]]")
            .next()
            .expect("example head")
            .replace(
                "id = \"edge-local-1\"",
                &format!("id = \"edge-{}\"", self.region),
            )
            .replace(
                "region = \"us-east-1\"",
                &format!("region = \"{}\"", self.region),
            )
            // Segments sealed and shipped within about a second, so lake files show quickly.
            .replace("max_age_s = 60 ", "max_age_s = 1 ")
            .replace("poll_ms = 1000", "poll_ms = 200");
        let cfg = format!(
            "{head}\n[control]\nendpoint = \"{}\"\ntoken = \"{EDGE}\"\nreport_interval_ms = 1000\n{}",
            self.plane, self.ca
        );
        let path = self.dir.path().join("edge.toml");
        std::fs::write(&path, cfg).expect("config");
        let mut p = Proc::spawn(
            sibling("sentientiq-edge"),
            &path,
            self.dir.path().join("edge.log"),
        );
        let port = self.port;
        wait_for("the edge is ready", Duration::from_secs(30), || {
            if let Some(st) = p.exited() {
                panic!("edge exited ({st}): {}", p.log());
            }
            http(port, "/readyz").is_some_and(|(s, _)| s == 200)
        });
        self.proc = Some(p);
    }

    fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log).unwrap_or_default()
    }

    fn metric(&self, name: &str) -> f64 {
        let (_, body) = http(self.port, "/metrics").expect("metrics");
        body.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn ws(&self) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{}/v1/ws", self.port), stream)
            .unwrap_or_else(|e| panic!("ws handshake: {e}\n{}", self.log()));
        Client { ws }
    }

    /// What a new session with `key` gets: its welcome, or the error code it is refused with.
    fn try_hello(&self, key: &str, sid: &str) -> Result<Client, ErrorCode> {
        let mut c = self.ws();
        c.send(&ClientFrame::Hello(hello(key, sid)));
        match c.next() {
            Some(EdgeFrame::Welcome(_)) => Ok(c),
            Some(EdgeFrame::Err(e)) => Err(e.code),
            other => panic!("expected welcome or err, got {other:?}"),
        }
    }
}

struct Client {
    ws: tungstenite::WebSocket<TcpStream>,
}

impl Client {
    fn send(&mut self, f: &ClientFrame) {
        self.ws
            .send(Message::Binary(client_to_vec(f).into()))
            .expect("send");
    }

    /// The next edge frame, or `None` once the edge closed the connection.
    fn next(&mut self) -> Option<EdgeFrame> {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(b)) => {
                    return Some(decode_edge(&b, &Limits::DEFAULT).expect("edge frame"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Everything up to the ack of `seq` (an `Err` frame instead ends it as `Err`).
    fn until_ack(&mut self, seq: u64) -> Result<Vec<EdgeFrame>, ErrorCode> {
        let mut other = Vec::new();
        loop {
            match self.next() {
                Some(EdgeFrame::Ack { seq: s }) if s.0 >= seq => return Ok(other),
                Some(EdgeFrame::Ack { .. }) => {}
                Some(EdgeFrame::Err(e)) => return Err(e.code),
                Some(f) => other.push(f),
                None => panic!("closed before ack {seq}"),
            }
        }
    }
}

fn hello(key: &str, sid: &str) -> Hello {
    common::hello(key, sid, None)
}

fn five_clicks(seq: u64) -> ClientFrame {
    ClientFrame::Batch(common::five_clicks(seq))
}

fn rages(frames: &[EdgeFrame]) -> usize {
    frames
        .iter()
        .filter(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage"))
        .count()
}

fn fleet(plane: &Plane) -> Vec<Edge> {
    REGIONS.iter().map(|r| Edge::start(r, plane)).collect()
}

/// Waits until every edge serves the same config version, greater than `after`; returns it.
fn converged(edges: &[Edge], after: f64) -> f64 {
    let mut v = 0.0;
    wait_for("every edge on one version", Duration::from_secs(10), || {
        let vs: Vec<f64> = edges
            .iter()
            .map(|e| e.metric("siq_control_config_version"))
            .collect();
        v = vs[0];
        v > after && vs.iter().all(|x| *x == v)
    });
    v
}

#[test]
fn a_rotated_key_is_refused_on_every_edge_within_a_second_and_thresholds_change_live() {
    let plane = Plane::start();
    let old = plane.acme();
    let edges = fleet(&plane);
    let v0 = converged(&edges, 0.0);
    // Sessions under the old key on every edge, acked.
    let mut live: Vec<Client> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut c = e
                .try_hello(&old, &format!("s_fleet_live_{i:08}"))
                .unwrap_or_else(|code| panic!("{}: {code:?}\n{}", e.region, e.log()));
            c.send(&moves(1, 20));
            c.until_ack(1).expect("acked");
            c
        })
        .collect();
    // Rage is detected at the default thresholds.
    for (i, e) in edges.iter().enumerate() {
        let mut c = e
            .try_hello(&old, &format!("s_fleet_rage_{i:08}"))
            .expect("welcome");
        c.send(&five_clicks(1));
        assert_eq!(rages(&c.until_ack(1).expect("acked")), 1, "{}", e.region);
    }

    let hash = plane.json(&["tenant", "get", "acme"])["key_hashes"][0]
        .as_str()
        .expect("hash")
        .to_string();
    let rotated = plane.json(&["key", "rotate", "acme", &hash]);
    let new = rotated["key"].as_str().expect("new key").to_string();
    let mut worst = Duration::ZERO;
    for (i, e) in edges.iter().enumerate() {
        let mut n = 0;
        let took = wait_for("the old key refused", Duration::from_secs(1), || {
            n += 1;
            matches!(
                e.try_hello(&old, &format!("s_fleet_old_{i}_{n:06}")),
                Err(ErrorCode::BadKey)
            )
        });
        worst = worst.max(took);
        assert!(
            e.try_hello(&new, &format!("s_fleet_new_{i:08}")).is_ok(),
            "{}: the new key works",
            e.region
        );
    }
    eprintln!("old key refused on all three edges within {worst:?} of the rotation committing");
    // A session opened under the revoked key is refused at its next frame.
    for c in &mut live {
        c.send(&moves(2, 20));
        assert_eq!(c.until_ack(2), Err(ErrorCode::BadKey));
    }

    // Thresholds: five clicks are no longer rage once a chain needs ten.
    let v1 = converged(&edges, v0);
    plane.ctl(&["tenant", "thresholds", "acme", "rage_clicks=10"]);
    converged(&edges, v1);
    for (i, e) in edges.iter().enumerate() {
        let mut c = e
            .try_hello(&new, &format!("s_fleet_calm_{i:08}"))
            .expect("welcome");
        c.send(&five_clicks(1));
        assert_eq!(rages(&c.until_ack(1).expect("acked")), 0, "{}", e.region);
    }
}

#[test]
fn edges_keep_their_sessions_while_the_plane_restarts_and_follow_it_after() {
    let mut plane = Plane::start();
    let key = plane.acme();
    let edges = fleet(&plane);
    let v0 = converged(&edges, 0.0);
    let mut sessions: Vec<Client> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.try_hello(&key, &format!("s_fleet_keep_{i:08}"))
                .expect("welcome")
        })
        .collect();
    if let Some(p) = plane.proc.as_mut() {
        p.kill9();
    }
    for e in &edges {
        wait_for("the edge notices", Duration::from_secs(20), || {
            e.metric("siq_control_connected") == 0.0
        });
    }
    // Serving goes on from what the edges have.
    for (s, c) in sessions.iter_mut().enumerate() {
        c.send(&moves(1, 20));
        c.until_ack(1)
            .unwrap_or_else(|e| panic!("session {s}: {e:?}"));
    }
    plane.spawn();
    for e in &edges {
        wait_for("the edge follows again", Duration::from_secs(10), || {
            e.metric("siq_control_connected") == 1.0
        });
    }
    for c in &mut sessions {
        c.send(&moves(2, 20));
        c.until_ack(2).expect("acked across the restart");
    }
    // And a change after the restart reaches them.
    let second = plane.json(&["key", "issue", "acme"])["key"]
        .as_str()
        .expect("key")
        .to_string();
    converged(&edges, v0);
    for (i, e) in edges.iter().enumerate() {
        assert!(e.try_hello(&second, &format!("s_fleet_2nd_{i:08}")).is_ok());
    }
}

#[test]
fn an_edge_cold_started_while_the_plane_is_down_serves_its_last_known_good_config() {
    let mut plane = Plane::start();
    let revoked = plane.acme();
    let kept = plane.json(&["key", "issue", "acme"])["key"]
        .as_str()
        .expect("key")
        .to_string();
    let hash = plane.json(&["tenant", "get", "acme"])["key_hashes"][0]
        .as_str()
        .expect("hash")
        .to_string();
    plane.ctl(&["key", "revoke", "acme", &hash]);
    let mut edge = Edge::start("eu-west-1", &plane);
    converged(std::slice::from_ref(&edge), 0.0);
    assert!(edge.try_hello(&kept, "s_fleet_lkg_00000001").is_ok());
    assert!(
        edge.proc.as_mut().is_some_and(Proc::sigterm),
        "{}",
        edge.log()
    );
    if let Some(p) = plane.proc.as_mut() {
        p.kill9();
    }
    edge.spawn();
    assert!(
        edge.log()
            .contains("starting from the last-known-good config"),
        "{}",
        edge.log()
    );
    assert_eq!(edge.metric("siq_control_connected"), 0.0);
    let mut c = edge
        .try_hello(&kept, "s_fleet_lkg_00000002")
        .expect("the kept key works from the last-known-good config");
    c.send(&moves(1, 20));
    c.until_ack(1).expect("acked");
    assert_eq!(
        edge.try_hello(&revoked, "s_fleet_lkg_00000003").err(),
        Some(ErrorCode::BadKey),
        "a key revoked before the outage stays revoked"
    );
}

#[test]
fn evi_per_region_and_global_from_traffic_to_all_three_regions() {
    let plane = Plane::start();
    let key = plane.acme();
    let edges = fleet(&plane);
    converged(&edges, 0.0);
    // All traffic in one minute (windows are per minute): not in a minute's last 15 s.
    let in_minute = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() % 60)
    };
    while in_minute() >= 45 {
        std::thread::sleep(Duration::from_millis(200));
    }
    // us-east-1: every session rages; us-west-2: half do; eu-west-1: calm.
    for (r, e) in edges.iter().enumerate() {
        for s in 0..4 {
            let mut c = e
                .try_hello(&key, &format!("s_fleet_evi_{r}_{s:06}"))
                .expect("welcome");
            c.send(&moves(1, 20));
            c.until_ack(1).expect("acked");
            if r == 0 || (r == 1 && s % 2 == 0) {
                c.send(&five_clicks(2));
                assert_eq!(rages(&c.until_ack(2).expect("acked")), 1);
            }
        }
    }
    // Reported every second; the plane answers per region and global.
    let mut last = serde_json::Value::Null;
    wait_for("EVI for all three regions", Duration::from_secs(15), || {
        last = plane.json(&["evi", "acme", "--minutes", "5"]);
        let points = last["points"].as_array().cloned().unwrap_or_default();
        REGIONS.iter().all(|r| {
            points
                .iter()
                .any(|p| p["region"] == *r && p["active_sessions"].as_u64() == Some(4))
        })
    });
    let points = last["points"].as_array().cloned().unwrap_or_default();
    let evi = |region: &str| -> f64 {
        points
            .iter()
            .filter(|p| p["region"] == region)
            .filter_map(|p| p["evi"].as_f64())
            .next_back()
            .unwrap_or(f64::NAN)
    };
    let (east, west, eu, global) = (
        evi("us-east-1"),
        evi("us-west-2"),
        evi("eu-west-1"),
        evi(""),
    );
    eprintln!(
        "EVI us-east-1 {east:.2}  us-west-2 {west:.2}  eu-west-1 {eu:.2}  global {global:.2}"
    );
    assert_eq!(eu, 0.0, "{last}");
    assert!(east > west && west > 0.0, "{last}");
    assert!(
        global > eu && global < east,
        "the union lies between: {last}"
    );
    let active: u64 = points
        .iter()
        .filter(|p| p["region"] == "")
        .filter_map(|p| p["active_sessions"].as_u64())
        .next_back()
        .unwrap_or(0);
    assert_eq!(active, 12, "global counts every region's sessions: {last}");
    // The human form: one line per region and global, at the last minute, in UTC.
    let text = plane.ctl(&["evi", "acme", "--minutes", "5"]);
    for r in REGIONS.iter().chain(&["global"]) {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(r) && l.ends_with("UTC)")),
            "{r}: {text}"
        );
    }
}

#[test]
fn a_user_deleted_through_the_plane_is_purged_on_the_edge_and_nothing_more_is_kept() {
    let plane = Plane::start();
    let key = plane.acme();
    let mut edge = Edge::start("us-east-1", &plane);
    let v0 = converged(std::slice::from_ref(&edge), 0.0);
    let identify = |seq: u64| {
        ClientFrame::Identify(sentientiq_proto::Identify {
            seq: Seq(seq),
            uid: "u_gone".into(),
            email: Some("gone@bigco.example".into()),
            traits: vec![],
        })
    };
    let mut c = edge
        .try_hello(&key, "s_fleet_gdpr_0000001")
        .expect("welcome");
    c.send(&identify(1));
    c.send(&moves(2, 10));
    c.until_ack(2).expect("acked");
    drop(c);
    plane.ctl(&["account", "delete-user", "acme", "u_gone"]);
    converged(std::slice::from_ref(&edge), v0);
    let before = edge.metric("siq_forgotten_user_dropped_frames_total");
    let mut c = edge
        .try_hello(&key, "s_fleet_gdpr_0000002")
        .expect("welcome");
    c.send(&moves(1, 10));
    c.send(&identify(2));
    c.send(&moves(3, 10));
    c.until_ack(3).expect("acked, and dropped");
    assert_eq!(
        edge.metric("siq_forgotten_user_dropped_frames_total") - before,
        2.0,
        "the identify frame and what follows it"
    );
    drop(c);
    assert!(
        edge.proc.as_mut().is_some_and(Proc::sigterm),
        "{}",
        edge.log()
    );
    let store = sentientiq_edge::identity::IdentityStore::open(
        &edge.dir.path().join("data").join("identity"),
    )
    .expect("the edge's identity store");
    assert_eq!(
        store.user("acme", "u_gone").expect("read"),
        None,
        "profile purged"
    );
    for sid in ["s_fleet_gdpr_0000001", "s_fleet_gdpr_0000002"] {
        assert_eq!(
            store.session_user("acme", sid).expect("read"),
            None,
            "{sid}"
        );
    }
    assert!(store.is_forgotten("acme", "u_gone"));
}

/// Parquet files under `dir`, recursively.
fn parquet_under(dir: &std::path::Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                parquet_under(&p)
            } else {
                usize::from(p.extension().is_some_and(|x| x == "parquet"))
            }
        })
        .sum()
}

#[test]
fn a_lake_prefix_set_through_the_plane_is_where_the_edge_ships_the_tenant() {
    let plane = Plane::start();
    let key = plane.acme();
    let edge = Edge::start("us-west-2", &plane);
    let v0 = converged(std::slice::from_ref(&edge), 0.0);
    plane.ctl(&["tenant", "lake", "acme", "--prefix", "tenants/acme"]);
    converged(std::slice::from_ref(&edge), v0);
    let mut c = edge
        .try_hello(&key, "s_fleet_lake_0000001")
        .expect("welcome");
    for seq in 1..=3 {
        c.send(&moves(seq, 20));
    }
    c.until_ack(3).expect("acked");
    let lake = edge.dir.path().join("lake");
    wait_for(
        "files under the tenant's prefix",
        Duration::from_secs(20),
        || parquet_under(&lake.join("tenants/acme/events")) > 0,
    );
    assert_eq!(
        parquet_under(&lake.join("events")),
        0,
        "nothing under the edge's prefix"
    );
    // A bucket of its own cannot be honoured by an edge shipping to disk: refused, logged,
    // and the tenant keeps being served as it was.
    let v1 = edge.metric("siq_control_config_version");
    plane.ctl(&["tenant", "lake", "acme", "--bucket", "acme-own-lake"]);
    wait_for("the version is applied", Duration::from_secs(10), || {
        edge.metric("siq_control_config_version") > v1
    });
    assert_eq!(edge.metric("siq_control_tenants_refused_total"), 1.0);
    assert!(edge.try_hello(&key, "s_fleet_lake_0000002").is_ok());
}

#[test]
fn an_edge_follows_a_plane_that_serves_tls_only_when_it_trusts_the_certificate() {
    let plane = Plane::start_tls();
    let key = plane.acme();
    let edge = Edge::start("eu-west-1", &plane);
    converged(std::slice::from_ref(&edge), 0.0);
    assert!(edge.try_hello(&key, "s_fleet_tls_00000001").is_ok());
    // Without the CA the plane's certificate is not trusted: nothing is followed.
    let mut untrusting = Edge {
        dir: tempfile::tempdir().expect("tempdir"),
        port: free_port(),
        region: "us-east-1",
        plane: plane.url(),
        ca: String::new(),
        proc: None,
    };
    untrusting.spawn();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(untrusting.metric("siq_control_config_version"), 0.0);
    assert_eq!(untrusting.metric("siq_control_connected"), 0.0);
    assert_eq!(
        untrusting.try_hello(&key, "s_fleet_tls_00000002").err(),
        Some(ErrorCode::BadKey)
    );
}

/// A key revoked through the plane ends QUIC sessions as it ends WebSocket ones: at their next
/// frame (`bad_key`, STOP_SENDING 1008), and a new QUIC session with it is refused.
#[test]
fn a_revoked_key_ends_quic_sessions_at_their_next_frame() {
    use sentientiq_client::{Client, Trust};
    let plane = Plane::start();
    let old = plane.acme();
    let edge = Edge::start("us-east-1", &plane);
    converged(std::slice::from_ref(&edge), 0.0);
    let pin = common::quic_pin(&edge.dir.path().join("data"));
    let quic = std::net::SocketAddr::from(([127, 0, 0, 1], edge.port + 1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = Client::new("127.0.0.1:0".parse().expect("addr"), Trust::Pin(pin)).expect("client");
        let conn = c.connect(quic, "localhost").await.expect("connect");
        let mut s =
            common::quic_session_acked(&conn, &hello(&old, "s_fleet_quic_live_01"), 5).await;
        let hash = plane.json(&["tenant", "get", "acme"])["key_hashes"][0]
            .as_str()
            .expect("hash")
            .to_string();
        let rotated = plane.json(&["key", "rotate", "acme", &hash]);
        let new = rotated["key"].as_str().expect("new key").to_string();
        // The edge applies the rotation; then a new QUIC session with the old key is refused.
        let t0 = Instant::now();
        loop {
            match conn
                .open_session(&hello(
                    &old,
                    &format!("s_fleet_quic_old_{:05}", t0.elapsed().as_millis() % 100_000),
                ))
                .await
            {
                Err(sentientiq_client::Error::Refused(e)) if e.code == ErrorCode::BadKey => break,
                Ok(_) => {
                    assert!(
                        t0.elapsed() < Duration::from_secs(5),
                        "old key still accepted"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        // The session opened under it is refused at its next frame.
        s.send(&moves(2, 5)).await.expect("send");
        let (mut tx, mut rx) = s.split();
        let read = async {
            loop {
                match rx.recv().await.expect("recv") {
                    Some(EdgeFrame::Err(e)) => return (e.code, e.fatal),
                    Some(EdgeFrame::Ack { seq }) => {
                        panic!("frame 2 acked ({seq:?}) under a revoked key")
                    }
                    Some(_) => {}
                    None => panic!("ended without err"),
                }
            }
        };
        let (code, err) = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(tx.stopped(), read)
        })
        .await
        .expect("in time");
        assert_eq!(err, (ErrorCode::BadKey, true));
        assert_eq!(code, Some(1008));
        // The new key works over QUIC.
        common::quic_session_acked(&conn, &hello(&new, "s_fleet_quic_new_001"), 5).await;
    });
}
