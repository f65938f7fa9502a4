//! The real `sentientiq-control` binary over real sockets: health and reflection for standard
//! clients, token checks, tenants and keys, config streaming with resume across a kill -9,
//! account import with bad input, EVI from reported windows, and `siqctl`.

use std::process::{Command, Stdio};

use sentientiq_proto::grpc::{
    self, Account, AggregateBatch, EviRequest, ListTenantsRequest, RegisterEdge, RevokeKeyRequest,
    RotateKeyRequest, Tenant, TenantId, WindowAggregate,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use sentientiq_testkit::Plane;
use sentientiq_testkit::grpc::{next_update, rt, watch, with_token};
use sentientiq_testkit::plane::{ADMIN_TOKEN as ADMIN, EDGE_TOKEN as EDGE};

async fn create_acme(ch: &Channel) {
    grpc::tenant_admin_client::TenantAdminClient::new(ch.clone())
        .create_tenant(with_token(
            Tenant {
                id: "acme".into(),
                ..Tenant::default()
            },
            ADMIN,
        ))
        .await
        .expect("create");
}

#[test]
fn standard_health_and_reflection_need_no_token_and_list_every_service() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        let mut h = tonic_health::pb::health_client::HealthClient::new(ch.clone());
        for svc in ["", "sentientiq.v1.TenantAdmin", "sentientiq.v1.EdgeSync"] {
            let r = h
                .check(tonic_health::pb::HealthCheckRequest {
                    service: svc.into(),
                })
                .await
                .expect("health answers");
            assert_eq!(
                r.into_inner().status,
                tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
                "{svc}"
            );
        }
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let mut refl = ServerReflectionClient::new(ch.clone());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut resp = refl
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection answers")
            .into_inner();
        let first = resp.next().await.expect("a response").expect("ok");
        let Some(MessageResponse::ListServicesResponse(l)) = first.message_response else {
            panic!("not a service list: {first:?}");
        };
        let mut names: Vec<String> = l.service.into_iter().map(|s| s.name).collect();
        names.sort();
        for want in [
            "grpc.health.v1.Health",
            "sentientiq.v1.Accounts",
            "sentientiq.v1.Analytics",
            "sentientiq.v1.EdgeSync",
            "sentientiq.v1.TenantAdmin",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
        }
        // Older tools (Python's grpcio-reflection, grpcurl before 1.8) speak v1alpha: served too.
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest as AlphaRequest,
            server_reflection_client::ServerReflectionClient as AlphaClient,
            server_reflection_request::MessageRequest as AlphaMessage,
            server_reflection_response::MessageResponse as AlphaResponse,
        };
        let req = AlphaRequest {
            host: String::new(),
            message_request: Some(AlphaMessage::ListServices(String::new())),
        };
        let mut resp = AlphaClient::new(ch)
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("v1alpha reflection answers")
            .into_inner();
        let first = resp.next().await.expect("a response").expect("ok");
        let Some(AlphaResponse::ListServicesResponse(l)) = first.message_response else {
            panic!("not a service list: {first:?}");
        };
        assert!(
            l.service
                .iter()
                .any(|s| s.name == "sentientiq.v1.TenantAdmin")
        );
    });
}

/// A client that opens the gRPC port and sends nothing is closed at the handshake deadline
/// (`grpc_handshake_timeout_ms`, here 500 ms), not before, where it held a task and a
/// descriptor for ever.
#[test]
fn a_grpc_connection_that_sends_nothing_is_closed() {
    use std::io::Read;
    let p = Plane::start_with("grpc_handshake_timeout_ms = 500");
    let connected = std::time::Instant::now();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    // The server's own settings come first; then the close.
    let mut buf = [0u8; 64];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("closed within 30 s, not {e:?}"),
        }
    }
    let took = connected.elapsed();
    assert!(took >= std::time::Duration::from_millis(500), "{took:?}");
}

/// A client that sent its preface keeps its connection open through its HTTP/2 stack answering
/// pings (here it pings itself every 200 ms); until a request on it carries a token, a period
/// (`grpc_unauthenticated_idle_ms`, here 1 s) with no request started closes it, where such
/// clients held their place under the port's cap for ever. A connection whose request carried
/// a token stays however long it idles, and the closed client's next call opens a new one.
#[test]
fn a_grpc_connection_without_a_token_is_closed_once_it_idles() {
    use std::time::{Duration, Instant};
    let p =
        Plane::start_with("grpc_handshake_timeout_ms = 500\ngrpc_unauthenticated_idle_ms = 1000");
    p.wait_grpc_connections(0);
    rt().block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(p.url())
            .expect("url")
            .http2_keep_alive_interval(Duration::from_millis(200))
            .keep_alive_while_idle(true);
        let health = |ch: &Channel| tonic_health::pb::health_client::HealthClient::new(ch.clone());
        let check = tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        };
        let prober = endpoint.connect().await.expect("connect");
        health(&prober)
            .check(check.clone())
            .await
            .expect("health, no token");
        let checked = Instant::now();
        let admin = endpoint.connect().await.expect("connect");
        sentientiq_testkit::grpc::admin(&admin)
            .list_tenants(with_token(ListTenantsRequest::default(), ADMIN))
            .await
            .expect("tenants, with a token");
        p.wait_grpc_connections(2);
        // The prober made a request in its first period: its connection goes at the end of the
        // second, not before.
        p.wait_grpc_connections(1);
        assert!(
            checked.elapsed() >= Duration::from_secs(1),
            "{:?}",
            checked.elapsed()
        );
        // The one whose request carried a token stays, three periods on.
        tokio::time::sleep(Duration::from_secs(3)).await;
        p.wait_grpc_connections(1);
        // The prober's next check opens a new connection.
        health(&prober).check(check).await.expect("health again");
    });
}

/// siqctl reads what it sends (a file, or stdin for `-`) before it connects: accounts piped
/// slowly, past two of the plane's idle periods for a connection no token has used yet, are
/// imported (connecting first, its connection was closed before its first request).
#[test]
fn siqctl_reads_slow_stdin_before_it_connects() {
    let p =
        Plane::start_with("grpc_handshake_timeout_ms = 100\ngrpc_unauthenticated_idle_ms = 300");
    p.ctl(&["tenant", "create", "acme"]);
    let out = p.import_accounts_after(
        "acme",
        "{\"match\":\"@acme.example\",\"company\":\"Acme Corp\",\"lifetime_value_cents\":12000000}\n",
        std::time::Duration::from_millis(1500),
    );
    assert_eq!(out, "imported 1 of 1 accounts into acme\n");
}

