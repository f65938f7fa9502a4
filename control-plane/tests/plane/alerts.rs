//! Alerts on the plane over gRPC: the alerting config (stored as written, shown redacted, sent
//! whole to edges only, validated with the rules), `ReportAlerts` and `List`, and `Act`'s
//! commands reaching the edge holding the alert until a record shows them applied.

use sentientiq_proto::grpc::{
    self, AlertActionRequest, AlertRecord, Contact, Escalation, ListAlertsRequest,
    ListTenantsRequest, Rule, SetAlertsRequest, Tenant, TenantId,
};
use tonic::Code;
use tonic::transport::Channel;

use sentientiq_testkit::Plane;
use sentientiq_testkit::alerts::{SECRET_ALERTS, assert_no_secret, assert_plane_log_has_no_secret};
use sentientiq_testkit::grpc::{
    Reporter, admin, alerts, commands, next_update, now_ms, record, rt, watch, with_token,
};
use sentientiq_testkit::plane::{ADMIN_TOKEN as ADMIN, EDGE_TOKEN as EDGE};

async fn create(ch: &Channel, t: Tenant) -> Tenant {
    admin(ch)
        .create_tenant(with_token(t, ADMIN))
        .await
        .expect("create")
        .into_inner()
}

async fn set_alerts(ch: &Channel, tenant: &str, toml: &str) -> Result<String, tonic::Status> {
    admin(ch)
        .set_alerts(with_token(
            SetAlertsRequest {
                tenant_id: tenant.into(),
                toml: toml.into(),
            },
            ADMIN,
        ))
        .await
        .map(|r| r.into_inner().toml_redacted)
}

async fn get_alerts(ch: &Channel, tenant: &str) -> Result<String, tonic::Status> {
    admin(ch)
        .get_alerts(with_token(TenantId { id: tenant.into() }, ADMIN))
        .await
        .map(|r| r.into_inner().toml_redacted)
}

async fn get_tenant(ch: &Channel, id: &str) -> Tenant {
    admin(ch)
        .get_tenant(with_token(TenantId { id: id.into() }, ADMIN))
        .await
        .expect("get")
        .into_inner()
}

async fn update(ch: &Channel, t: Tenant) -> Result<Tenant, tonic::Status> {
    admin(ch)
        .update_tenant(with_token(t, ADMIN))
        .await
        .map(|r| r.into_inner())
}

fn escalate(id: &str, chain: &str, contacts: &[&str]) -> Rule {
    Rule {
        id: id.into(),
        emotions: vec!["rage".into()],
        min_confidence: 0.5,
        action: Some(grpc::rule::Action::Escalation(Escalation {
            contact_ids: contacts.iter().map(|c| c.to_string()).collect(),
            chain: chain.into(),
        })),
        ..Rule::default()
    }
}

fn refused(r: Result<impl std::fmt::Debug, tonic::Status>, code: Code, says: &str) {
    let e = r.expect_err(says);
    assert_eq!(e.code(), code, "{says}: {e:?}");
    assert!(e.message().contains(says), "{says:?} in {:?}", e.message());
    assert_no_secret("a refusal", e.message());
}

fn version(p: &Plane) -> u64 {
    let m = p.metrics();
    m.lines()
        .find_map(|l| l.strip_prefix("siq_control_config_version "))
        .and_then(|v| v.trim().parse().ok())
        .expect("config version in /metrics")
}

fn legacy_contact() -> Contact {
    Contact {
        id: "old".into(),
        name: "Old Pager".into(),
        channel: "webhook".into(),
        address: "https://old.example/hook?k=LegacyAddressToken".into(),
    }
}

