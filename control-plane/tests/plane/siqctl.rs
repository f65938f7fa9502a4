//! `siqctl alerts …` and `siqctl tenant rule … --escalate-chain` end to end against a real
//! plane, with an edge reporting alerts; and no siqctl command ever prints a secret. Also
//! `siqctl edges --forget` against a failing stand-in (what a real plane cannot be made to do).

use sentientiq_testkit::Plane;
use sentientiq_testkit::alerts::{
    SECRET_ALERTS, SECRETS, assert_no_secret, assert_plane_log_has_no_secret,
};
use sentientiq_testkit::bins::bin;
use sentientiq_testkit::grpc::{Reporter, now_ms, record, rt};
use sentientiq_testkit::plane::ADMIN_TOKEN;

/// Every siqctl run of a test, so that all of their output can be checked for secrets.
struct Runs<'a> {
    p: &'a Plane,
    seen: Vec<(String, String)>,
}

impl Runs<'_> {
    /// Runs siqctl; returns stdout if it succeeded, panics if not.
    fn ok(&mut self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "siqctl {args:?} failed:\n{err}{out}");
        out
    }

    /// Runs siqctl; returns stderr if it failed, panics if not.
    fn fails(&mut self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(!ok, "siqctl {args:?} succeeded:\n{out}");
        err
    }

    fn run(&mut self, args: &[&str]) -> (bool, String, String) {
        let (ok, out, err) = self.p.siqctl(args, ADMIN_TOKEN);
        self.seen.push((
            format!("siqctl {}", args.join(" ")),
            format!("{out}\n{err}"),
        ));
        (ok, out, err)
    }
}