/// Over TLS, a client that finishes its handshake and then sends nothing is closed at the
/// same deadline, counted from the connect: when tonic did the TLS only the handshake was
/// timed, and such a client held its connection for ever.
#[test]
fn a_tls_connection_silent_after_its_handshake_is_closed() {
    use tokio::io::AsyncReadExt;
    let p = Plane::start_tls_with("grpc_handshake_timeout_ms = 500");
    let ca = std::fs::read(p.ca.as_ref().expect("a CA file")).expect("ca");
    let h2 = sentientiq_testkit::tls::connector(&ca, &[b"h2"]);
    rt().block_on(async {
        let connected = std::time::Instant::now();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], p.port));
        let mut c = sentientiq_testkit::tls::connect(addr, &h2)
            .await
            .expect("the handshake");
        assert_eq!(c.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        // The server's own settings may come first; then the close.
        let mut buf = [0u8; 64];
        let read_all = async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), read_all)
            .await
            .expect("closed within 30 s");
        let took = connected.elapsed();
        assert!(took >= std::time::Duration::from_millis(500), "{took:?}");
    });
}

/// The plane's connection caps fit its open-file limit (`http::connection_budget`): its soft
/// limit (32 here, too few to start) is raised to its hard one, whose room beside what the
/// plane keeps is halved between the ports. An HTTP cap asked for above its half is lowered,
/// with a warning; a connection past a cap is closed unanswered, where the ports ran the store
/// out of descriptors.
#[test]
fn the_connection_caps_fit_the_open_file_limit() {
    use sentientiq_testkit::wait::wait_for;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;
    let hard = sentientiq_control::http::FDS_KEPT + 2 * 40;
    // Asked for more than its half: lowered to it.
    let p = Plane::start_with_open_files(
        "http_max_connections = 1000\nhttp_max_per_address = 1000",
        (32, hard),
    );
    let lowered = p.log_line("http_max_connections lowered");
    for want in [
        "asked=1000 ",
        "cap=40 ",
        "per_address=40 ",
        &format!("open_file_limit={hard}"),
    ] {
        assert!(lowered.contains(want), "{want} in {lowered}");
    }
    drop(p);
    // Asked for less (30): kept; the gRPC port has its half (40), whatever HTTP asked.
    let p = Plane::start_with_open_files(
        "http_max_connections = 30\nhttp_max_per_address = 30\nhttp_read_timeout_ms = 600000\ngrpc_handshake_timeout_ms = 600000\ngrpc_unauthenticated_idle_ms = 600000\ngrpc_max_per_address = 1000",
        (32, hard),
    );
    let http = p.log_line("HTTP connection cap");
    assert!(http.contains("cap=30 "), "{http}");
    let grpc = p.log_line("gRPC connection cap");
    assert!(grpc.contains("cap=40 "), "{grpc}");
    // Whether a request on `c` is answered (it is closed unanswered past a cap).
    let answered = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("answered or closed within 10 s, not {e:?}"),
        }
    };
    let connect = |port| TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // cap - 1 connections held, then the cap-th answered and held (tried again while an
    // earlier connection's place is still being given back).
    let mut held: Vec<TcpStream> = (0..29).map(|_| connect(p.http_port)).collect();
    wait_for(
        "the cap-th connection answered",
        Duration::from_secs(30),
        || {
            let mut c = connect(p.http_port);
            let ok = answered(&mut c);
            if ok {
                held.push(c);
            }
            ok
        },
    );
    // cap + 1: closed unanswered.
    assert!(
        !answered(&mut connect(p.http_port)),
        "answered past the cap"
    );
    // Said in the log, naming the setting (once: the cap's lines are throttled).
    wait_for("the HTTP refusal logged", Duration::from_secs(10), || {
        p.log().contains("an HTTP connection closed unanswered")
    });
    let refused = p.log_line("an HTTP connection closed unanswered");
    assert!(
        refused.contains("http_max_connections are open"),
        "{refused}"
    );
    // Places freed are taken again, and the refusal was counted.
    drop(held);
    let mut body = String::new();
    wait_for(
        "the HTTP port's places back",
        Duration::from_secs(10),
        || {
            p.try_metrics().is_some_and(|b| {
                body = b;
                body.contains("siq_control_http_connections 1\n")
            })
        },
    );
    assert!(
        sentientiq_testkit::net::metric_with(
            &body,
            "siq_control_http_connections_refused_total",
            "cap=\"all\""
        ) >= 1.0,
        "{body}"
    );
    // The gRPC port: 40 open (sending nothing; an admitted one is sent the server's HTTP/2
    // settings), the 41st closed at its accept with nothing sent. (Once the kit's readiness
    // probes have given their places back.)
    p.wait_grpc_connections(0);
    let mut grpc: Vec<TcpStream> = (0..40).map(|_| connect(p.port)).collect();
    for c in &mut grpc {
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        assert!(c.read(&mut [0u8; 64]).expect("the settings") > 0);
    }
    let mut past = connect(p.port);
    past.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    match past.read(&mut [0u8; 64]) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("closed at its accept, not {other:?}"),
    }
    // Said in the log too, naming the setting.
    let refused = p.log_line("a gRPC connection closed at its accept");
    assert!(refused.contains("open-file limit"), "{refused}");
    let mut body = String::new();
    wait_for("the gRPC port's metrics", Duration::from_secs(10), || {
        p.try_metrics().is_some_and(|b| {
            body = b;
            true
        })
    });
    for want in [
        "siq_control_grpc_connections 40\n",
        "siq_control_grpc_connections_refused_total{cap=\"all\"} 1\n",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    // Their places given back, the port serves.
    drop(grpc);
    p.wait_grpc_connections(0);
    p.ctl(&["tenant", "create", "acme"]);
}