#[test]
fn the_alerting_config_is_stored_as_written_sent_whole_to_edges_and_shown_redacted() {
    let mut p = Plane::start();
    let r = rt();
    let redacted = r.block_on(async {
        let ch = p.channel().await;
        create(
            &ch,
            Tenant {
                id: "acme".into(),
                contacts: vec![legacy_contact()],
                ..Tenant::default()
            },
        )
        .await;
        let mut w = watch(&ch, "e1", "us-east-1", 0).await;
        let snap = next_update(&mut w).await;
        assert_eq!(snap.version, 1);
        let t = &snap.upserted[0];
        assert!(t.alerts_toml.is_empty());
        // Edges get a legacy contact's id, nothing else of it.
        assert_eq!(
            t.contacts,
            vec![Contact {
                id: "old".into(),
                ..Contact::default()
            }]
        );

        let redacted = set_alerts(&ch, "acme", SECRET_ALERTS).await.expect("set");
        assert_no_secret("SetAlerts' answer", &redacted);
        for shown in ["[redacted]", "csm", "enterprise", "+14155550100", "120000"] {
            assert!(redacted.contains(shown), "{shown} in {redacted}");
        }
        assert_eq!(get_alerts(&ch, "acme").await.expect("get"), redacted);
        // The watching edge gets it as the next version, exactly as written.
        let d = next_update(&mut w).await;
        assert_eq!(d.version, 2);
        assert!(!d.full_snapshot);
        assert_eq!(d.upserted[0].alerts_toml, SECRET_ALERTS);
        assert!(d.upserted[0].alerts_sealed.is_empty());
        assert_eq!(d.upserted[0].contacts[0].address, "");

        // Admins never get it from a tenant answer; they do get their legacy contacts.
        let t = get_tenant(&ch, "acme").await;
        assert!(t.alerts_toml.is_empty() && t.alerts_sealed.is_empty());
        assert_eq!(t.contacts, vec![legacy_contact()]);
        let l = admin(&ch)
            .list_tenants(with_token(ListTenantsRequest::default(), ADMIN))
            .await
            .expect("list")
            .into_inner();
        assert!(l.tenants.iter().all(|t| t.alerts_toml.is_empty()));
        assert_no_secret("ListTenants", &format!("{l:?}"));
        // An update keeps the stored config (edges still get it) and answers without it.
        let mut changed = t.clone();
        changed.name = "Acme Corp".into();
        let t = update(&ch, changed).await.expect("update");
        assert!(t.alerts_toml.is_empty());
        assert_eq!(t.name, "Acme Corp");
        let d = next_update(&mut w).await;
        assert_eq!(d.version, 3);
        assert_eq!(d.upserted[0].alerts_toml, SECRET_ALERTS);
        // So does a key issued now (another kind of change to the tenant).
        let k = admin(&ch)
            .issue_key(with_token(TenantId { id: "acme".into() }, ADMIN))
            .await
            .expect("key")
            .into_inner();
        assert_eq!(
            next_update(&mut w).await.upserted[0].alerts_toml,
            SECRET_ALERTS
        );
        assert_no_secret("IssueKey", &format!("{k:?}"));

        // A snapshot, and an edge resuming from the log, carry it too.
        let mut fresh = watch(&ch, "e2", "us-east-1", 0).await;
        let s = next_update(&mut fresh).await;
        assert!(s.full_snapshot);
        assert_eq!(s.upserted[0].alerts_toml, SECRET_ALERTS);
        assert_eq!(s.upserted[0].contacts[0].name, "");
        let mut resumed = watch(&ch, "e3", "us-east-1", 1).await;
        let d = next_update(&mut resumed).await;
        assert_eq!(d.version, 2);
        assert_eq!(d.upserted[0].alerts_toml, SECRET_ALERTS);
        assert_eq!(d.upserted[0].contacts[0].channel, "");

        // Not found: a tenant without a config, a tenant that does not exist.
        create(
            &ch,
            Tenant {
                id: "globex".into(),
                ..Tenant::default()
            },
        )
        .await;
        refused(
            get_alerts(&ch, "globex").await,
            Code::NotFound,
            "alerting config of tenant globex",
        );
        refused(
            get_alerts(&ch, "initech").await,
            Code::NotFound,
            "tenant initech",
        );
        refused(
            set_alerts(&ch, "initech", SECRET_ALERTS).await,
            Code::NotFound,
            "tenant initech",
        );
        redacted
    });
    // Stored durably: the same after a kill -9.
    p.kill9();
    p.spawn();
    r.block_on(async {
        let ch = p.channel().await;
        assert_eq!(get_alerts(&ch, "acme").await.expect("get"), redacted);
        let mut w = watch(&ch, "e1", "us-east-1", 0).await;
        let s = next_update(&mut w).await;
        let acme = s.upserted.iter().find(|t| t.id == "acme").expect("acme");
        assert_eq!(acme.alerts_toml, SECRET_ALERTS);
    });
    assert_plane_log_has_no_secret(&p.log());
}

