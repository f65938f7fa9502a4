//! The control plane and three regional edges as separate processes, driven with `siqctl` and
//! real WebSocket (and QUIC) clients: live key rotation and thresholds, a plane restart under live
//! sessions, a cold start from the last-known-good config, and EVI from all three regions.
//!
//! The plane's binaries are the workspace's (`cargo test --workspace` builds them beside the
//! edge's).

use std::time::{Duration, Instant};

use sentientiq_proto::{ClientFrame, EdgeFrame, ErrorCode, Hello, Seq};
use sentientiq_testkit::frames::moves;
use sentientiq_testkit::wait::wait_for;
use sentientiq_testkit::ws::{Client, rages};
use sentientiq_testkit::{Edge, Plane};

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

fn hello(key: &str, sid: &str) -> Hello {
    sentientiq_testkit::frames::hello(key, sid, None)
}

fn five_clicks(seq: u64) -> ClientFrame {
    ClientFrame::Batch(sentientiq_testkit::frames::five_clicks(seq))
}

fn fleet(plane: &Plane) -> Vec<Edge> {
    REGIONS.iter().map(|r| Edge::follow(r, plane)).collect()
}

/// Sets acme's rule `help` on rage at any confidence, acting as `action` says (`--intervene …`
/// or `--variant …` flags).
fn help_on_rage(plane: &Plane, action: &[&str]) {
    let mut args = vec![
        "tenant",
        "rule",
        "acme",
        "help",
        "--emotion",
        "rage",
        "--min-confidence",
        "0",
    ];
    args.extend_from_slice(action);
    plane.ctl(&args);
}

/// A plane with tenant acme (its key) and an edge in us-east-1 following it, and the version
/// the edge serves.
fn acme_and_an_edge() -> (Plane, String, Edge, f64) {
    let plane = Plane::start();
    let key = plane.acme();
    let edge = Edge::follow("us-east-1", &plane);
    let v0 = converged(std::slice::from_ref(&edge), 0.0);
    (plane, key, edge, v0)
}

/// The hash of acme's first key.
fn acme_key_hash(plane: &Plane) -> String {
    plane.json(&["tenant", "get", "acme"])["key_hashes"][0]
        .as_str()
        .expect("hash")
        .to_string()
}