/// A plane that cannot serve says why and does not start: it exits with an error naming the
/// file or the limit at fault and what is wrong, and is never seen listening. Its TLS files are
/// read before either port serves (a missing certificate failed the gRPC port after the plane
/// had logged "control plane serving" and its HTTP port had started: the log's "serving" is
/// what tells the two apart). Below `FDS_KEPT` + 2 open files there is no room for one
/// connection a port; at it the plane serves, one connection a port.
#[test]
fn a_plane_that_cannot_serve_says_why_and_does_not_start() {
    use sentientiq_control::http::FDS_KEPT;
    use sentientiq_testkit::tls::self_signed;
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path(), "a");
    let (_, other_key) = self_signed(dir.path(), "b");
    let (missing, not_pem) = (dir.path().join("missing.pem"), dir.path().join("not.pem"));
    std::fs::write(&not_pem, "not a certificate\n").expect("write");
    let tls = |cert: &std::path::Path, key: &std::path::Path| {
        format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n")
    };
    // Exits unsuccessfully, having said `want` and never "serving".
    let refused = |settings: &str, open_files, want: &str| {
        let (status, log) = Plane::refused(settings, open_files);
        assert!(!status.success(), "{settings}: {status} {log}");
        assert!(log.contains(want), "{settings}: {want} in {log}");
        assert!(!log.contains("serving"), "{settings}: {log}");
    };
    // A file at fault is named, with what is wrong with it.
    for (cert, key, at, what) in [
        (
            &missing,
            &key,
            &missing,
            "the certificate file: No such file",
        ),
        (&cert, &missing, &missing, "the key file: No such file"),
        (
            &not_pem,
            &key,
            &not_pem,
            "the certificate file holds no certificate",
        ),
        (
            &cert,
            &not_pem,
            &not_pem,
            "the key file holds no private key",
        ),
    ] {
        let want = format!("tls: {}: {what}", at.display());
        refused(&tls(cert, key), None, &want);
    }
    let both = format!("tls: {} and {}", cert.display(), other_key.display());
    refused(
        &tls(&cert, &other_key),
        None,
        &format!("{both}: the certificate and key: the key is not the certificate's"),
    );
    let too_few = FDS_KEPT + 1;
    refused(
        "",
        Some((too_few, too_few)),
        &format!("may open {too_few} files"),
    );
    // At FDS_KEPT + 2: serving, one connection a port.
    let p = Plane::start_with_open_files("", (FDS_KEPT + 2, FDS_KEPT + 2));
    for cap in ["http_max_connections lowered", "gRPC connection cap"] {
        let line = p.log_line(cap);
        assert!(line.contains(" cap=1 "), "{line}");
    }
    // siqctl takes the one gRPC place once the kit's readiness probe has given it back (the
    // probe may still wait in the backlog when the gauge first reads 0: tried again).
    p.wait_grpc_connections(0);
    sentientiq_testkit::wait::wait_for("siqctl served", std::time::Duration::from_secs(10), || {
        p.try_ctl(&["tenant", "list"]).status.success()
    });
}

/// A plane told to stop (SIGTERM) stops, and cleanly, while an edge watches its config, a
/// dashboard a live EVI and a prober the plane's health: their streams never end by themselves,
/// and the server's graceful shutdown waits for every stream (it did not stop until killed).
/// The plane's own streams end with `UNAVAILABLE`, the health watch with NOT_SERVING, and the
/// plane stops well within its shutdown grace.
#[test]
fn a_plane_stops_on_sigterm_with_streams_open() {
    let mut p = Plane::start();
    let rt = rt();
    let (mut config, mut evi, mut health) = rt.block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let mut config = watch(&ch, "edge-a", "eu-west-1", 0).await;
        next_update(&mut config).await;
        let evi = grpc::analytics_client::AnalyticsClient::new(ch.clone())
            .watch_evi(with_token(
                EviRequest {
                    tenant_id: "acme".into(),
                    from_minute: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .expect("after 1970")
                        .as_secs() as i64
                        / 60
                        - 10,
                    to_minute: 0,
                },
                ADMIN,
            ))
            .await
            .expect("a live EVI")
            .into_inner();
        let health = tonic_health::pb::health_client::HealthClient::new(ch)
            .watch(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("a health watch")
            .into_inner();
        (config, evi, health)
    });
    let stopping = std::time::Instant::now();
    assert!(p.sigterm(), "exit 0 after SIGTERM: {}", p.log());
    let took = stopping.elapsed();
    assert!(p.log().contains("stopped cleanly"), "{}", p.log());
    assert!(took < sentientiq_control::http::SHUTDOWN_GRACE, "{took:?}");
    rt.block_on(async {
        // Ended by the plane's stop, not by the connection breaking.
        let stopping = (
            tonic::Code::Unavailable,
            "the control plane is stopping".to_string(),
        );
        assert_eq!(ending(&mut config).await, stopping);
        assert_eq!(ending(&mut evi).await, stopping);
        // A health watch is told NOT_SERVING, then ends.
        let mut statuses = Vec::new();
        while let Ok(Some(h)) = health.message().await {
            statuses.push(h.status);
        }
        use tonic_health::pb::health_check_response::ServingStatus;
        assert_eq!(
            statuses.last(),
            Some(&(ServingStatus::NotServing as i32)),
            "{statuses:?}"
        );
    });
}

/// How `s` ends: its status and message (`Ok` for an end without one), what it still sends
/// skipped.
async fn ending<T>(s: &mut tonic::Streaming<T>) -> (tonic::Code, String) {
    loop {
        match s.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => return (tonic::Code::Ok, String::new()),
            Err(e) => return (e.code(), e.message().to_string()),
        }
    }
}

/// `grpc_max_per_address` reaches the port's cap: at 2, a third connection from one address
/// is closed at its accept, counted by its cap and logged naming the setting.
#[test]
fn the_grpc_port_takes_at_most_grpc_max_per_address_from_one_address() {
    use std::io::Read;
    let p = Plane::start_with(
        "grpc_max_per_address = 2\ngrpc_handshake_timeout_ms = 600000\ngrpc_unauthenticated_idle_ms = 600000",
    );
    let connect = || {
        let c = std::net::TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        c
    };
    // The kit's readiness probes give their places back first.
    p.wait_grpc_connections(0);
    // cap - 1 and cap: sent the server's settings; cap + 1: closed with nothing sent.
    let mut held = [connect(), connect()];
    for c in &mut held {
        assert!(c.read(&mut [0u8; 64]).expect("the settings") > 0);
    }
    match connect().read(&mut [0u8; 64]) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("closed at its accept, not {other:?}"),
    }
    let body = p.metrics();
    assert!(
        body.contains("siq_control_grpc_connections_refused_total{cap=\"address\"} 1\n"),
        "{body}"
    );
    assert!(
        p.log()
            .contains("grpc_max_per_address from one address are open"),
        "{}",
        p.log()
    );
}

#[test]
fn the_plane_serves_its_own_metrics() {
    let p = Plane::start();
    p.ctl(&["tenant", "create", "acme"]);
    let (status, body) = sentientiq_testkit::net::http(p.http_port, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    for want in [
        "siq_control_grpc_requests_total{method=\"/sentientiq.v1.TenantAdmin/CreateTenant\"} 1",
        "siq_control_tenants 1",
        "siq_control_watching_edges 0",
    ] {
        assert!(body.contains(want), "{want} in {body}");
    }
    assert!(body.contains("siq_control_config_version "), "{body}");
    assert_eq!(
        sentientiq_testkit::net::http(p.http_port, "/healthz").map(|(s, _)| s),
        Some(200)
    );
}

#[test]
fn wrong_or_missing_tokens_are_unauthenticated_and_change_nothing() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone());
        let t = Tenant {
            id: "acme".into(),
            ..Tenant::default()
        };
        let e = admin.create_tenant(t.clone()).await.expect_err("no token");
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        for wrong in ["nope", EDGE, &ADMIN[..ADMIN.len() - 1]] {
            let e = admin
                .create_tenant(with_token(t.clone(), wrong))
                .await
                .expect_err("wrong token");
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{wrong}");
        }
        // The admin token is not an edge token either.
        let mut sync = grpc::edge_sync_client::EdgeSyncClient::new(ch);
        let e = sync
            .watch_config(with_token(
                RegisterEdge {
                    edge_id: "e".into(),
                    region: "r".into(),
                    resume_from_version: 0,
                    ..RegisterEdge::default()
                },
                ADMIN,
            ))
            .await
            .expect_err("admin token on EdgeSync");
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        let l = admin
            .list_tenants(with_token(ListTenantsRequest::default(), ADMIN))
            .await
            .expect("list")
            .into_inner();
        assert!(l.tenants.is_empty(), "nothing was created: {l:?}");
    });
}