#[test]
fn rules_and_the_alerting_config_are_validated_together() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        create(
            &ch,
            Tenant {
                id: "acme".into(),
                ..Tenant::default()
            },
        )
        .await;
        // The tenant's fields never carry the alerting config in.
        for (what, t) in [
            (
                "create",
                Tenant {
                    id: "globex".into(),
                    alerts_toml: SECRET_ALERTS.into(),
                    ..Tenant::default()
                },
            ),
            (
                "create sealed",
                Tenant {
                    id: "globex".into(),
                    alerts_sealed: vec![1, 2, 3],
                    ..Tenant::default()
                },
            ),
        ] {
            let e = admin(&ch)
                .create_tenant(with_token(t, ADMIN))
                .await
                .expect_err(what);
            assert_eq!(e.code(), Code::InvalidArgument, "{what}");
            assert!(e.message().contains("use SetAlerts"), "{e:?}");
        }
        let mut t = get_tenant(&ch, "acme").await;
        t.alerts_toml = SECRET_ALERTS.into();
        refused(
            update(&ch, t.clone()).await,
            Code::InvalidArgument,
            "use SetAlerts",
        );
        t.alerts_toml.clear();
        t.alerts_sealed = vec![0; 32];
        refused(
            update(&ch, t.clone()).await,
            Code::InvalidArgument,
            "use SetAlerts",
        );
        t.alerts_sealed.clear();

        // A rule naming a chain needs the config that has it.
        t.rules = vec![escalate("page", "enterprise", &[])];
        refused(
            update(&ch, t.clone()).await,
            Code::InvalidArgument,
            "needs a [tenant.alerts] config",
        );
        let v = version(&p);
        // Bad alerting configs.
        refused(
            set_alerts(&ch, "acme", "[providers\nslack = ").await,
            Code::InvalidArgument,
            "alerting config",
        );
        refused(
            set_alerts(
                &ch,
                "acme",
                &SECRET_ALERTS.replace("[\"ceo\"]", "[\"cfo\"]"),
            )
            .await,
            Code::InvalidArgument,
            "unknown contact cfo",
        );
        // A malformed credential is named, never quoted.
        let e = set_alerts(
            &ch,
            "acme",
            &SECRET_ALERTS.replace(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "whsec_ShortBadSecretXX",
            ),
        )
        .await
        .expect_err("a short webhook secret");
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains("WebhookSecret"), "{e:?}");
        assert!(!e.message().contains("ShortBadSecret"), "{e:?}");
        // An invisible character pasted into a webhook URL (which the URL check keeps: edges
        // re-check stored configs) is refused on this write, naming the contact and the
        // character, never the URL.
        for (from, to, contact, character) in [
            (
                "HookSecretValue\"",
                "HookSecretValue\u{200B}\"",
                "contact csm: its slack_webhook URL",
                "U+200B",
            ),
            (
                "token=UrlTokenSecret\"",
                "token=UrlTokenSecret\u{A0}\"",
                "contact ceo: its webhook URL",
                "U+00A0",
            ),
        ] {
            let e = set_alerts(&ch, "acme", &SECRET_ALERTS.replace(from, to))
                .await
                .expect_err(character);
            assert_eq!(e.code(), Code::InvalidArgument);
            assert!(
                e.message().contains(contact) && e.message().contains(character),
                "{e:?}"
            );
            assert_no_secret("the refusal", e.message());
        }
        // The size cap (sentientiq_tenant::MAX_ALERTS_TOML), padded with a comment.
        let cap = sentientiq_tenant::MAX_ALERTS_TOML;
        let sized = |n: usize| {
            let pad = n - SECRET_ALERTS.len() - 3;
            let t = format!("{SECRET_ALERTS}# {}\n", "x".repeat(pad));
            assert_eq!(t.len(), n);
            t
        };
        refused(
            set_alerts(&ch, "acme", &sized(cap + 1)).await,
            Code::InvalidArgument,
            "at most",
        );
        assert_eq!(version(&p), v, "refusals change nothing");
        set_alerts(&ch, "acme", &sized(cap - 1))
            .await
            .expect("cap - 1");
        set_alerts(&ch, "acme", &sized(cap)).await.expect("cap");
        assert_eq!(version(&p), v + 2, "each config is one version");

        // With the config, rules page its chains and contacts, and nothing else.
        t.rules = vec![escalate("page", "enterprise", &[])];
        let t2 = update(&ch, t.clone()).await.expect("rule with a chain");
        assert_eq!(t2.rules.len(), 1);
        t.rules = vec![escalate("page", "nope", &[])];
        refused(
            update(&ch, t.clone()).await,
            Code::InvalidArgument,
            "no chain `nope`",
        );
        t.rules = vec![escalate("page", "", &["ceo"])];
        update(&ch, t.clone())
            .await
            .expect("rule with a contact of the config");
        t.rules = vec![escalate("page", "", &["cto"])];
        refused(
            update(&ch, t.clone()).await,
            Code::InvalidArgument,
            "unknown contact `cto`",
        );
        t.rules = vec![
            escalate("page", "enterprise", &[]),
            escalate("ceo", "", &["ceo"]),
        ];
        update(&ch, t.clone()).await.expect("both");

        // A config still paged cannot go, nor lose the chain or contact a rule pages.
        let v = version(&p);
        refused(
            set_alerts(&ch, "acme", "").await,
            Code::InvalidArgument,
            "needs a [tenant.alerts] config",
        );
        refused(
            set_alerts(
                &ch,
                "acme",
                &SECRET_ALERTS.replace("[chains.enterprise]", "[chains.other]"),
            )
            .await,
            Code::InvalidArgument,
            "no chain `enterprise`",
        );
        assert_eq!(version(&p), v);
        assert!(get_alerts(&ch, "acme").await.is_ok(), "still there");

        // Once no rule pages through it, it can be removed; edges hear of it.
        let mut w = watch(&ch, "e1", "us-east-1", v).await;
        assert_eq!(next_update(&mut w).await.version, v, "current");
        t.rules.clear();
        update(&ch, t.clone()).await.expect("no rules");
        assert!(!next_update(&mut w).await.upserted[0].alerts_toml.is_empty());
        assert_eq!(set_alerts(&ch, "acme", "").await.expect("removed"), "");
        let d = next_update(&mut w).await;
        assert!(d.upserted[0].alerts_toml.is_empty());
        refused(
            get_alerts(&ch, "acme").await,
            Code::NotFound,
            "alerting config",
        );
    });
    assert_plane_log_has_no_secret(&p.log());
}