/// Rotates acme's first key; returns the new key.
fn rotate_acme_key(plane: &Plane) -> String {
    let rotated = plane.json(&["key", "rotate", "acme", &acme_key_hash(plane)]);
    rotated["key"].as_str().expect("new key").to_string()
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
                .unwrap_or_else(|code| panic!("{}: {code:?}\n{}", e.region(), e.log()));
            c.send(&moves(1, 20));
            c.try_until_ack(1).expect("acked");
            c
        })
        .collect();
    // Rage is detected at the default thresholds.
    for (i, e) in edges.iter().enumerate() {
        let mut c = e
            .try_hello(&old, &format!("s_fleet_rage_{i:08}"))
            .expect("welcome");
        c.send(&five_clicks(1));
        assert_eq!(
            rages(&c.try_until_ack(1).expect("acked")),
            1,
            "{}",
            e.region()
        );
    }

    let new = rotate_acme_key(&plane);
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
            e.region()
        );
    }
    eprintln!("old key refused on all three edges within {worst:?} of the rotation committing");
    // A session opened under the revoked key is refused at its next frame.
    for c in &mut live {
        c.send(&moves(2, 20));
        assert_eq!(c.try_until_ack(2), Err(ErrorCode::BadKey));
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
        assert_eq!(
            rages(&c.try_until_ack(1).expect("acked")),
            0,
            "{}",
            e.region()
        );
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
    plane.kill9();
    for e in &edges {
        wait_for("the edge notices", Duration::from_secs(20), || {
            e.metric("siq_control_connected") == 0.0
        });
    }
    // Serving goes on from what the edges have.
    for (s, c) in sessions.iter_mut().enumerate() {
        c.send(&moves(1, 20));
        c.try_until_ack(1)
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
        c.try_until_ack(2).expect("acked across the restart");
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
    plane.ctl(&["key", "revoke", "acme", &acme_key_hash(&plane)]);
    let mut edge = Edge::follow("eu-west-1", &plane);
    converged(std::slice::from_ref(&edge), 0.0);
    assert!(edge.try_hello(&kept, "s_fleet_lkg_00000001").is_ok());
    assert!(edge.sigterm().success(), "{}", edge.log());
    plane.kill9();
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
    c.try_until_ack(1).expect("acked");
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
            c.try_until_ack(1).expect("acked");
            if r == 0 || (r == 1 && s % 2 == 0) {
                c.send(&five_clicks(2));
                assert_eq!(rages(&c.try_until_ack(2).expect("acked")), 1);
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
    let (plane, key, mut edge, v0) = acme_and_an_edge();
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
    c.try_until_ack(2).expect("acked");
    drop(c);
    plane.ctl(&["account", "delete-user", "acme", "u_gone"]);
    converged(std::slice::from_ref(&edge), v0);
    let before = edge.metric_with("siq_dropped_frames_total", "reason=\"forgotten_user\"");
    let mut c = edge
        .try_hello(&key, "s_fleet_gdpr_0000002")
        .expect("welcome");
    c.send(&moves(1, 10));
    c.send(&identify(2));
    c.send(&moves(3, 10));
    c.try_until_ack(3).expect("acked, and dropped");
    assert_eq!(
        edge.metric_with("siq_dropped_frames_total", "reason=\"forgotten_user\"") - before,
        2.0,
        "the identify frame and what follows it"
    );
    drop(c);
    assert!(edge.sigterm().success(), "{}", edge.log());
    let store = sentientiq_edge::storage::identity::IdentityStore::open(
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

/// A session of `frames` movement frames, every one acked.
fn acked_moves(edge: &Edge, key: &str, sid: &str, frames: u64) -> Client {
    let mut c = edge.try_hello(key, sid).expect("welcome");
    for seq in 1..=frames {
        c.send(&moves(seq, 20));
    }
    c.try_until_ack(frames).expect("acked");
    c
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
    // Before any edge reports, `siqctl edges --check` fails (1); a plane it cannot ask, 2.
    let http = format!("http://127.0.0.1:{}", plane.http_port);
    let o = plane.try_ctl(&["edges", "--http", &http, "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: no edge has reported\n"
    );
    let o = plane.try_ctl(&["edges", "--http", "http://127.0.0.1:1", "--check"]);
    assert_eq!(o.status.code(), Some(2));
    // Nor can a plane that refuses the token be asked (2), and the token is not repeated.
    let o = std::process::Command::new(sentientiq_testkit::bins::bin("siqctl"))
        .args([
            "--endpoint",
            &plane.url(),
            "--token",
            "not-the-admin-token-77",
        ])
        .args(["edges", "--http", &http, "--check"])
        .output()
        .expect("siqctl runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.starts_with("Error: the plane refused (401)"), "{err}");
    assert!(
        !err.contains("not-the-admin-token-77") && o.stdout.is_empty(),
        "{err}"
    );
    let mut edge = Edge::follow("us-west-2", &plane);
    let v0 = converged(std::slice::from_ref(&edge), 0.0);
    plane.ctl(&["tenant", "lake", "acme", "--prefix", "tenants/acme"]);
    converged(std::slice::from_ref(&edge), v0);
    let _open = acked_moves(&edge, &key, "s_fleet_lake_0000001", 3);
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
    // The plane shows it: the edge serves the current version, but not all of it.
    let mut problems = String::new();
    wait_for(
        "the plane names the refused tenant",
        Duration::from_secs(15),
        || {
            problems = regions_json(&plane)["edges"].to_string();
            problems.contains("edge-us-west-2: refuses tenant acme: ")
        },
    );
    assert!(
        problems.contains("its own lake bucket needs this edge's lake.sink")
            && problems.contains("(its previous version stays)"),
        "{problems}"
    );
    // siqctl edges says the same, and --check fails on it.
    let o = plane.try_ctl(&["edges", "--http", &http, "--check"]);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("us-west-2  edge-us-west-2")
            && out.contains("current, 1 tenant(s) refused")
            && out.contains("problem: edge-us-west-2: refuses tenant acme: its own lake bucket"),
        "{out}"
    );
    assert_eq!(err, "Error: 1 problem(s) across the edges\n");
    // Restarted, the edge serves what it served (its last-known-good file keeps the version
    // in force beside the plane's), and its new boot's report says so.
    let boot = regions_json(&plane)["edges"][0]["health"]["report_id"].clone();
    let shipped = parquet_under(&lake.join("tenants/acme/events"));
    assert!(edge.sigterm().success());
    edge.spawn();
    assert_eq!(
        edge.metric("siq_control_tenants_refused_total"),
        1.0,
        "counted at start from the last-known-good file"
    );
    let _after = acked_moves(&edge, &key, "s_fleet_lake_0000003", 2);
    wait_for(
        "the new boot reports the previous version stays",
        Duration::from_secs(15),
        || {
            let e = regions_json(&plane)["edges"][0].clone();
            let problems = e["problems"].to_string();
            e["health"]["report_id"] != boot
                && problems.contains(
                    "refuses tenant acme: its own lake bucket needs this edge's lake.sink",
                )
                && problems.contains("(its previous version stays)")
        },
    );
    // Still shipped where the kept version says.
    wait_for(
        "the restarted edge ships under the kept prefix",
        Duration::from_secs(20),
        || parquet_under(&lake.join("tenants/acme/events")) > shipped,
    );
    assert_eq!(parquet_under(&lake.join("events")), 0);
    // Put back, the problem goes with the next report.
    plane.ctl(&["tenant", "lake", "acme", "--prefix", "tenants/acme"]);
    wait_for("the refusal is gone", Duration::from_secs(15), || {
        !regions_json(&plane)["edges"]
            .to_string()
            .contains("refuses tenant")
    });
    assert!(edge.try_hello(&key, "s_fleet_lake_0000004").is_ok());
    let out = plane.ctl(&["edges", "--http", &http, "--check"]);
    assert!(
        out.contains("1 edge(s), 0 problem(s)") && !out.contains("refused"),
        "{out}"
    );
    // Decommissioned: stopped, its last report is still fresh (stale after 3 s), so it is
    // forgotten with --force (a refusal without it is the plane's handler test: timing here
    // would make it flaky); forgotten, it is no longer listed (nor stale); a second forget
    // finds nothing (1, the plane's 404 said), a bad id is refused before asking (1), and a
    // plane that cannot be asked is 2.
    assert!(edge.sigterm().success());
    let forget = |more: &[&str]| {
        let mut a = vec!["edges", "--http", &http, "--forget"];
        a.extend_from_slice(more);
        plane.try_ctl(&a)
    };
    let o = forget(&["edge-us-west-2", "--force"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.starts_with("forgot edge edge-us-west-2 (us-west-2, last report ")
            && out.ends_with(" s ago): listed again if it reports again\n"),
        "{out}"
    );
    assert_eq!(regions_json(&plane)["edges"], serde_json::json!([]));
    let o = plane.try_ctl(&["edges", "--http", &http, "--check"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error: no edge has reported\n"
    );
    for (id, said) in [
        (
            "edge-us-west-2",
            "the plane refused (404): no report from edge edge-us-west-2 is held here",
        ),
        ("a/b", "--forget: an edge id is 1 to 64 of"),
    ] {
        let o = forget(&[id]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{id}: {err}");
        assert!(err.contains(said), "{id}: {err}");
    }
    let o = plane.try_ctl(&["edges", "--http", "http://127.0.0.1:1", "--forget", "e1"]);
    assert_eq!(o.status.code(), Some(2));
}

/// The plane's `/admin/regions.json`, as the admin.
fn regions_json(plane: &Plane) -> serde_json::Value {
    let req = format!(
        "GET /admin/regions.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        sentientiq_testkit::plane::ADMIN_TOKEN
    );
    let (st, _, body) =
        sentientiq_testkit::net::raw(plane.http_port, req.as_bytes()).expect("http");
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("json")
}

/// A plane told to stop while an edge holds its streams (config, reports, alerts) stops within
/// its shutdown grace, cleanly; the edge follows it again once it is back.
#[test]
fn a_plane_stops_with_an_edge_connected_and_the_edge_follows_it_back() {
    let mut plane = Plane::start();
    let _key = plane.acme();
    let edge = Edge::follow("eu-west-1", &plane);
    let v = converged(std::slice::from_ref(&edge), 0.0);
    // Its report streams open.
    wait_for("the edge's report streams", Duration::from_secs(10), || {
        let m = plane.metrics();
        sentientiq_testkit::net::metric_with(
            &m,
            "siq_control_grpc_requests_total",
            "ReportAggregates",
        ) > 0.0
            && sentientiq_testkit::net::metric_sum(&m, "siq_plane_alert_streams") >= 1.0
    });
    // With every stream open the edge holds two connections, its config and reports' and its
    // alerts' (the default `grpc_max_per_address`, 128, is 64 edges on that count), and keeps
    // them (siqctl's, one a command, close with it).
    let open =
        || sentientiq_testkit::net::metric_sum(&plane.metrics(), "siq_control_grpc_connections");
    plane.wait_grpc_connections(2);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(open(), 2.0);
    }
    let stopping = std::time::Instant::now();
    assert!(plane.sigterm(), "exit 0 after SIGTERM: {}", plane.log());
    let took = stopping.elapsed();
    assert!(took < sentientiq_control::http::SHUTDOWN_GRACE, "{took:?}");
    assert!(plane.log().contains("stopped cleanly"), "{}", plane.log());
    plane.spawn();
    plane.ctl(&["tenant", "create", "zeta"]);
    converged(std::slice::from_ref(&edge), v);
}

#[test]
fn an_edge_follows_a_plane_that_serves_tls_only_when_it_trusts_the_certificate() {
    let plane = Plane::start_tls();
    let key = plane.acme();
    let edge = Edge::follow("eu-west-1", &plane);
    converged(std::slice::from_ref(&edge), 0.0);
    assert!(edge.try_hello(&key, "s_fleet_tls_00000001").is_ok());
    // Without the CA the plane's certificate is not trusted: nothing is followed.
    let untrusting = Edge::follow_at("us-east-1", &plane.url(), "");
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
    let (plane, old, edge, _) = acme_and_an_edge();
    let pin = sentientiq_testkit::quic::quic_pin(&edge.dir.path().join("data"));
    let quic = std::net::SocketAddr::from(([127, 0, 0, 1], edge.port + 1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = Client::new("127.0.0.1:0".parse().expect("addr"), Trust::Pin(pin)).expect("client");
        let conn = c.connect(quic, "localhost").await.expect("connect");
        let mut s = sentientiq_testkit::quic::quic_session_acked(
            &conn,
            &hello(&old, "s_fleet_quic_live_01"),
            5,
        )
        .await;
        let new = rotate_acme_key(&plane);
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
        sentientiq_testkit::quic::quic_session_acked(
            &conn,
            &hello(&new, "s_fleet_quic_new_001"),
            5,
        )
        .await;
    });
}

/// Issue 17 through the plane: a rule with variants and a holdout set with `siqctl` reaches an
/// edge live; the edge assigns each qualifying session once, shows its variant's intervention
/// or nothing (the holdout).
#[test]
fn an_experiment_set_through_the_plane_runs_on_a_following_edge() {
    let (plane, key, edge, v0) = acme_and_an_edge();
    help_on_rage(
        &plane,
        &[
            "--variant",
            r#"chat:chat:{"text":"Need a hand?"}"#,
            "--variant",
            r#"offer-10:offer:{"pct":10}"#,
            "--holdout",
            "0.5",
        ],
    );
    converged(std::slice::from_ref(&edge), v0);
    const N: usize = 24;
    let mut shown = Vec::new();
    for i in 0..N {
        let mut c = edge
            .try_hello(&key, &format!("s_fleet_exp_{i:08}"))
            .expect("welcome");
        c.send(&five_clicks(1));
        let got = c.try_until_ack(1).expect("acked");
        assert_eq!(rages(&got), 1);
        shown.extend(got.into_iter().filter_map(|f| match f {
            EdgeFrame::Iv(iv) => Some((iv.variant, iv.kind)),
            _ => None,
        }));
    }
    for (variant, kind) in &shown {
        assert!(
            [("chat", "chat"), ("offer-10", "offer")].contains(&(variant.as_str(), kind.as_str())),
            "{variant} {kind}"
        );
    }
    let held = edge.metric_with("siq_experiment_assignments_total", "arm=\"holdout\"");
    let treated = edge.metric_with("siq_experiment_assignments_total", "arm=\"variant\"");
    assert_eq!((held + treated, treated), (N as f64, shown.len() as f64));
    // Half held out at random (the seed is the edge's boot time): P(none or all) = 2·2⁻²⁴.
    assert!(
        held > 0.0 && treated > 0.0,
        "held {held}, treated {treated}"
    );
}

/// Issue 17, global posteriors: two edges count their own assignments, report them, and draw
/// from everyone's (each edge's draws come to know all the fleet's sessions, the other edge's
/// through the plane); the plane's forensics add every session and conversion up exactly once;
/// `siqctl experiment pause` reaches the rule.
#[test]
fn experiment_counts_go_round_the_fleet_and_add_up_once_in_the_forensics() {
    let plane = Plane::start();
    let key = plane.acme();
    let edges: Vec<Edge> = REGIONS[..2]
        .iter()
        .map(|r| Edge::follow(r, &plane))
        .collect();
    let v0 = converged(&edges, 0.0);
    help_on_rage(
        &plane,
        &[
            "--variant",
            r#"chat:chat:{"text":"Need a hand?"}"#,
            "--variant",
            r#"offer-10:offer:{"pct":10}"#,
            "--holdout",
            "0.2",
        ],
    );
    converged(&edges, v0);
    let converted = |seq: u64| {
        ClientFrame::Outcome(sentientiq_proto::Outcome {
            seq: Seq(seq),
            iid: "goal".into(),
            r: sentientiq_proto::OutcomeKind::Converted,
        })
    };
    // 10 sessions at the first edge, 6 at the second; every third converts.
    let mut conversions = 0;
    for (e, n) in [(0, 10), (1, 6)] {
        for i in 0..n {
            let mut c = edges[e]
                .try_hello(&key, &format!("s_global_{e}_{i:07}"))
                .expect("welcome");
            c.send(&five_clicks(1));
            assert_eq!(rages(&c.try_until_ack(1).expect("acked")), 1);
            if i % 3 == 0 {
                c.send(&converted(2));
                c.try_until_ack(2).expect("acked");
                conversions += 1;
            }
        }
    }
    let enrolled: f64 = edges
        .iter()
        .map(|e| e.metric("siq_experiment_assignments_total"))
        .sum();
    assert_eq!(enrolled, 16.0, "every raging session enrolled once");
    wait_for(
        "each edge's draws know all 16 assignments",
        Duration::from_secs(15),
        || {
            edges
                .iter()
                .all(|e| e.metric("siq_experiment_sessions_known") == 16.0)
        },
    );
    let mut report = serde_json::Value::Null;
    wait_for("the forensics add up", Duration::from_secs(15), || {
        let out = plane.ctl(&["--json", "forensics", "acme", "--days", "1"]);
        let f: serde_json::Value = serde_json::from_str(&out).expect("json");
        report = f["experiments"][0].clone();
        let arm = |a: &str, k: &str| report["report"][a]["counts"][k].as_u64().unwrap_or(0);
        arm("holdout", "sessions") + arm("treated", "sessions") == 16
            && arm("holdout", "conversions") + arm("treated", "conversions") == conversions
    });
    assert_eq!(report["rule"], "help");
    assert_eq!(report["edges"], 2, "both edges' boots reported: {report}");
    let table = plane.ctl(&["forensics", "acme"]);
    eprintln!("{table}");
    assert!(
        table.contains("rule help")
            && table.contains("holdout check")
            && table.contains("failures"),
        "{table}"
    );
    // Pausing one variant reaches the rule; show prints it.
    plane.ctl(&["experiment", "pause", "acme", "help", "chat"]);
    let shown = plane.ctl(&["experiment", "show", "acme", "help"]);
    assert!(shown.contains("(paused)"), "{shown}");
    let err = plane.try_ctl(&["experiment", "pause", "acme", "help", "nope"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("no variant nope"));
}

/// Other edges' experiment counts larger than a gRPC message reach a real edge in parts and
/// are taken whole: the two rules it runs, one first of the totals and one last (so in the first
/// and the last part), both count in its draws; and its config stream still follows the plane
/// (a single message past 4 MiB broke it at every tick).
#[test]
fn experiment_counts_past_a_grpc_message_reach_an_edge_whole_and_its_config_still_flows() {
    use sentientiq_proto::grpc::{ArmTally, ExperimentWindow};
    use sentientiq_testkit::grpc::{large_experiment_windows, report_experiments, rt};
    let (plane, key, edge, v0) = acme_and_an_edge();
    let variant = [
        "--variant",
        r#"chat:chat:{"text":"Need a hand?"}"#,
        "--holdout",
        "0.2",
    ];
    help_on_rage(&plane, &variant);
    let v1 = converged(std::slice::from_ref(&edge), v0);
    let mut last = vec!["tenant", "rule", "acme", "zzz", "--emotion", "rage"];
    last.extend_from_slice(&variant);
    plane.ctl(&last);
    // The edge runs both before the counts come (it takes those of the rules it runs).
    converged(std::slice::from_ref(&edge), v1);
    // Another boot's counts: 7 sessions in rule help's holdout and 5 in zzz's, and 3000 rules
    // this edge does not run between them, about 4.6 MB in all. The plane sends totals sorted
    // by tenant and rule (`Store::experiment_totals_for`, pinned by the control system test
    // `experiment_totals_larger_than_a_grpc_message_reach_edges_in_parts`), so `help` is in the
    // first part and `zzz` in the last whatever order they are reported in.
    let arms = sentientiq_control::store::experiments::MAX_ARMS;
    let mut windows = large_experiment_windows("acme", "edge-x@1733000000000", 3000, arms);
    for (rule, sessions) in [("help", 7), ("zzz", 5)] {
        windows.push(ExperimentWindow {
            rule: rule.into(),
            arms: vec![ArmTally {
                variant: String::new(),
                sessions,
                ..ArmTally::default()
            }],
            ..windows[0].clone()
        });
    }
    rt().block_on(async {
        let ch = plane.channel().await;
        report_experiments(&ch, windows).await;
    });
    // Either part alone would be 7 or 5.
    wait_for(
        "the edge's draws know the plane's 12 sessions",
        Duration::from_secs(15),
        || edge.metric("siq_experiment_sessions_known") == 12.0,
    );
    // The stream still follows the plane: a key rotated now is served, the old one refused.
    let new = rotate_acme_key(&plane);
    let mut n = 0;
    wait_for("the rotated key served", Duration::from_secs(10), || {
        n += 1;
        edge.try_hello(&new, &format!("s_after_{n:08}")).is_ok()
    });
    assert!(matches!(
        edge.try_hello(&key, "s_after_old_0000"),
        Err(ErrorCode::BadKey)
    ));
}

/// Issue 18, metering: what an edge accepted is what `siqctl usage` reports (sessions, frames,
/// samples, billable events, bytes, detections, interventions), priced at the default rate;
/// and an edge restart (its spool replayed, a new boot reporting) and a re-sent report count
/// nothing twice.
#[test]
fn usage_is_counted_once_at_the_edge_and_priced_by_the_plane() {
    let (plane, key, mut edge, v0) = acme_and_an_edge();
    help_on_rage(
        &plane,
        &["--intervene", r#"chat:a:{"text":"Need a hand?"}"#],
    );
    converged(std::slice::from_ref(&edge), v0);
    const N: u64 = 7;
    let batch = five_clicks(1);
    let bytes = sentientiq_proto::client_to_vec(&batch).len() as u64;
    let samples = match &batch {
        ClientFrame::Batch(b) => b.len() as u64,
        _ => unreachable!("a batch"),
    };
    for i in 0..N {
        let mut c = edge
            .try_hello(&key, &format!("s_usage_{i:010}"))
            .expect("welcome");
        c.send(&batch);
        assert_eq!(rages(&c.try_until_ack(1).expect("acked")), 1);
    }
    let usage = |plane: &Plane| -> serde_json::Value {
        serde_json::from_str(&plane.ctl(&["--json", "usage", "acme"])).expect("json")
    };
    let want = |t: &serde_json::Value, frames: u64| {
        let n = |k: &str| t[k].as_u64().unwrap_or(0);
        (
            n("sessions"),
            n("frames"),
            n("samples"),
            n("events"),
            n("bytes"),
        ) == (
            N,
            frames,
            frames * samples,
            frames * samples,
            frames * bytes,
        ) && n("detections") >= frames
            && n("interventions") == N
    };
    let mut u = serde_json::Value::Null;
    wait_for("usage reported", Duration::from_secs(15), || {
        u = usage(&plane);
        want(&u["total"], N)
    });
    // $0.01 per 1000 events, rounded half up: 7 × samples events is under a cent.
    let events = N * samples;
    assert_eq!(
        u["total"]["price_cents"].as_u64(),
        Some((events * 1000 / 1000 + 500) / 1000)
    );
    assert_eq!(u["millicents_per_1000_events"], 1000);
    // A restart: the spool is replayed (nothing counted), a new boot reports; one returning
    // session sends one more frame, which is all that is added.
    edge.sigterm();
    edge.spawn();
    converged(std::slice::from_ref(&edge), 0.0);
    let mut c = edge
        .try_hello(&key, &format!("s_usage_{:010}", 0))
        .expect("welcome back");
    c.send(&five_clicks(2));
    c.try_until_ack(2).expect("acked");
    wait_for("the new frame reported", Duration::from_secs(15), || {
        u = usage(&plane);
        u["total"]["frames"].as_u64() == Some(N + 1)
    });
    // Give a re-send (the shutdown report, the new boot's first) time to land, then check
    // nothing moved twice.
    std::thread::sleep(Duration::from_secs(2));
    let t = &usage(&plane)["total"];
    assert_eq!(t["frames"].as_u64(), Some(N + 1), "{t}");
    assert_eq!(
        t["sessions"].as_u64(),
        Some(N),
        "a returning session is not new: {t}"
    );
    assert_eq!(t["samples"].as_u64(), Some((N + 1) * samples));
    let csv = plane.ctl(&["usage", "acme", "--csv"]);
    assert!(csv.starts_with("day,sessions,frames,"), "{csv}");
    assert!(csv.contains(&format!("total,{N},{},", N + 1)), "{csv}");
    let bad = plane.try_ctl(&["usage", "acme", "--month", "2026-13"]);
    assert!(!bad.status.success());
}

/// Issue 18's quotas across two edges and the plane: a soft limit warns in `siqctl usage`; at
/// the hard limit an edge refuses a frame its own count alone would have taken (it knows what
/// the other edge counted, through the plane), with `rate_limited`, and keeps taking a
/// high-value session's frames.
#[test]
fn a_hard_quota_counts_the_whole_fleet_and_never_refuses_a_high_value_session() {
    let plane = Plane::start();
    let key = plane.acme();
    plane.import_accounts(
        "acme",
        "{\"match\":\"@acme.example\",\"company\":\"Acme Corp\",\"lifetime_value_cents\":12000000}\n",
    );
    let samples = sentientiq_testkit::frames::five_clicks(1).len() as u64;
    // Soft at two batches' events, hard at three.
    let (soft, hard) = (2 * samples, 3 * samples);
    plane.ctl(&[
        "tenant",
        "limits",
        "acme",
        &format!("events_per_month_soft={soft}"),
        &format!("events_per_month_hard={hard}"),
    ]);
    let edges = [
        Edge::follow("us-east-1", &plane),
        Edge::follow("eu-west-1", &plane),
    ];
    converged(&edges, 0.0);
    // Two batches on the first edge: taken; the plane warns.
    let mut a = edges[0]
        .try_hello(&key, "s_quota_a_000001")
        .expect("welcome");
    for seq in 1..=2 {
        a.send(&five_clicks(seq));
        a.try_until_ack(seq).expect("acked under the quota");
    }
    let usage = || -> serde_json::Value {
        serde_json::from_str(&plane.ctl(&["--json", "usage", "acme"])).expect("json")
    };
    wait_for("the soft limit passed", Duration::from_secs(15), || {
        usage()["quota_state"] == "soft"
    });
    let table = plane.ctl(&["usage", "acme"]);
    assert!(
        table.contains(&format!(
            "{soft} events of soft {soft} / hard {hard} -- WARNING"
        )),
        "{table}"
    );
    // The second edge learns the first's count from the plane.
    edges[1].wait_metric("siq_quota_month_events", |v| v == soft as f64);
    // Shards take the edge's count at their next hand-over, within a second.
    std::thread::sleep(Duration::from_millis(2_000));
    let mut b = edges[1]
        .try_hello(&key, "s_quota_b_000001")
        .expect("welcome");
    b.send(&five_clicks(1));
    b.try_until_ack(1)
        .expect("the third batch reaches the cap exactly");
    // cap + 1: refused, with the reason; on its own, this edge had counted one batch.
    b.send(&five_clicks(2));
    let refused = loop {
        match b.recv() {
            Some(EdgeFrame::Err(e)) => break e,
            Some(EdgeFrame::Ack { seq }) => panic!("acked past the hard quota: {seq:?}"),
            Some(_) => continue,
            None => panic!("no answer"),
        }
    };
    assert_eq!(refused.code, ErrorCode::RateLimited);
    assert!(refused.msg.contains("monthly quota"), "{}", refused.msg);
    assert_eq!(edges[1].metric("siq_quota_refused_total"), 1.0);
    // A page-unload beacon of another anonymous session: 429 with the reason.
    let beacon = sentientiq_proto::HttpBatch {
        key: sentientiq_proto::WriteKey::parse(&key).expect("key"),
        sid: sentientiq_proto::Sid::parse("s_quota_beacon_01").expect("sid"),
        hello: Some(hello(&key, "s_quota_beacon_01")),
        frames: vec![moves(1, 3)],
    };
    let (st, v) = edges[1].post_batch(&sentientiq_proto::http_batch_to_vec(&beacon), None);
    assert_eq!((st, v["code"].as_str()), (429, Some("rate_limited")), "{v}");
    assert!(
        v["msg"].as_str().unwrap_or("").contains("monthly quota"),
        "{v}"
    );
    // A $120k account's session on the same edge: its `id` and everything after are taken.
    let mut vip = edges[1]
        .try_hello(&key, "s_quota_vip_0001")
        .expect("welcome");
    vip.send(&sentientiq_testkit::frames::identify_as(
        1,
        "u_dana",
        "dana@acme.example",
    ));
    vip.try_until_ack(1).expect("the id is taken");
    vip.send(&five_clicks(2));
    vip.try_until_ack(2)
        .expect("high-value: taken past the quota");
    wait_for("the hard limit reported", Duration::from_secs(15), || {
        let u = usage();
        u["quota_state"] == "hard" && u["month_events"].as_u64() == Some(hard + 1 + samples)
    });
    assert!(plane.ctl(&["usage", "acme"]).contains("HARD LIMIT REACHED"));
    // The plane logged each crossing once.
    let log = plane.log();
    let crossed = |state: &str| {
        log.lines()
            .filter(|l| {
                l.contains("past its monthly quota") && l.contains(&format!("state=\"{state}\""))
            })
            .count()
    };
    assert_eq!((crossed("soft"), crossed("hard")), (1, 1), "{log}");
    // Limits are checked once: soft above hard is refused with the reason.
    let bad = plane.try_ctl(&["tenant", "limits", "acme", "events_per_month_soft=999999"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must not be above"));
}

/// Issue 18's regions page: every edge reports its health every second (idle too), and the
/// plane shows each edge's config version against its own, its sessions and its spool.
#[test]
fn every_edge_reports_its_health_and_the_plane_shows_who_is_behind() {
    let plane = Plane::start();
    let key = plane.acme();
    let mut edges = [
        Edge::follow("us-east-1", &plane),
        Edge::follow("eu-west-1", &plane),
    ];
    let v = converged(&edges, 0.0);
    let fleet = regions_json;
    let edge_of = |f: &serde_json::Value, id: &str| -> serde_json::Value {
        f["edges"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["health"]["edge_id"] == id).cloned())
            .unwrap_or(serde_json::Value::Null)
    };
    // `Edge::follow` names each edge `edge-REGION`.
    let (us, eu) = ("edge-us-east-1".to_string(), "edge-eu-west-1".to_string());
    // A session on the first edge; both edges are current and healthy.
    let mut c = edges[0]
        .try_hello(&key, "s_health_00000001")
        .expect("welcome");
    c.send(&five_clicks(1));
    c.try_until_ack(1).expect("acked");
    let mut f = serde_json::Value::Null;
    wait_for("both edges reported", Duration::from_secs(15), || {
        f = fleet(&plane);
        let (a, b) = (edge_of(&f, &us), edge_of(&f, &eu));
        a["health"]["live_sessions"] == 1
            && a["health"]["frames"] == 1
            && b["health"]["config_version"].as_f64() == Some(v)
            && a["health"]["config_version"].as_f64() == Some(v)
    });
    for id in [&us, &eu] {
        let e = edge_of(&f, id);
        assert_eq!(e["problems"], serde_json::json!([]), "{e}");
        assert_eq!(e["health"]["following"], true);
        assert_eq!(e["health"]["spool_writable"], true);
    }
    assert_eq!(edge_of(&f, &eu)["health"]["region"], "eu-west-1");
    // The second edge stops: its report ages; the plane changes a version: the first edge
    // follows it and the plane says nothing is behind but the stopped edge.
    edges[1].sigterm();
    plane.ctl(&["tenant", "emit", "acme", "false"]);
    wait_for(
        "the first edge current again",
        Duration::from_secs(15),
        || {
            f = fleet(&plane);
            f["config_version"].as_f64() == Some(v + 1.0)
                && edge_of(&f, &us)["health"]["config_version"].as_f64() == Some(v + 1.0)
        },
    );
    let stopped = edge_of(&f, &eu);
    let problems = stopped["problems"].to_string();
    assert!(problems.contains("1 behind"), "{problems}");
    // Without a token, nothing.
    let (st, _, _) = sentientiq_testkit::net::raw(
        plane.http_port,
        b"GET /admin/regions.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("http");
    assert_eq!(st, 401);
}