/// An edge's id and region name its lake files and its reports: a name outside the one rule
/// (`grpc::valid_edge_name`) is refused its config stream, naming the rule; the longest
/// allowed name is served.
#[test]
fn an_edge_named_outside_the_rule_is_refused_its_config() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        // A config stream asked for as edge `edge` of `region`: the stream or the refusal.
        let refused = |edge: &str, region: &str| {
            let reg = RegisterEdge {
                edge_id: edge.into(),
                region: region.into(),
                ..RegisterEdge::default()
            };
            sentientiq_testkit::grpc::register(&ch, reg)
        };
        let long = |n: usize| "e".repeat(n);
        let max = grpc::MAX_EDGE_NAME_LEN;
        for (edge, region) in [
            (String::new(), "r".to_string()),
            ("e".into(), String::new()),
            (long(max + 1), "r".into()),
            ("e".into(), long(max + 1)),
            ("a/b".into(), "r".into()),
            ("e".into(), "us east".into()),
            (".e".into(), "r".into()),
        ] {
            let e = refused(&edge, &region).await.expect_err("a bad name");
            assert_eq!(
                e.code(),
                tonic::Code::InvalidArgument,
                "{edge:?} {region:?}"
            );
            assert!(
                e.message().contains(grpc::EDGE_NAME_RULE),
                "{}",
                e.message()
            );
        }
        // A report id (`edge@boot_ms`) outside its rule too; none (an older edge's) is served.
        for (report_id, ok) in [("e", false), ("e@1x", false), ("e@1", true), ("", true)] {
            let reg = RegisterEdge {
                edge_id: "e".into(),
                region: "r".into(),
                report_id: report_id.into(),
                ..RegisterEdge::default()
            };
            let r = sentientiq_testkit::grpc::register(&ch, reg).await;
            match r {
                Ok(_) => assert!(ok, "{report_id:?} served"),
                Err(e) => {
                    assert!(!ok, "{report_id:?}: {e:?}");
                    assert_eq!(e.code(), tonic::Code::InvalidArgument);
                    assert_eq!(e.message(), format!("report_id: {}", grpc::REPORT_ID_RULE));
                }
            }
        }
        let mut w = watch(&ch, &long(max), &"r".repeat(max), 0).await;
        assert!(
            next_update(&mut w).await.full_snapshot,
            "the longest names are served"
        );
        // The same edge refused again at each retry: refused each time, logged once.
        for _ in 0..3 {
            assert!(refused("a/b", "r").await.is_err());
        }
    });
    // The plane's log names a refused edge (quoted) and where it called from, once in ten
    // minutes however often it retries (`throttle::EVERY_MS`).
    let refused = |l: &str| {
        l.contains("config stream refused")
            && l.contains(r#"edge="a/b""#)
            && l.contains("127.0.0.1:")
    };
    sentientiq_testkit::wait::wait_for(
        "the refusal logged",
        std::time::Duration::from_secs(5),
        || p.log().lines().any(refused),
    );
    assert_eq!(p.log().lines().filter(|l| refused(l)).count(), 1);
}

#[test]
fn edges_get_a_snapshot_then_deltas_and_resume_across_a_kill_9() {
    let mut p = Plane::start();
    let r = rt();
    let (key_hash, v_after_key) = r.block_on(async {
        let ch = p.channel().await;
        let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone());
        admin
            .create_tenant(with_token(
                Tenant {
                    id: "acme".into(),
                    name: "Acme".into(),
                    allowed_origins: vec!["https://acme.example".into()],
                    ..Tenant::default()
                },
                ADMIN,
            ))
            .await
            .expect("create");
        let mut w = watch(&ch, "edge-1", "us-east-1", 0).await;
        let snap = next_update(&mut w).await;
        assert!(snap.full_snapshot && !snap.more);
        assert_eq!(snap.version, 1);
        assert_eq!(snap.upserted.len(), 1);
        assert!(snap.upserted[0].key_hashes.is_empty());
        // A key issued now reaches the watching edge as the next version.
        let k = admin
            .issue_key(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect("issue")
            .into_inner();
        assert!(k.key.starts_with("siq_pk_"));
        let d = next_update(&mut w).await;
        assert_eq!(d.version, 2);
        assert!(!d.full_snapshot);
        assert_eq!(d.upserted[0].key_hashes, vec![k.key_hash.clone()]);
        // Update keeps the keys whatever the request says.
        let t = admin
            .update_tenant(with_token(
                Tenant {
                    id: "acme".into(),
                    name: "Acme Corp".into(),
                    key_hashes: vec![],
                    ..Tenant::default()
                },
                ADMIN,
            ))
            .await
            .expect("update")
            .into_inner();
        assert_eq!(t.key_hashes, vec![k.key_hash.clone()]);
        assert_eq!(next_update(&mut w).await.version, 3);
        (k.key_hash, 3u64)
    });
    // kill -9: everything acknowledged is stored.
    p.kill9();
    p.spawn();
    r.block_on(async {
        let ch = p.channel().await;
        let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone());
        let t = admin
            .get_tenant(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect("survived")
            .into_inner();
        assert_eq!(t.name, "Acme Corp");
        assert_eq!(t.key_hashes, vec![key_hash.clone()]);
        // Resuming at the current version: told it is current, no snapshot.
        let mut w = watch(&ch, "edge-1", "us-east-1", v_after_key).await;
        let cur = next_update(&mut w).await;
        assert_eq!(cur.version, v_after_key);
        assert!(!cur.full_snapshot && cur.upserted.is_empty());
        // Rotation: one version that drops the old hash and adds the new one.
        let k2 = admin
            .rotate_key(with_token(
                RotateKeyRequest {
                    tenant_id: "acme".into(),
                    key_hash: key_hash.clone(),
                },
                ADMIN,
            ))
            .await
            .expect("rotate")
            .into_inner();
        let d = next_update(&mut w).await;
        assert_eq!(d.version, v_after_key + 1);
        assert_eq!(d.upserted[0].key_hashes, vec![k2.key_hash.clone()]);
        // An edge two versions behind gets exactly the deltas it missed.
        let mut w2 = watch(&ch, "edge-2", "eu-west-1", 2).await;
        assert_eq!(next_update(&mut w2).await.version, 3);
        assert_eq!(next_update(&mut w2).await.version, 4);
        // Revoking an unknown hash is refused and changes nothing.
        let e = admin
            .revoke_key(with_token(
                RevokeKeyRequest {
                    tenant_id: "acme".into(),
                    key_hash: key_hash.clone(),
                },
                ADMIN,
            ))
            .await
            .expect_err("already rotated out");
        assert_eq!(e.code(), tonic::Code::NotFound);
        // Deleting the tenant reaches the edge as a deletion.
        admin
            .delete_tenant(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect("delete");
        let d = next_update(&mut w).await;
        assert_eq!(d.deleted_tenant_ids, vec!["acme".to_string()]);
    });
}

#[test]
fn an_import_with_a_bad_account_keeps_everything_before_it() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let mut accts = grpc::accounts_client::AccountsClient::new(ch.clone());
        let good = |i: usize| Account {
            tenant_id: "acme".into(),
            r#match: format!("@c{i}.example"),
            company: format!("C{i}"),
            lifetime_value_cents: 100_000 * i as i64,
            tier: "smb".into(),
            owner_contact_ids: vec![],
        };
        let mut list: Vec<Account> = (0..1500).map(good).collect();
        list[1200].r#match = "@nodot".into();
        let e = accts
            .import(with_token(tokio_stream::iter(list), ADMIN))
            .await
            .expect_err("bad account");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().contains("account #1201")
                && e.message()
                    .contains("the 1200 accounts before it are stored"),
            "{}",
            e.message()
        );
        // The snapshot an edge gets holds exactly those 1200.
        let mut w = watch(&ch, "e", "us-east-1", 0).await;
        let mut accounts = 0;
        loop {
            let u = next_update(&mut w).await;
            accounts += u.accounts.len();
            if !u.more {
                break;
            }
        }
        assert_eq!(accounts, 1200);
    });
}