async fn list(ch: &Channel, tenant: &str, since_ms: i64, open_only: bool) -> Vec<AlertRecord> {
    alerts(ch)
        .list(with_token(
            ListAlertsRequest {
                tenant_id: tenant.into(),
                since_ms,
                open_only,
            },
            ADMIN,
        ))
        .await
        .expect("list")
        .into_inner()
        .alerts
}

fn ids(v: &[AlertRecord]) -> Vec<&str> {
    v.iter().map(|a| a.alert_id.as_str()).collect()
}

async fn act(
    ch: &Channel,
    tenant: &str,
    alert: &str,
    action: &str,
    by: &str,
) -> Result<(), tonic::Status> {
    alerts(ch)
        .act(with_token(
            AlertActionRequest {
                tenant_id: tenant.into(),
                alert_id: alert.into(),
                action: action.into(),
                by: by.into(),
            },
            ADMIN,
        ))
        .await
        .map(drop)
}

async fn two_tenants(ch: &Channel) {
    for id in ["acme", "globex"] {
        create(
            ch,
            Tenant {
                id: id.into(),
                ..Tenant::default()
            },
        )
        .await;
    }
}

fn metric(p: &Plane, name: &str) -> u64 {
    let m = p.metrics();
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {m}"))
}

#[test]
fn reported_alerts_are_upserted_and_listed_newest_first_with_filters() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        two_tenants(&ch).await;
        let t0 = now_ms() - 60_000;
        let mut e1 = Reporter::connect(&ch, None).await;
        let mut e2 = Reporter::connect(&ch, Some("e2")).await;
        let mut a2 = record("acme", "a2", "e1", "acknowledged", t0 + 10);
        a2.acked_by = "bob".into();
        a2.updated_ms = t0 + 40;
        let ack = e1
            .report(vec![record("acme", "a1", "e1", "open", t0), a2.clone()])
            .await;
        assert!(ack.commands.is_empty());
        e2.report(vec![record("globex", "g1", "e2", "open", t0 + 20)])
            .await;
        assert!(e2.heartbeat().await.is_empty());

        assert_eq!(ids(&list(&ch, "", 0, false).await), ["g1", "a2", "a1"]);
        assert_eq!(ids(&list(&ch, "acme", 0, false).await), ["a2", "a1"]);
        assert_eq!(ids(&list(&ch, "acme", 0, true).await), ["a1"]);
        assert_eq!(ids(&list(&ch, "", 0, true).await), ["g1", "a1"]);
        // since_ms: changed at or after (a2 was acknowledged at t0 + 40).
        assert_eq!(ids(&list(&ch, "", t0 + 21, false).await), ["a2"]);
        assert_eq!(
            ids(&list(&ch, "", t0 + 41, false).await),
            Vec::<&str>::new()
        );
        assert_eq!(
            list(&ch, "acme", 0, false).await[0],
            a2,
            "stored as reported"
        );

        // A new state replaces the old; a late older one does not.
        let mut a1 = record("acme", "a1", "e1", "open", t0);
        a1.step = 2;
        a1.repeats = 3;
        a1.updated_ms = t0 + 50;
        e1.report(vec![a1.clone()]).await;
        e1.report(vec![record("acme", "a1", "e1", "open", t0)])
            .await;
        let got = list(&ch, "acme", 0, true).await;
        assert_eq!((got[0].step, got[0].repeats), (2, 3));
        // A deleted tenant's and invalid records (a bad state; an edge outside the edge name
        // rule) are acknowledged and not stored.
        let mut bad = record("acme", "a.3", "e1", "open", t0);
        bad.state = "snoozed".into();
        let misnamed = record("acme", "a4", "e/1", "open", t0);
        e1.report(vec![
            record("initech", "i1", "e1", "open", t0),
            bad,
            misnamed,
        ])
        .await;
        assert_eq!(list(&ch, "", 0, false).await.len(), 3);
        let e = alerts(&ch)
            .list(with_token(
                ListAlertsRequest {
                    tenant_id: "initech".into(),
                    ..ListAlertsRequest::default()
                },
                ADMIN,
            ))
            .await
            .expect_err("unknown tenant");
        assert_eq!(e.code(), Code::NotFound);
        let m = p.metrics();
        for want in [
            "siq_plane_alert_records_total 4",
            "siq_plane_alert_records_dropped_total{reason=\"stale\"} 1",
            "siq_plane_alert_records_dropped_total{reason=\"unknown_tenant\"} 1",
            "siq_plane_alert_records_dropped_total{reason=\"invalid\"} 2",
            "siq_plane_alert_streams 2",
        ] {
            assert!(m.contains(want), "{want} in {m}");
        }

        // Deleting a tenant takes its alerts with it.
        admin(&ch)
            .delete_tenant(with_token(
                TenantId {
                    id: "globex".into(),
                },
                ADMIN,
            ))
            .await
            .expect("delete");
        assert_eq!(ids(&list(&ch, "", 0, false).await), ["a2", "a1"]);
    });
}