#[test]
fn siqctl_sets_shows_lists_and_acts_on_alerts_and_never_prints_a_secret() {
    let p = Plane::start();
    let r = rt();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.to_string_lossy().into_owned()
    };
    let good = file("alerts.toml", SECRET_ALERTS);
    let empty = file("empty.toml", "\n");
    let unknown_contact = file("bad.toml", &SECRET_ALERTS.replace("[\"ceo\"]", "[\"cfo\"]"));
    let bad_key = file(
        "bad-key.toml",
        &SECRET_ALERTS.replace(
            "R0ut1ngKeySecret0123456789abcdef",
            "R0ut1ngKeySecret0123456789abcde",
        ),
    );
    let mut c = Runs {
        p: &p,
        seen: vec![],
    };

    c.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    c.ok(&[
        "tenant",
        "contact",
        "acme",
        "old",
        "--channel",
        "webhook",
        "--address",
        "https://old.example/hook",
    ]);
    // A chain needs a config that has it.
    let e = c.fails(&[
        "tenant",
        "rule",
        "acme",
        "page",
        "--emotion",
        "rage",
        "--escalate-chain",
        "enterprise",
    ]);
    assert!(e.contains("needs a [tenant.alerts] config"), "{e}");
    let out = c.ok(&["alerts", "set", "acme", &good]);
    assert!(
        out.starts_with("alerting config of acme set (secrets redacted):\n"),
        "{out}"
    );
    assert!(
        out.contains("[redacted]") && out.contains("enterprise"),
        "{out}"
    );
    let shown = c.ok(&["alerts", "get", "acme"]);
    assert!(
        out.ends_with(&shown),
        "set prints what get does:\n{out}\n{shown}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&c.ok(&["--json", "alerts", "get", "acme"])).expect("json");
    assert_eq!(j["tenant_id"], "acme");
    assert_eq!(j["toml_redacted"].as_str(), Some(shown.as_str()));
    // Refusals say why, without quoting the config.
    let e = c.fails(&["alerts", "set", "acme", &unknown_contact]);
    assert!(
        e.contains("invalid") && e.contains("unknown contact cfo"),
        "{e}"
    );
    let e = c.fails(&["alerts", "set", "acme", &bad_key]);
    assert!(e.contains("PagerDutyRoutingKey"), "{e}");
    assert!(!e.contains("R0ut1ngKey"), "{e}");
    let e = c.fails(&["alerts", "set", "acme", &empty]);
    assert!(e.contains("siqctl alerts remove acme"), "{e}");
    let e = c.fails(&["alerts", "get", "globex"]);
    assert!(e.contains("not found"), "{e}");

    // Rules page its chains (--escalate-chain) or its contacts (--escalate).
    let e = c.fails(&[
        "tenant",
        "rule",
        "acme",
        "page",
        "--emotion",
        "rage",
        "--escalate-chain",
        "nope",
    ]);
    assert!(e.contains("no chain `nope`"), "{e}");
    let e = c.fails(&[
        "tenant",
        "rule",
        "acme",
        "page",
        "--emotion",
        "rage",
        "--escalate-chain",
        "enterprise",
        "--escalate",
        "ceo",
    ]);
    assert!(e.contains("cannot be used with"), "{e}");
    c.ok(&[
        "tenant",
        "rule",
        "acme",
        "page",
        "--emotion",
        "rage",
        "--min-value-cents",
        "10000000",
        "--escalate-chain",
        "enterprise",
    ]);
    c.ok(&[
        "tenant",
        "rule",
        "acme",
        "ceo",
        "--emotion",
        "rage",
        "--escalate",
        "ceo",
    ]);
    let t: serde_json::Value =
        serde_json::from_str(&c.ok(&["--json", "tenant", "get", "acme"])).expect("json");
    assert_eq!(
        t["rules"][0]["action"]["Escalation"]["chain"], "enterprise",
        "{t}"
    );
    assert_eq!(
        t["rules"][1]["action"]["Escalation"]["contact_ids"][0], "ceo",
        "{t}"
    );
    assert_eq!(t["alerts_toml"], "", "{t}");
    let human = c.ok(&["tenant", "get", "acme"]);
    assert!(
        human.contains("alerting config: set (siqctl alerts get acme)"),
        "{human}"
    );
    // A tenant file round trip (get --json, update --file) keeps the config and its rules.
    let tenant_file = file("acme.json", &t.to_string());
    c.ok(&["tenant", "update", "--file", &tenant_file]);
    assert_eq!(c.ok(&["alerts", "get", "acme"]), shown);
    c.ok(&["tenant", "list"]);
    c.ok(&["--json", "tenant", "list"]);
    c.ok(&["tenant", "thresholds", "acme", "rage_clicks=4"]);
    c.ok(&["tenant", "origins", "acme", "https://acme.example"]);
    let key = c.ok(&["--json", "key", "issue", "acme"]);
    let key: serde_json::Value = serde_json::from_str(&key).expect("json");
    let hash = key["key_hash"].as_str().expect("hash").to_string();
    // Every other tenant command prints the tenant (or what changed) and nothing of the config.
    for args in [
        &[
            "tenant",
            "label",
            "acme",
            "rage",
            "checkout",
            "checkout_rage",
        ][..],
        &["tenant", "unlabel", "acme", "rage", "checkout"],
        &["tenant", "dnt", "acme", "drop"],
        &["tenant", "emit", "acme", "true"],
        &["tenant", "lake", "acme", "--prefix", "siq"],
        &["tenant", "limits", "acme", "max_sessions=100"],
        &["tenant", "uncontact", "acme", "old"],
        &["--json", "tenant", "emit", "acme", "false"],
        &["key", "rotate", "acme", &hash],
        &["evi", "acme", "--minutes", "5"],
    ] {
        c.ok(args);
    }
    assert_eq!(
        c.ok(&["alerts", "get", "acme"]),
        shown,
        "edits keep the config"
    );
    // EVI over the longest range the plane reads (366 days, the current minute included);
    // past it, or none, refused before asking.
    c.ok(&["evi", "acme", "--minutes", "527040"]);
    for m in ["0", "527041"] {
        let e = c.fails(&["evi", "acme", "--minutes", m]);
        assert!(e.contains("1..=527040"), "{m}: {e}");
    }
    // A frame limit written in KiB is refused with the floor, and nothing changes.
    let e = c.fails(&["tenant", "limits", "acme", "max_frame_bytes=128"]);
    assert!(
        e.contains("limits.max_frame_bytes must be at least 8192 bytes, not 128"),
        "{e}"
    );
    c.ok(&["tenant", "limits", "acme", "max_frame_bytes=8192"]);
    let t: serde_json::Value =
        serde_json::from_str(&c.ok(&["--json", "tenant", "get", "acme"])).expect("json");
    assert_eq!(t["limits"]["max_frame_bytes"], 8192);
    c.ok(&["tenant", "create", "globex"]);
    let human = c.ok(&["tenant", "get", "globex"]);
    assert!(human.contains("alerting config: none"), "{human}");

    // An edge reports alerts; siqctl lists them.
    let t0 = now_ms() - 5 * 60_000;
    let (mut edge, ch) = r.block_on(async {
        let ch = p.channel().await;
        let mut e = Reporter::connect(&ch, Some("edge-1")).await;
        let mut acked = record("acme", "al_acked", "edge-1", "acknowledged", t0 - 3_600_000);
        acked.acked_by = "bob".into();
        acked.updated_ms = t0 - 3_000_000;
        e.report(vec![
            record("acme", "al_open", "edge-1", "open", t0),
            acked,
            record("globex", "al_globex", "edge-1", "open", t0 - 60_000),
        ])
        .await;
        (e, ch)
    });
    let table = c.ok(&["alerts", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for head in [
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
    ] {
        assert!(lines[0].contains(head), "{head} in {table}");
    }
    assert!(lines[1].starts_with("al_open "), "newest first:\n{table}");
    assert!(lines[2].starts_with("al_globex "), "{table}");
    for want in [
        "acme",
        "us-east-1",
        "Globex",
        "$120,000",
        "ana@globex.example",
        "rage",
        "open",
        "2/3 delivered",
        "5m",
    ] {
        assert!(lines[1].contains(want), "{want} in {table}");
    }
    assert!(
        lines[3].contains("acknowledged") && lines[3].contains("bob"),
        "{table}"
    );
    assert!(lines[3].contains("1h"), "{table}");
    let open = c.ok(&["alerts", "list", "--open", "--tenant", "acme"]);
    assert_eq!(open.lines().count(), 2, "{open}");
    assert!(open.contains("al_open"), "{open}");
    let since = c.ok(&["alerts", "list", "--since-ms", &(t0 - 1).to_string()]);
    assert_eq!(since.lines().count(), 2, "{since}");
    let none = c.ok(&[
        "alerts",
        "list",
        "--since-ms",
        &(now_ms() + 60_000).to_string(),
    ]);
    assert_eq!(none, "no alerts\n");
    let j: serde_json::Value =
        serde_json::from_str(&c.ok(&["alerts", "list", "--json", "--tenant", "acme"]))
            .expect("json");
    assert_eq!(j.as_array().map(Vec::len), Some(2), "{j}");
    assert_eq!(j[0]["alert_id"], "al_open");
    assert_eq!(j[0]["value_cents"], 12_000_000);
    let e = c.fails(&["alerts", "list", "--tenant", "initech"]);
    assert!(e.contains("not found"), "{e}");

    // Acting: the command reaches the edge holding the alert.
    let out = c.ok(&[
        "alerts", "ack", "al_open", "--tenant", "acme", "--by", "ana",
    ]);
    assert!(
        out.contains("al_open of acme: acknowledged by ana"),
        "{out}"
    );
    let e = c.fails(&[
        "alerts", "ack", "al_open", "--tenant", "globex", "--by", "ana",
    ]);
    assert!(e.contains("not found"), "{e}");
    let e = c.fails(&[
        "alerts", "ack", "al_nope", "--tenant", "acme", "--by", "ana",
    ]);
    assert!(e.contains("not found"), "{e}");
    let long = "b".repeat(129);
    let e = c.fails(&[
        "alerts", "ack", "al_open", "--tenant", "acme", "--by", &long,
    ]);
    assert!(e.contains("invalid") && e.contains("128"), "{e}");
    let out = c.ok(&[
        "--json",
        "alerts",
        "false-alarm",
        "al_acked",
        "--tenant",
        "acme",
        "--by",
        "cy",
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j["action"], "false_alarm");
    let mut got = r.block_on(edge.heartbeat());
    got.sort();
    assert_eq!(got, ["al_acked:false_alarm:cy", "al_open:acknowledge:ana"]);

    // The config cannot go while rules page through it; then it can.
    let e = c.fails(&["alerts", "remove", "acme"]);
    assert!(e.contains("needs a [tenant.alerts] config"), "{e}");
    c.ok(&["tenant", "unrule", "acme", "page"]);
    c.ok(&["tenant", "unrule", "acme", "ceo"]);
    let out = c.ok(&["alerts", "remove", "acme"]);
    assert!(out.contains("removed"), "{out}");
    let e = c.fails(&["alerts", "get", "acme"]);
    assert!(e.contains("not found"), "{e}");
    // Set again from stdin.
    let o = std::process::Command::new(bin("siqctl"))
        .args(["alerts", "set", "acme", "-"])
        .env("SIQ_ENDPOINT", p.url())
        .env("SIQ_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(std::fs::File::open(&good).expect("open"))
        .output()
        .expect("siqctl runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(out.ends_with(&shown), "{out}");
    c.seen.push(("siqctl alerts set acme -".into(), out + &err));
    drop(ch);
    c.ok(&["tenant", "delete", "globex"]);
    c.ok(&["--json", "tenant", "list"]);

    // Not one run printed a secret; nor did the plane log one.
    assert!(c.seen.len() > 40, "{} runs", c.seen.len());
    for (what, text) in &c.seen {
        assert_no_secret(what, text);
    }
    assert_plane_log_has_no_secret(&p.log());
    // The check itself: the file siqctl read holds every secret.
    let f = std::fs::read_to_string(&good).expect("read");
    assert!(SECRETS.iter().all(|s| f.contains(s)));
}

/// `siqctl tenant rule … --variant` (issue 17): a rule with an experiment, stored by the plane
/// after the one validator (`sentientiq_experiments::config`, through the tenant crate) accepted
/// it, and refused with its message when it does not.
#[test]
fn siqctl_sets_a_rule_with_variants_and_a_holdout_validated_by_the_experiment_crate() {
    let p = Plane::start();
    let mut c = Runs {
        p: &p,
        seen: vec![],
    };
    c.ok(&["tenant", "create", "acme", "--name", "Acme"]);
    let rule = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["tenant", "rule", "acme", "help", "--emotion", "rage"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_ok = |c: &mut Runs<'_>, extra: &[&str]| {
        let a = rule(extra);
        c.ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    };
    let run_fails = |c: &mut Runs<'_>, extra: &[&str]| {
        let a = rule(extra);
        c.fails(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    run_ok(
        &mut c,
        &[
            "--variant",
            r#"chat:chat:{"text":"Need a hand?"}"#,
            "--variant",
            "offer-10:offer",
            "--paused",
            "offer-10",
            "--holdout",
            "0.2",
            "--attribution-window-s",
            "600",
        ],
    );
    let t: serde_json::Value =
        serde_json::from_str(&c.ok(&["--json", "tenant", "get", "acme"])).expect("json");
    let x = &t["rules"][0]["action"]["Experiment"];
    assert_eq!(x["holdout_share"], 0.2, "{t}");
    assert_eq!(x["attribution_window_ms"], 600_000, "{t}");
    assert_eq!(
        x["burn_in_min_samples"],
        serde_json::Value::Null,
        "unset: {t}"
    );
    assert_eq!(x["variants"][0]["id"], "chat", "{t}");
    assert_eq!(x["variants"][1]["paused"], true, "{t}");
    // Refused by the experiment crate's validator, its message passed on.
    let e = run_fails(&mut c, &["--variant", "chat:chat", "--holdout", "0.6"]);
    assert!(e.contains("holdout_share 0.6 is outside"), "{e}");
    // Variants: cap (8) accepted, cap + 1 refused.
    let many = |n: usize| -> Vec<String> {
        (0..n)
            .flat_map(|i| ["--variant".to_string(), format!("v{i}:chat")])
            .chain(["--floor".to_string(), "0".to_string()])
            .collect()
    };
    let eight = many(8);
    run_ok(
        &mut c,
        &eight.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let nine = many(9);
    let e = run_fails(&mut c, &nine.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(e.contains("9 variants"), "{e}");
    // Locally refused: a malformed variant, a paused id that is not a variant.
    let e = run_fails(&mut c, &["--variant", "chat"]);
    assert!(e.contains("--variant ID:KIND"), "{e}");
    let e = run_fails(&mut c, &["--variant", "chat:chat", "--paused", "nope"]);
    assert!(e.contains("--paused nope"), "{e}");
    // What was stored last is the eight-variant experiment.
    let t: serde_json::Value =
        serde_json::from_str(&c.ok(&["--json", "tenant", "get", "acme"])).expect("json");
    assert_eq!(
        t["rules"][0]["action"]["Experiment"]["variants"]
            .as_array()
            .map(Vec::len),
        Some(8),
        "{t}"
    );
}

/// `siqctl edges --forget`'s exit codes where no plane test can put a real plane: a plane that
/// fails (a 5xx) is 2, "could not be asked", not 1, "refused" (as no answer at all is: the fleet
/// system test); `--force` without `--forget` is a usage error, asking nothing.
#[test]
fn siqctl_edges_forget_counts_a_failing_plane_as_not_asked_and_force_needs_forget() {
    let body = br#"{"error":"storage: the disk is full"}"#;
    let mut answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    let (url, asked) = sentientiq_testkit::net::answer_once(answer);
    let siqctl = |args: &[&str]| {
        std::process::Command::new(bin("siqctl"))
            .args(["--token", ADMIN_TOKEN, "edges", "--http", &url])
            .args(args)
            .output()
            .expect("siqctl runs")
    };
    let o = siqctl(&["--forget", "use1", "--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(
        err,
        "Error: the plane refused (503): storage: the disk is full\n"
    );
    assert!(o.stdout.is_empty());
    let req = asked.join().expect("the stand-in answered");
    assert!(
        req.starts_with("POST /admin/edges/use1/forget?force=true HTTP/1.1\r\n"),
        "{req}"
    );
    // The stand-in has answered its one connection: a request now would fail to connect (2
    // too), so the usage error's own text is asserted.
    let o = siqctl(&["--force"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the following required arguments were not provided")
            && err.contains("--forget <EDGE_ID>"),
        "{err}"
    );
}

/// `siqctl alerts list` reads an answer past tonic's default 4 MiB (a list holds up to 1000
/// records of up to 64 KiB): 100 records of 60 KiB (6 MB) listed, where the default limit
/// refused the answer ("decoded message length too large").
#[test]
fn siqctl_lists_alerts_past_a_grpc_messages_default_size() {
    let p = Plane::start();
    p.ctl(&["tenant", "create", "acme", "--name", "Acme"]);
    let t0 = now_ms() - 60_000;
    rt().block_on(async {
        let ch = p.channel().await;
        let mut e = Reporter::connect(&ch, Some("edge-1")).await;
        // Batches of 50 (3 MB): within what the plane decodes of an edge.
        for batch in 0..2 {
            let records = (0..50)
                .map(|i| {
                    let n = batch * 50 + i;
                    let mut r = record("acme", &format!("al_{n:03}"), "edge-1", "open", t0 + n);
                    r.page = "p".repeat(60 * 1024);
                    r
                })
                .collect();
            e.report(records).await;
        }
    });
    let out = p.ctl(&["alerts", "list", "--tenant", "acme"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("al_")).count(),
        100,
        "{out}"
    );
}

/// Five tenants of 940 KB each (4.7 MB of origins, past tonic's default 4 MiB a message) are
/// listed: siqctl asks page by page, one tenant a page; an older client that does not page
/// gets them in one answer.
#[test]
fn siqctl_lists_tenants_page_by_page_past_a_grpc_messages_default_size() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        for t in 0..5 {
            // 209 bytes each (labels of at most 63).
            let label = "x".repeat(60);
            let origins = (0..4500)
                .map(|i| format!("https://o{i:05}.{label}.{label}.{label}.t{t}.example"))
                .collect();
            sentientiq_testkit::grpc::admin(&ch)
                .create_tenant(sentientiq_testkit::grpc::with_token(
                    sentientiq_proto::grpc::Tenant {
                        id: format!("t{t}"),
                        name: format!("T{t}"),
                        allowed_origins: origins,
                        ..Default::default()
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .expect("created");
        }
    });
    let out = p.ctl(&["tenant", "list"]);
    assert_eq!(
        out.lines().filter(|l| l.starts_with('t')).count(),
        5,
        "{out}"
    );
    // siqctl asks page by page: one tenant of 940 KB a page (two pass 1 MiB); an older client,
    // which does not page, gets all five in one answer.
    rt().block_on(async {
        use sentientiq_proto::grpc::ListTenantsRequest;
        use sentientiq_testkit::grpc::{admin, with_token};
        let ch = p.channel().await;
        let mut after = String::new();
        let mut pages = Vec::new();
        loop {
            let r = admin(&ch)
                .max_decoding_message_size(4 << 20)
                .list_tenants(with_token(
                    ListTenantsRequest {
                        after: after.clone(),
                        limit: 0,
                        paged: true,
                    },
                    ADMIN_TOKEN,
                ))
                .await
                .expect("a page")
                .into_inner();
            pages.push(r.tenants.iter().map(|t| t.id.clone()).collect::<Vec<_>>());
            if r.next_after.is_empty() {
                break;
            }
            after = r.next_after;
        }
        assert_eq!(pages, [["t0"], ["t1"], ["t2"], ["t3"], ["t4"]]);
        let all = admin(&ch)
            .max_decoding_message_size(64 << 20)
            .list_tenants(with_token(ListTenantsRequest::default(), ADMIN_TOKEN))
            .await
            .expect("all")
            .into_inner();
        assert_eq!((all.tenants.len(), all.next_after.as_str()), (5, ""));
    });
}