/// A directory past the 4 MiB a gRPC peer decodes by default (every edge keeps that default):
/// 300 accounts of the most bytes an account may have (4.7 MiB) reach a watcher with that
/// default both ways, as a snapshot's parts and as an import's versions, each message within
/// the plane's message bytes. Before, the snapshot put them in one message and the import in
/// one version: a watcher failed to decode either ("message length too large"), at each retry.
/// One account past the size is refused, naming it.
#[test]
fn a_directory_larger_than_a_grpc_message_reaches_edges_in_parts() {
    use prost::Message as _;
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let mut before = watch(&ch, "e", "us-east-1", 0).await;
        let from = next_update(&mut before).await.version;
        let big = |i: usize, bytes: usize| {
            let mut a = Account {
                tenant_id: "acme".into(),
                r#match: format!("u{i:04}"),
                ..Account::default()
            };
            // 13 bytes of tenant and match, the company's key and a two-byte length.
            a.company = "c".repeat(bytes - 16);
            assert_eq!(a.encoded_len(), bytes);
            a
        };
        let max = sentientiq_control::store::MAX_ACCOUNT_BYTES;
        let list: Vec<Account> = (0..300).map(|i| big(i, max)).collect();
        let total: usize = list.iter().map(|a| a.encoded_len()).sum();
        assert!(total > 4 << 20, "{total}");
        let mut accts = grpc::accounts_client::AccountsClient::new(ch.clone());
        let r = accts
            .import(with_token(tokio_stream::iter(list), ADMIN))
            .await
            .expect("imported")
            .into_inner();
        assert_eq!(r.upserted, 300);
        let limit = sentientiq_control::store::CONFIG_MESSAGE_BYTES;
        // An edge resuming from before the import: its versions, each a message of its own.
        let mut w = watch(&ch, "e", "us-east-1", from).await;
        let mut accounts = 0;
        while accounts < 300 {
            let u = next_update(&mut w).await;
            assert!(
                !u.full_snapshot && u.encoded_len() <= limit,
                "{}",
                u.encoded_len()
            );
            accounts += u.accounts.len();
        }
        assert_eq!(accounts, 300);
        // A new edge: the snapshot, in parts.
        let mut w = watch(&ch, "e2", "us-east-1", 0).await;
        let (mut accounts, mut parts) = (0, 0);
        loop {
            let u = next_update(&mut w).await;
            assert!(
                u.full_snapshot && u.encoded_len() <= limit,
                "{}",
                u.encoded_len()
            );
            accounts += u.accounts.len();
            parts += 1;
            if !u.more {
                break;
            }
        }
        assert_eq!(accounts, 300);
        assert!(parts >= 5, "{parts} parts");
        let e = accts
            .import(with_token(
                tokio_stream::iter(vec![big(300, max + 1)]),
                ADMIN,
            ))
            .await
            .expect_err("too large");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().starts_with(&format!(
                "account #1: account u0300: {} bytes encoded",
                max + 1
            )),
            "{}",
            e.message()
        );
    });
}

/// Other edges' experiment counts larger than a gRPC message (tonic's 4 MiB, which edges keep)
/// reach an edge in parts within the plane's message bytes, `counts_more` on all but the last;
/// sent as one message they failed to decode at every tick and broke the edge's config stream.
#[test]
fn experiment_totals_larger_than_a_grpc_message_reach_edges_in_parts() {
    use prost::Message as _;
    use sentientiq_testkit::grpc::{large_experiment_windows, report_experiments};
    let max_arms = sentientiq_control::store::experiments::MAX_ARMS;
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let n = 3000;
        let windows = large_experiment_windows("acme", "edge-a@1733000000000", n, max_arms);
        report_experiments(&ch, windows.clone()).await;
        // Another edge boot draws from them.
        let reg = RegisterEdge {
            edge_id: "edge-b".into(),
            region: "us-east-1".into(),
            resume_from_version: 0,
            report_id: "edge-b@1733000000001".into(),
            counts_in_parts: true,
        };
        let mut w = sentientiq_testkit::grpc::register(&ch, reg)
            .await
            .expect("watch");
        let limit = sentientiq_control::store::CONFIG_MESSAGE_BYTES;
        let (mut totals, mut parts, mut bytes) = (Vec::new(), 0, 0);
        loop {
            let u = next_update(&mut w).await;
            if u.experiment_totals.is_empty() {
                assert!(parts == 0, "the parts come in a row");
                continue;
            }
            assert!(u.encoded_len() <= limit, "{}", u.encoded_len());
            parts += 1;
            bytes += u.encoded_len();
            totals.extend(u.experiment_totals);
            if !u.counts_more {
                break;
            }
        }
        assert!(
            bytes > 4 << 20,
            "{bytes} bytes: more than one message holds"
        );
        assert!(parts >= 5, "{parts} parts");
        let rules: Vec<String> = totals.iter().map(|t| t.rule.clone()).collect();
        let want: Vec<String> = windows.iter().map(|w| w.rule.clone()).collect();
        assert_eq!(rules, want, "every total once, in order");
        assert!(totals.iter().all(|t| t.arms.len() == max_arms));
        // An edge older than parts is sent the set whole, as before (decoded here up to
        // 8 MiB; an older edge at 4 MiB fails on it as it did).
        let mut old = grpc::edge_sync_client::EdgeSyncClient::new(ch.clone())
            .max_decoding_message_size(8 << 20)
            .watch_config(with_token(
                RegisterEdge {
                    edge_id: "edge-c".into(),
                    region: "us-east-1".into(),
                    resume_from_version: 0,
                    report_id: "edge-c@1733000000002".into(),
                    counts_in_parts: false,
                },
                EDGE,
            ))
            .await
            .expect("watch")
            .into_inner();
        let whole = loop {
            let u = next_update(&mut old).await;
            if !u.experiment_totals.is_empty() {
                break u;
            }
        };
        assert_eq!(whole.experiment_totals.len(), n);
        assert!(!whole.counts_more && whole.encoded_len() > 4 << 20);
    });
}