#[test]
fn alerts_answer_edges_and_admins_only_with_their_own_tokens() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        two_tenants(&ch).await;
        for token in [ADMIN, "wrong-token-wrong-token"] {
            let e = Reporter::open(&ch, token, None)
                .await
                .expect_err("not the edge token");
            assert_eq!(e.code(), Code::Unauthenticated, "{token}");
        }
        // The edge token, naming an edge outside the edge name rule: refused before anything
        // is read (the longest name the rule allows is taken).
        for edge in ["e/1", "e1@1733000000000", ".e1", &"e".repeat(65)] {
            let e = Reporter::open(&ch, EDGE, Some(edge))
                .await
                .expect_err("a name outside the rule");
            assert_eq!(e.code(), Code::InvalidArgument, "{edge}");
            assert_eq!(
                e.message(),
                format!(
                    "siq-edge-id: {} (the edge's [edge] id)",
                    grpc::EDGE_NAME_RULE
                )
            );
        }
        let mut longest = Reporter::connect(&ch, Some(&"e".repeat(64))).await;
        assert!(longest.heartbeat().await.is_empty());
        let mut e1 = Reporter::connect(&ch, None).await;
        e1.report(vec![record("acme", "a1", "e1", "open", now_ms())])
            .await;
        for token in [EDGE, "wrong-token-wrong-token"] {
            let e = alerts(&ch)
                .list(with_token(ListAlertsRequest::default(), token))
                .await
                .expect_err("not the admin token");
            assert_eq!(e.code(), Code::Unauthenticated, "{token}");
            let e = alerts(&ch)
                .act(with_token(
                    AlertActionRequest {
                        tenant_id: "acme".into(),
                        alert_id: "a1".into(),
                        action: "acknowledge".into(),
                        by: "mallory".into(),
                    },
                    token,
                ))
                .await
                .expect_err("not the admin token");
            assert_eq!(e.code(), Code::Unauthenticated, "{token}");
        }
        assert!(e1.heartbeat().await.is_empty(), "nothing was queued");
        assert_eq!(metric(&p, "siq_plane_alert_commands_pending"), 0);
    });
}