#[test]
fn evi_per_region_and_global_from_reported_windows() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let minute = 29_000_000i64;
        let w = |region: &str, active: u64, rage_milli: u64| WindowAggregate {
            tenant_id: "acme".into(),
            region: region.into(),
            edge_id: format!("edge-{region}@1733000000000"),
            minute,
            active_sessions: active,
            detections: vec![rage_milli / 1000, 0, 0, 0, 0],
            intensity_milli: vec![rage_milli, 0, 0, 0, 0],
            value_at_risk_cents: 0,
            affected_sessions: rage_milli / 1000,
            ..WindowAggregate::default()
        };
        let windows = vec![
            w("us-east-1", 100, 5000),
            w("us-west-2", 50, 0),
            w("eu-west-1", 50, 5000),
        ];
        let mut sync = grpc::edge_sync_client::EdgeSyncClient::new(ch.clone());
        // Sent twice (an edge re-sending what was not acked): stored once.
        let batches = vec![
            AggregateBatch {
                windows: windows.clone(),
                batch_id: 7,
                ..AggregateBatch::default()
            },
            AggregateBatch {
                windows: windows.clone(),
                batch_id: 8,
                ..AggregateBatch::default()
            },
        ];
        let mut acks = sync
            .report_aggregates(with_token(tokio_stream::iter(batches), EDGE))
            .await
            .expect("report")
            .into_inner();
        assert_eq!(acks.next().await.expect("ack").expect("ok").batch_id, 7);
        assert_eq!(acks.next().await.expect("ack").expect("ok").batch_id, 8);
        // A window under an edge's id without its boot (`edge@boot_ms`, as every edge
        // reports) is refused with its batch, and the stream ends there.
        let mut bad = w("us-east-1", 1000, 1000);
        bad.edge_id = "edge-us-east-1".into();
        // One batch of `windows` on a report stream of its own: its answers.
        let mut one = async |windows: Vec<WindowAggregate>, batch_id: u64| {
            let batch = AggregateBatch {
                windows,
                batch_id,
                ..AggregateBatch::default()
            };
            sync.report_aggregates(with_token(tokio_stream::iter(vec![batch]), EDGE))
                .await
                .expect("report")
                .into_inner()
        };
        let mut acks = one(vec![bad], 9).await;
        let e = acks.next().await.expect("an answer").expect_err("refused");
        assert!(
            acks.next().await.is_none(),
            "the stream ends at the refusal"
        );
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
        assert!(
            e.message().contains(&format!(
                "a window's edge_id \"edge-us-east-1\": {}",
                grpc::REPORT_ID_RULE
            )),
            "{e:?}"
        );
        // A window whose content this plane refuses (over the emotions a window counts) is
        // skipped and counted, and its batch acknowledged: the good window beside it is stored.
        let mut over = w("us-east-1", 1, 1000);
        over.detections = vec![1; sentientiq_control::store::MAX_WINDOW_EMOTIONS + 1];
        over.minute = minute + 5;
        let mut beside = w("us-west-2", 1, 0);
        beside.minute = minute + 5;
        let mut acks = one(vec![over, beside], 10).await;
        assert_eq!(acks.next().await.expect("ack").expect("ok").batch_id, 10);
        let (_, metrics) = sentientiq_testkit::net::http(p.http_port, "/metrics").expect("metrics");
        assert!(
            metrics.contains("siq_control_windows_refused_total 1\n"),
            "{metrics}"
        );
        let mut an = grpc::analytics_client::AnalyticsClient::new(ch);
        let five = an
            .evi(with_token(
                EviRequest {
                    tenant_id: "acme".into(),
                    from_minute: minute + 5,
                    to_minute: minute + 6,
                },
                ADMIN,
            ))
            .await
            .expect("evi")
            .into_inner();
        let regions: Vec<&str> = five.points.iter().map(|x| x.region.as_str()).collect();
        assert!(
            regions.contains(&"us-west-2") && !regions.contains(&"us-east-1"),
            "{regions:?}"
        );
        let r = an
            .evi(with_token(
                EviRequest {
                    tenant_id: "acme".into(),
                    from_minute: minute,
                    to_minute: minute + 1,
                },
                ADMIN,
            ))
            .await
            .expect("evi")
            .into_inner();
        let get = |reg: &str| {
            r.points
                .iter()
                .find(|p| p.region == reg)
                .unwrap_or_else(|| panic!("{reg} in {:?}", r.points))
                .clone()
        };
        // x = 0.05 in us-east-1 (half scale, no baseline yet): 37.5.
        assert!((get("us-east-1").evi - 37.5).abs() < 1e-9);
        assert_eq!(get("us-west-2").evi, 0.0);
        // eu-west-1: x = 0.1, L = 2/3, EVI = 50.
        assert!((get("eu-west-1").evi - 50.0).abs() < 1e-9);
        // Global over the union: 200 active, 10 rages: x = 0.05 → 37.5, and not the mean
        // of the regions.
        let g = get("");
        assert_eq!(g.active_sessions, 200);
        assert!((g.evi - 37.5).abs() < 1e-9, "{g:?}");
        assert!((r.global - 37.5).abs() < 1e-9);
        // A watch of the same (long past) range sends the same points, then ends: nothing in
        // it can change any more. A range past 366 days is refused, by both calls.
        let ask = |from_minute: i64, to_minute: i64| {
            with_token(
                EviRequest {
                    tenant_id: "acme".into(),
                    from_minute,
                    to_minute,
                },
                ADMIN,
            )
        };
        let mut watch = an
            .watch_evi(ask(minute, minute + 1))
            .await
            .expect("watch")
            .into_inner();
        let mut watched = Vec::new();
        while let Some(p) = tokio::time::timeout(std::time::Duration::from_secs(20), watch.next())
            .await
            .expect("the watch ends")
        {
            watched.push(p.expect("a point"));
        }
        assert_eq!(watched, r.points);
        let long = sentientiq_control::forensics::MAX_RANGE_MINUTES + 1;
        let e = an
            .evi(ask(minute - long, minute))
            .await
            .expect_err("too long");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("at most 527040 minutes"), "{e:?}");
        let e = an
            .watch_evi(ask(minute - long, minute))
            .await
            .expect_err("too long");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    });
}