#[test]
fn an_action_goes_to_the_holding_edge_until_a_record_shows_it_applied_across_a_kill_9() {
    let mut p = Plane::start();
    let r = rt();
    let t0 = now_ms() - 10_000;
    r.block_on(async {
        let ch = p.channel().await;
        two_tenants(&ch).await;
        let mut e1 = Reporter::connect(&ch, Some("e1")).await;
        let mut e2 = Reporter::connect(&ch, None).await;
        e1.report(vec![record("acme", "a1", "e1", "open", t0)])
            .await;
        e2.report(vec![record("acme", "a2", "e2", "open", t0 + 1)])
            .await;

        // Refusals first: none queues anything.
        refused(
            act(&ch, "acme", "nope", "acknowledge", "ana").await,
            Code::NotFound,
            "alert nope",
        );
        refused(
            act(&ch, "globex", "a1", "acknowledge", "ana").await,
            Code::NotFound,
            "alert a1",
        );
        refused(
            act(&ch, "acme", "a1", "close", "ana").await,
            Code::InvalidArgument,
            "action",
        );
        refused(
            act(&ch, "acme", "a1", "false-alarm", "ana").await,
            Code::InvalidArgument,
            "action",
        );
        let cap = sentientiq_control::store::alerts::MAX_BY_LEN;
        for n in [0, cap + 1] {
            refused(
                act(&ch, "acme", "a1", "acknowledge", &"b".repeat(n)).await,
                Code::InvalidArgument,
                "by",
            );
        }
        assert!(e1.heartbeat().await.is_empty());
        assert!(e2.heartbeat().await.is_empty());

        act(&ch, "acme", "a1", "acknowledge", "ana")
            .await
            .expect("ack");
        // Only the edge holding a1 gets it, in every ack until a record shows it applied.
        assert_eq!(e1.heartbeat().await, ["a1:acknowledge:ana"]);
        assert!(e2.heartbeat().await.is_empty());
        assert_eq!(e1.heartbeat().await, ["a1:acknowledge:ana"], "sent again");
        let by_cap = "b".repeat(cap);
        act(&ch, "acme", "a2", "false_alarm", &by_cap)
            .await
            .expect("by at its cap");
        act(&ch, "acme", "a2", "acknowledge", &"c".repeat(cap - 1))
            .await
            .expect("by below its cap");
        assert_eq!(e2.heartbeat().await.len(), 2);
        assert_eq!(metric(&p, "siq_plane_alert_commands_pending"), 3);
        assert_eq!(metric(&p, "siq_plane_alert_commands_queued_total"), 3);
    });
    // The plane crashes: the commands were stored before Act answered.
    p.kill9();
    p.spawn();
    r.block_on(async {
        let ch = p.channel().await;
        let mut e1 = Reporter::connect(&ch, Some("e1")).await;
        assert_eq!(e1.heartbeat().await, ["a1:acknowledge:ana"]);
        // Without the header, a stream speaks for the edge of the records it reports.
        let mut e2 = Reporter::connect(&ch, None).await;
        assert!(e2.heartbeat().await.is_empty(), "not known yet");
        let ack = e2
            .report(vec![record("acme", "a2", "e2", "open", t0 + 1)])
            .await;
        assert_eq!(ack.commands.len(), 2);
        assert!(
            ack.commands
                .iter()
                .all(|c| c.tenant_id == "acme" && c.alert_id == "a2")
        );

        // e1 applies the acknowledgement: the same ack no longer carries it.
        let mut applied = record("acme", "a1", "e1", "acknowledged", t0);
        applied.acked_by = "ana".into();
        applied.updated_ms = t0 + 5_000;
        let ack = e1.report(vec![applied]).await;
        assert!(commands(&ack).is_empty(), "{ack:?}");
        assert!(e1.heartbeat().await.is_empty());
        // Asked again once applied: nothing to do, nothing queued.
        act(&ch, "acme", "a1", "acknowledge", "bob")
            .await
            .expect("idempotent");
        assert!(e1.heartbeat().await.is_empty());
        // A false alarm may still be asked of an acknowledged alert.
        act(&ch, "acme", "a1", "false_alarm", "bob")
            .await
            .expect("label");
        assert_eq!(e1.heartbeat().await, ["a1:false_alarm:bob"]);

        // e2 labels a2 a false alarm: both of its commands took effect (nothing to acknowledge).
        let mut labelled = record("acme", "a2", "e2", "false_alarm", t0 + 1);
        labelled.updated_ms = t0 + 6_000;
        assert!(e2.report(vec![labelled]).await.commands.is_empty());
        assert_eq!(metric(&p, "siq_plane_alert_commands_pending"), 1);
        let l = list(&ch, "acme", 0, false).await;
        assert_eq!(
            l.iter()
                .map(|a| (a.alert_id.as_str(), a.state.as_str(), a.acked_by.as_str()))
                .collect::<Vec<_>>(),
            [("a2", "false_alarm", ""), ("a1", "acknowledged", "ana")]
        );
        // Since the restart: 1 + 2 + 1 commands in acks.
        assert_eq!(metric(&p, "siq_plane_alert_commands_sent_total"), 4);
    });
}