/// A tenant's lake destination is a bucket and a prefix: `region` and `endpoint`, which no edge
/// uses, are refused on a create and on an update with nothing stored, and siqctl offers
/// neither.
#[test]
fn a_tenant_lake_destination_takes_a_bucket_and_a_prefix_only() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch.clone());
        let lake = |region: &str, endpoint: &str| {
            Some(grpc::LakeDestination {
                bucket: "acme-own".into(),
                prefix: "p".into(),
                region: region.into(),
                endpoint: endpoint.into(),
            })
        };
        let acme = |lake| Tenant {
            id: "acme".into(),
            lake,
            ..Tenant::default()
        };
        let e = admin
            .create_tenant(with_token(acme(lake("", "https://r2.example")), ADMIN))
            .await
            .expect_err("an endpoint");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().contains("lake.endpoint `https://r2.example`"),
            "{}",
            e.message()
        );
        let gone = admin
            .get_tenant(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect_err("not created");
        assert_eq!(gone.code(), tonic::Code::NotFound);
        create_acme(&ch).await;
        let e = admin
            .update_tenant(with_token(acme(lake("eu-west-1", "")), ADMIN))
            .await
            .expect_err("a region");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(
            e.message().contains("lake.region `eu-west-1`"),
            "{}",
            e.message()
        );
        let get = |mut admin: grpc::tenant_admin_client::TenantAdminClient<Channel>| async move {
            admin
                .get_tenant(with_token(TenantId { id: "acme".into() }, ADMIN))
                .await
                .expect("get")
                .into_inner()
        };
        assert_eq!(get(admin.clone()).await.lake, None, "nothing stored");
        admin
            .update_tenant(with_token(acme(lake("", "")), ADMIN))
            .await
            .expect("a bucket and a prefix");
        assert_eq!(get(admin.clone()).await.lake, lake("", ""));
    });
    // siqctl no longer offers them and says why (not clap's "unexpected argument").
    for flag in ["--endpoint", "--region"] {
        let (ok, out, err) = p.siqctl(
            &[
                "tenant",
                "lake",
                "acme",
                "--bucket",
                "b2",
                flag,
                "https://k:s3cret@r2.example",
            ],
            ADMIN,
        );
        assert!(!ok, "{out}{err}");
        assert!(
            err.contains(flag) && err.contains("through its own [lake.s3] endpoint"),
            "{err}"
        );
        assert!(!err.contains("unexpected argument"), "{err}");
        assert!(!err.contains("s3cret"), "the value is not repeated: {err}");
    }
    let t = p.json(&["tenant", "get", "acme"]);
    assert_eq!(t["lake"]["bucket"], "acme-own", "nothing changed: {t}");
    // Refused before connecting: against no plane at all, the same reason, not a connection
    // error.
    let (ok, out, err) = p.siqctl_at(
        "http://127.0.0.1:1",
        &["tenant", "lake", "acme", "--region", "eu-west-1"],
        ADMIN,
    );
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("--region: a tenant's lake no longer has its own region"),
        "{err}"
    );
}

/// An allowed origin a write adds must be what browsers send (`scheme://host[:port]`): one with
/// a path would be stored and never match. siqctl says why and nothing changes.
#[test]
fn a_new_allowed_origin_must_be_an_origin() {
    let p = Plane::start();
    // On a create (the dashboard's setup creates), with what to write instead.
    let (ok, out, err) = p.siqctl(
        &[
            "tenant",
            "create",
            "acme",
            "--origin",
            "https://shop.example/products?id=1",
        ],
        ADMIN,
    );
    assert!(
        !ok && err.contains("has a path, query or fragment")
            && err.contains("write `https://shop.example`"),
        "{out}{err}"
    );
    let (ok, out, err) = p.siqctl(&["tenant", "create", "acme"], ADMIN);
    assert!(ok, "{out}{err}");
    for bad in [
        "https://shop.example/app",
        "shop.example",
        "https://shop.example?x",
        "null",
        "capacitor://localhost/index.html",
    ] {
        let (ok, out, err) = p.siqctl(&["tenant", "origins", "acme", "*", bad], ADMIN);
        assert!(
            !ok && err.contains("allowed origin") && err.contains(bad),
            "{bad}: {out}{err}"
        );
    }
    assert_eq!(
        p.json(&["tenant", "get", "acme"])["allowed_origins"],
        serde_json::json!([]),
        "nothing changed"
    );
    let (ok, out, err) = p.siqctl(
        &[
            "tenant",
            "origins",
            "acme",
            "https://shop.example/",
            "http://localhost:3000",
            "capacitor://localhost",
        ],
        ADMIN,
    );
    assert!(ok, "{out}{err}");
    assert_eq!(
        p.json(&["tenant", "get", "acme"])["allowed_origins"],
        serde_json::json!([
            "https://shop.example/",
            "http://localhost:3000",
            "capacitor://localhost"
        ])
    );
}