#[test]
fn a_list_answers_at_most_1000_alerts_the_newest() {
    let cap = sentientiq_control::store::alerts::MAX_LIST_ALERTS;
    assert_eq!(cap, 1000, "the number the docs and siqctl promise");
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        two_tenants(&ch).await;
        let mut e1 = Reporter::connect(&ch, None).await;
        let t0 = now_ms() - 3_600_000;
        let mut n = 0;
        for want in [cap - 1, cap, cap + 1] {
            let batch: Vec<AlertRecord> = (n..want)
                .map(|i| record("acme", &format!("a{i:05}"), "e1", "open", t0 + i as i64))
                .collect();
            e1.report(batch).await;
            n = want;
            for tenant in ["acme", ""] {
                let got = list(&ch, tenant, 0, false).await;
                assert_eq!(got.len(), want.min(cap), "{want} stored");
                assert_eq!(got[0].alert_id, format!("a{:05}", want - 1), "newest first");
                assert_eq!(
                    got.last().map(|a| a.alert_id.clone()),
                    Some(format!("a{:05}", want - want.min(cap))),
                    "the oldest beyond the cap is left out"
                );
            }
        }
    });
}

#[test]
fn the_alerts_service_answers_health_checks_and_is_listed_by_reflection() {
    let p = Plane::start();
    rt().block_on(async {
        let ch = p.channel().await;
        let r = tonic_health::pb::health_client::HealthClient::new(ch.clone())
            .check(tonic_health::pb::HealthCheckRequest {
                service: "sentientiq.v1.Alerts".into(),
            })
            .await
            .expect("health answers")
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "sentientiq.v1.Alerts".into(),
            )),
        };
        let first = ServerReflectionClient::new(ch.clone())
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection answers")
            .into_inner()
            .message()
            .await
            .expect("a response")
            .expect("one");
        let Some(MessageResponse::FileDescriptorResponse(f)) = first.message_response else {
            panic!("no descriptor: {first:?}");
        };
        assert!(!f.file_descriptor_proto.is_empty());
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let first = ServerReflectionClient::new(ch)
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection answers")
            .into_inner()
            .message()
            .await
            .expect("a response")
            .expect("one");
        let Some(MessageResponse::ListServicesResponse(l)) = first.message_response else {
            panic!("not a service list: {first:?}");
        };
        assert!(
            l.service.iter().any(|s| s.name == "sentientiq.v1.Alerts"),
            "{l:?}"
        );
    });
}