#[test]
fn siqctl_runs_tenant_and_key_operations_and_reports_errors() {
    let p = Plane::start();
    let (ok, out, err) = p.siqctl(
        &[
            "tenant",
            "create",
            "acme",
            "--name",
            "Acme",
            "--origin",
            "https://acme.example",
        ],
        ADMIN,
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("created tenant acme"), "{out}");
    let (ok, out, err) = p.siqctl(&["--json", "key", "issue", "acme"], ADMIN);
    assert!(ok, "{err}");
    let k: serde_json::Value = serde_json::from_str(&out).expect("json");
    let hash = k["key_hash"].as_str().expect("hash").to_string();
    assert!(k["key"].as_str().expect("key").starts_with("siq_pk_"));
    let (ok, out, _) = p.siqctl(&["tenant", "thresholds", "acme", "rage_clicks=4"], ADMIN);
    assert!(ok, "{out}");
    let (ok, out, _) = p.siqctl(&["--json", "tenant", "get", "acme"], ADMIN);
    assert!(ok);
    let t: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(t["thresholds"]["rage_clicks"], 4);
    assert_eq!(t["key_hashes"][0], hash.as_str());
    let (ok, _, err) = p.siqctl(&["tenant", "thresholds", "acme", "rage_clicks=0"], ADMIN);
    assert!(!ok && err.contains("invalid"), "{err}");
    // Contacts, rules, labels and policy from the shell; the plane refuses a rule that
    // escalates to a contact the tenant does not have.
    let (ok, _, err) = p.siqctl(
        &[
            "tenant",
            "rule",
            "acme",
            "esc",
            "--emotion",
            "rage",
            "--escalate",
            "csm",
        ],
        ADMIN,
    );
    assert!(!ok && err.contains("unknown contact"), "{err}");
    for args in [
        &[
            "tenant",
            "contact",
            "acme",
            "csm",
            "--channel",
            "webhook",
            "--address",
            "https://hooks.example/x",
        ][..],
        &[
            "tenant",
            "rule",
            "acme",
            "esc",
            "--emotion",
            "rage",
            "--emotion",
            "frustration",
            "--min-value-cents",
            "10000000",
            "--escalate",
            "csm",
        ],
        &[
            "tenant",
            "rule",
            "acme",
            "chat",
            "--emotion",
            "rage",
            "--intervene",
            "chat:a:{\"text\":\"Need help?\"}",
        ],
        &[
            "tenant",
            "label",
            "acme",
            "hesitation",
            "pricing",
            "price_anxiety",
        ],
        &["tenant", "dnt", "acme", "drop"],
        &["tenant", "limits", "acme", "max_sessions=5000"],
        &["tenant", "emit", "acme", "true"],
    ] {
        let (ok, out, err) = p.siqctl(args, ADMIN);
        assert!(ok, "{args:?}: {out}{err}");
    }
    let (ok, out, _) = p.siqctl(&["--json", "tenant", "get", "acme"], ADMIN);
    assert!(ok);
    let t: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(t["contacts"][0]["id"], "csm");
    assert_eq!(t["rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        t["rules"][0]["action"]["Escalation"]["contact_ids"][0],
        "csm"
    );
    assert_eq!(t["labels"][0]["label"], "price_anxiety");
    assert_eq!(t["dnt"], grpc::DntPolicy::Drop as i32);
    assert_eq!(t["limits"]["max_sessions"], 5000);
    assert_eq!(t["emit"], true);
    let (ok, _, err) = p.siqctl(&["tenant", "unrule", "acme", "nope"], ADMIN);
    assert!(!ok && err.contains("no rule nope"), "{err}");
    let (ok, _, err) = p.siqctl(&["tenant", "list"], "wrong-token-wrong-token");
    assert!(!ok && err.contains("unauthenticated"), "{err}");
    let (ok, out, _) = p.siqctl(&["key", "revoke", "acme", &hash], ADMIN);
    assert!(ok && out.contains("revoked"), "{out}");
    let (ok, out, _) = p.siqctl(&["--json", "tenant", "list"], ADMIN);
    assert!(ok);
    let l: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(l[0]["key_hashes"].as_array().map(Vec::len), Some(0));
}

#[test]
fn tls_serves_clients_that_trust_the_certificate_and_only_them() {
    let p = Plane::start_tls();
    let ca = p.ca.clone().expect("a CA file");
    let plain = format!("http://127.0.0.1:{}", p.port);
    let https = format!("https://localhost:{}", p.port);
    let ca = ca.to_string_lossy().into_owned();
    let (ok, out, err) = p.siqctl_at(&https, &["--ca", &ca, "tenant", "create", "acme"], ADMIN);
    assert!(ok, "{out}{err}{}", p.log());
    let (ok, out, _) = p.siqctl_at(&https, &["--ca", &ca, "--json", "tenant", "list"], ADMIN);
    assert!(ok && out.contains("\"acme\""), "{out}");
    // Without the CA the certificate is not trusted; plain HTTP/2 is not served.
    let (ok, _, _) = p.siqctl_at(&https, &["tenant", "list"], ADMIN);
    assert!(!ok, "an untrusted certificate was accepted");
    let (ok, _, _) = p.siqctl_at(&plain, &["tenant", "list"], ADMIN);
    assert!(!ok, "plaintext was served on the TLS port");
}

#[test]
fn a_tenant_holds_at_most_max_keys_and_rotation_at_the_cap_still_works() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create_acme(&ch).await;
        let mut admin = grpc::tenant_admin_client::TenantAdminClient::new(ch);
        let issue = |admin: &mut grpc::tenant_admin_client::TenantAdminClient<Channel>| {
            let mut a = admin.clone();
            async move {
                a.issue_key(with_token(TenantId { id: "acme".into() }, ADMIN))
                    .await
            }
        };
        let max = sentientiq_control::keys::MAX_KEYS_PER_TENANT;
        let mut last = String::new();
        for _ in 0..max {
            last = issue(&mut admin)
                .await
                .expect("under the cap")
                .into_inner()
                .key_hash;
        }
        let e = issue(&mut admin).await.expect_err("over the cap");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
        // Rotation replaces one key: allowed at the cap, and the count stays at the cap.
        admin
            .rotate_key(with_token(
                RotateKeyRequest {
                    tenant_id: "acme".into(),
                    key_hash: last,
                },
                ADMIN,
            ))
            .await
            .expect("rotate at the cap");
        let t = admin
            .get_tenant(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect("get")
            .into_inner();
        assert_eq!(t.key_hashes.len(), max);
    });
}

/// curl (libcurl + nghttp2, not our code and not tonic) speaking gRPC over HTTP/2 to the plane:
/// health says SERVING and reflection lists the services, with no token.
#[test]
fn a_plain_http2_client_gets_health_and_the_service_list() {
    let p = Plane::start();
    let call = |method: &str, message: &[u8]| -> Vec<u8> {
        use std::io::Write;
        let mut body = vec![0u8];
        body.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.extend_from_slice(message);
        let mut child = Command::new("curl")
            .args([
                "-sS",
                "--http2-prior-knowledge",
                "-H",
                "content-type: application/grpc",
                "-H",
                "te: trailers",
                "--data-binary",
                "@-",
                &format!("{}/{method}", p.url()),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl (make deps installs it)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&body)
            .expect("request");
        let o = child.wait_with_output().expect("curl runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    // HealthCheckRequest{} → HealthCheckResponse{status: SERVING (1)}: field 1 varint 1.
    assert_eq!(
        call("grpc.health.v1.Health/Check", &[]),
        vec![0, 0, 0, 0, 2, 0x08, 0x01]
    );
    // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
    let listed = call(
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        &[0x3a, 0x00],
    );
    let text = String::from_utf8_lossy(&listed);
    for s in [
        "sentientiq.v1.TenantAdmin",
        "sentientiq.v1.Accounts",
        "sentientiq.v1.EdgeSync",
        "sentientiq.v1.Analytics",
        "grpc.health.v1.Health",
    ] {
        assert!(text.contains(s), "{s} not listed: {text:?}");
    }
}
