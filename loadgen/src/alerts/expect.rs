//! Which alerts the edge must send for a run, and which frame completes each one's evidence.
//! Pure: no clock, no I/O (the config file is read by [`load_tenant`] only).
//!
//! **The tenant** is the one the edge's config file gives for the loadgen's key, validated by
//! `sentientiq_tenant` exactly as the edge validates it: the same rules (emotions, minimum
//! value, cooldowns), thresholds, account directory and `[tenant.alerts]` chains.
//!
//! **Escalations.** Each identified session's frames go through `sentientiq_core::Session`
//! as an edge shard drives them (the account is attached after its `id` frame, looked up by
//! uid, else by the email's company domain, as the edge's directory does), with server time
//! standing in as the frame's intended send time. An escalation action of a rule that pages a
//! chain is one the edge hands to its alert book, and the frame that produced it is the frame
//! that completed the evidence (for the rage persona: the frame carrying the dead-click report
//! that corroborated the chain, or the click that reached the threshold after it). Anonymous
//! sessions are not run: the core never escalates one (its rule), and any page about one is
//! counted unexpected by [`crate::alerts::score`].
//!
//! **Grouping**, as `sentientiq_alerts::book`: an escalation for an account with an open alert
//! folds into it and pages nobody; otherwise an alert opens. An alert stays open until its chain
//! is exhausted (the sum of its steps' waits; nobody acknowledges in a load run) *and* its group
//! window has passed since its account's last detection. Two things this model does not know:
//! which shard holds a session (the core's per-account cooldown is per shard) and the alert
//! thread's 500 ms tick. Neither matters while no alert closes during the run, which is the case
//! whenever the chain's waits or its group window outlast the run (the bench case: 60 s and
//! 30 min). When an account's alert would close and a later escalation opens another,
//! [`Plan::exact`] is false and the report says so.
//!
//! **Truth.** Beside the core's decisions, the generator's own: a session must page when it is
//! identified, its account is worth at least a paging rule's `min_value_cents`, and its persona
//! completed an episode of one of the rule's emotions (every such episode carries the page's
//! report: the rage persona's clicks are each reported dead). Accounts the truth names and the
//! core does not page, and the reverse, are counted apart: they are detection figures, not
//! delivery faults.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sentientiq_core::identity::{AccountInfo, company_domain};
use sentientiq_core::{
    AccountCooldowns, ActionKind, Aggregates, Ctx, Emotion, Output, RuleAction, Session,
};
use sentientiq_proto::{ClientFrame, Seq, client_to_vec, decode_client_into};
use sentientiq_tenant::{Tenant, TenantSpec, key_hash};

use super::Error;
use crate::run::{Watch, identity_of, sid_of};
use crate::synth::{Mix, SessionGen};

/// The tenant `text` (an edge config file) gives for `key`: the first `[[tenant]]` whose
/// `key_sha256` holds the key's digest, validated as the edge validates it.
pub fn tenant_for_key(text: &str, key: &str, path: &str) -> Result<Tenant, Error> {
    #[derive(serde::Deserialize)]
    struct EdgeFile {
        #[serde(default)]
        tenant: Vec<TenantSpec>,
    }
    let bad = |why: String| Error::Config {
        path: path.to_string(),
        why,
    };
    let file: EdgeFile =
        toml::from_str(text).map_err(|e| bad(sentientiq_secret::shown_toml_error(text, &e)))?;
    let digest = key_hash(key);
    for spec in &file.tenant {
        let t = spec.validate().map_err(|e| bad(e.to_string()))?;
        if t.key_hashes.contains(&digest) {
            return Ok(t);
        }
    }
    Err(Error::NoTenant {
        path: path.to_string(),
    })
}

/// [`tenant_for_key`] of a file.
pub fn load_tenant(path: &Path, key: &str) -> Result<Tenant, Error> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
        path: p.clone(),
        why: e.to_string(),
    })?;
    tenant_for_key(&text, key, &p)
}

/// The tenant's account directory as the edge holds it: keyed by the lowercased `match` (a uid
/// or `@domain`).
#[derive(Debug, Clone, Default)]
pub struct Directory {
    by_match: HashMap<String, AccountInfo>,
    domains: Vec<String>,
}

impl Directory {
    pub fn of(t: &Tenant) -> Directory {
        let mut d = Directory::default();
        for a in &t.accounts {
            let m = a.matches.to_ascii_lowercase();
            if let Some(domain) = m.strip_prefix('@') {
                d.domains.push(domain.to_string());
            }
            d.by_match.insert(
                m.clone(),
                AccountInfo {
                    key: Arc::from(m.trim_start_matches('@')),
                    company: a.company.as_deref().map(Arc::from),
                    value_cents: a.value_cents,
                    tier: a.tier.as_deref().map(Arc::from),
                },
            );
        }
        d
    }

    /// The account of a user: by uid, else by the email's company domain (never free mail).
    pub fn account_for(&self, uid: &str, email: Option<&str>) -> Option<AccountInfo> {
        if let Some(a) = self.by_match.get(&uid.to_ascii_lowercase()) {
            return Some(a.clone());
        }
        let domain = email.and_then(company_domain)?;
        self.by_match
            .get(&format!("@{}", domain.to_ascii_lowercase()))
            .cloned()
    }

    /// The email domains of the directory's `@domain` accounts, in the file's order.
    pub fn domains(&self) -> &[String] {
        &self.domains
    }
}

/// How long an alert of a chain stays open: its steps' waits (then it is exhausted), and its
/// group window after the account's last detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub steps_ms: u64,
    pub group_window_ms: u64,
}

/// What the run is: the same values the driver is given.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub seed: u64,
    pub sessions: usize,
    pub duration: Duration,
    pub ramp: Duration,
    pub mix: &'a Mix,
    pub identified: f64,
    pub domains: &'a [String],
}

/// An escalation the edge hands to its alert book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    /// The frame that completed the evidence.
    pub seq: u64,
    /// Its intended send time, µs after the run began.
    pub at_us: u64,
    pub rule: Arc<str>,
}

/// One session as the edge will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub sid: String,
    pub uid: Option<String>,
    /// The account as alerts name it (company, else the directory's key, else the uid).
    pub account: Option<String>,
    pub value_cents: i64,
    pub escalations: Vec<Escalation>,
    /// The generator's truth: this session must page someone.
    pub must_page: bool,
}

/// An alert the edge must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedAlert {
    pub account: String,
    /// The session and frame whose escalation opens it (of several close together, the edge
    /// may take another of the account's: the score matches alerts by account).
    pub session: usize,
    pub seq: u64,
    pub at_us: u64,
    /// Later escalations that fold into it.
    pub folded: u32,
}

/// The run's expected alerts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub sessions: Vec<Planned>,
    pub alerts: Vec<ExpectedAlert>,
    /// Escalations that fold into an open alert (nobody paged).
    pub folded: u64,
    /// Escalations of rules with no `[tenant.alerts]` chain: recorded by the edge, never paged.
    pub undeliverable: u64,
    /// False when an expectation relied on an alert closing during the run (see the module).
    pub exact: bool,
    /// Accounts the generator's truth says must be paged.
    pub truth_accounts: BTreeSet<String>,
    /// The smallest `min_value_cents` of the rules that page a chain (`None`: no such rule).
    pub min_value_cents: Option<i64>,
}

/// Server time standing in for the run's start: only differences matter (cooldowns).
const T0_MS: u64 = 1_790_000_000_000;

impl Plan {
    /// Plans `run` against `tenant`.
    pub fn new(run: &Run<'_>, tenant: &Tenant) -> Plan {
        let dir = Directory::of(tenant);
        let windows: HashMap<Arc<str>, Window> = tenant
            .escalations
            .iter()
            .map(|(rule, p)| {
                let w = Window {
                    steps_ms: p.steps.iter().map(|s| s.wait_ms).sum(),
                    group_window_ms: p.group_window_ms,
                };
                (rule.clone(), w)
            })
            .collect();
        // The rules that page: (emotions, minimum value).
        let paging: Vec<(&[Emotion], i64)> = tenant
            .policy
            .rules
            .iter()
            .filter(|r| {
                matches!(r.action, RuleAction::Escalate { .. }) && windows.contains_key(&r.id)
            })
            .map(|r| (r.emotions.as_slice(), r.min_value_cents))
            .collect();
        let mut plan = Plan {
            exact: true,
            min_value_cents: paging.iter().map(|(_, v)| *v).min(),
            ..Plan::default()
        };
        let n = run.sessions;
        let duration_us = run.duration.as_micros() as i64;
        let mut slot = ClientFrame::Bye { seq: Seq(1) };
        let mut out = Vec::new();
        for i in 0..n {
            let sid = sid_of(run.seed, i);
            let Some((uid, email)) = identity_of(run.seed, i, run.identified, run.domains) else {
                plan.sessions.push(Planned {
                    sid,
                    uid: None,
                    account: None,
                    value_cents: 0,
                    escalations: Vec::new(),
                    must_page: false,
                });
                continue;
            };
            let start_us = run.ramp.mul_f64(i as f64 / n.max(1) as f64).as_micros() as u64;
            let account = dir.account_for(&uid, Some(&email));
            let value_cents = account.as_ref().map_or(0, |a| a.value_cents);
            let name = account
                .as_ref()
                .map_or(uid.as_str(), |a| a.company.as_deref().unwrap_or(&a.key))
                .to_string();
            let persona = run.mix.persona_of(i);
            let mut script = SessionGen::new(
                run.seed,
                i as u64,
                persona,
                duration_us,
                250,
                Some((uid.clone(), email)),
            );
            // Batched as the run's sessions batch: as the tenant's welcome says.
            script.follow(tenant.flush_ms, tenant.max_batch);
            let mut core = Session::anonymous();
            let mut cooldowns = AccountCooldowns::default();
            let mut aggregates = Aggregates::default();
            let mut escalations = Vec::new();
            while let Some(p) = script.next_frame() {
                let wire = client_to_vec(&p.frame);
                if decode_client_into(&wire, &tenant.limits, &mut slot).is_err() {
                    continue;
                }
                let at_us = start_us + p.send_at_us.max(0) as u64;
                out.clear();
                let mut ctx = Ctx {
                    now_ms: T0_MS + at_us / 1000,
                    tenant: &tenant.policy,
                    accounts: &mut cooldowns,
                    aggregates: &mut aggregates,
                };
                core.handle_frame(&mut ctx, &slot, &mut out);
                if matches!(slot, ClientFrame::Identify(_)) {
                    core.set_account(account.clone());
                }
                for o in &out {
                    if let Output::Action(a) = o
                        && matches!(a.kind, ActionKind::Escalate { .. })
                    {
                        if windows.contains_key(&a.rule) {
                            escalations.push(Escalation {
                                seq: p.seq,
                                at_us,
                                rule: a.rule.clone(),
                            });
                        } else {
                            plan.undeliverable += 1;
                        }
                    }
                }
            }
            let emotion = persona.emotion();
            let must_page = emotion.is_some_and(|e| {
                let em = Emotion::parse(e);
                script.episodes().iter().any(|ep| ep.emotion == e)
                    && paging.iter().any(|(emotions, min)| {
                        value_cents >= *min
                            && (emotions.is_empty() || em.is_some_and(|x| emotions.contains(&x)))
                    })
            });
            if must_page {
                plan.truth_accounts.insert(name.clone());
            }
            plan.sessions.push(Planned {
                sid,
                uid: Some(uid),
                account: Some(name),
                value_cents,
                escalations,
                must_page,
            });
        }
        plan.group(&windows);
        plan
    }

    /// Groups the sessions' escalations per account, in time order, as the alert book does.
    fn group(&mut self, windows: &HashMap<Arc<str>, Window>) {
        let mut all: Vec<(u64, usize, u64, &Arc<str>)> = Vec::new();
        for (i, s) in self.sessions.iter().enumerate() {
            for e in &s.escalations {
                all.push((e.at_us, i, e.seq, &e.rule));
            }
        }
        all.sort();
        // account → (index of its latest alert, when it closes, its window, last detection).
        let mut open: BTreeMap<&str, (usize, u64, Window, u64)> = BTreeMap::new();
        let mut alerts = Vec::new();
        let mut folded = 0;
        let mut exact = true;
        for (at_us, i, seq, rule) in all {
            let Some(account) = self.sessions[i].account.as_deref() else {
                continue;
            };
            let Some(w) = windows.get(rule).copied() else {
                continue;
            };
            if let Some((k, closes_us, w0, last_us)) = open.get_mut(account) {
                if at_us < *closes_us {
                    let a: &mut ExpectedAlert = &mut alerts[*k];
                    a.folded += 1;
                    folded += 1;
                    *last_us = (*last_us).max(at_us);
                    let opened = a.at_us;
                    *closes_us = close_us(opened, *last_us, *w0);
                    continue;
                }
                // The account's alert closed during the run: the model's edge (tick, shard
                // cooldowns) decides what happens now.
                exact = false;
            }
            open.insert(account, (alerts.len(), close_us(at_us, at_us, w), w, at_us));
            alerts.push(ExpectedAlert {
                account: account.to_string(),
                session: i,
                seq,
                at_us,
                folded: 0,
            });
        }
        self.alerts = alerts;
        self.folded = folded;
        self.exact = exact;
    }

    /// The frames whose send time is needed: every escalating frame of every session.
    pub fn watch(&self) -> Watch {
        Watch::new(
            self.sessions
                .iter()
                .map(|s| s.escalations.iter().map(|e| e.seq).collect())
                .collect(),
        )
    }

    /// The accounts of the expected alerts.
    pub fn accounts(&self) -> BTreeSet<&str> {
        self.alerts.iter().map(|a| a.account.as_str()).collect()
    }

    /// Session index of a session id or a loadgen uid (`u_lg_{i}`).
    pub fn session_of(&self, sid: Option<&str>, uid: Option<&str>) -> Option<usize> {
        if let Some(sid) = sid
            && let Some(i) = self.sessions.iter().position(|s| s.sid == sid)
        {
            return Some(i);
        }
        let i: usize = uid?.strip_prefix("u_lg_")?.parse().ok()?;
        (self.sessions.get(i)?.uid.as_deref() == uid).then_some(i)
    }
}

/// When an alert opened at `opened_us`, whose account was last detected at `last_us`, closes.
fn close_us(opened_us: u64, last_us: u64, w: Window) -> u64 {
    (opened_us + w.steps_ms * 1000).max(last_us + w.group_window_ms * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant with the demo key, a $120k account, a $99,999.99 one, and a rule paging a
    /// one-step chain for rage of accounts worth at least $100k.
    pub(crate) const EDGE_TOML: &str = r#"
[edge]
id = "edge-x"

[[tenant]]
id = "demo"
key_sha256 = ["fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d"]
accounts = [
  { match = "@Big.example", company = "Big Co", value_cents = 12000000 },
  { match = "@edge.example", value_cents = 10000000 },
  { match = "@small.example", company = "Small Co", value_cents = 9999999 },
  { match = "u_vip", company = "VIP", value_cents = 50000000 },
]

[[tenant.rules]]
id = "page"
emotions = ["rage"]
require_identified = true
min_value_cents = 10000000
account_cooldown_s = 600
escalate = { chain = "oncall" }

[tenant.alerts]
contacts = [{ id = "ops", name = "Ops", addresses = [{ kind = "webhook", url = "http://127.0.0.1:7490/hooks/siq", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }] }]

[tenant.alerts.chains.oncall]
steps = [{ contacts = ["ops"], wait_ms = 60000 }]
"#;

    pub(crate) const DEMO_KEY: &str = "siq_pk_demo_00000000000000000000";

    #[test]
    fn the_tenant_is_the_one_the_key_opens_validated_as_the_edge_does() {
        let t = tenant_for_key(EDGE_TOML, DEMO_KEY, "edge.toml").expect("tenant");
        assert_eq!(&*t.id, "demo");
        assert!(t.escalations.contains_key("page"));
        assert!(matches!(
            tenant_for_key(EDGE_TOML, "siq_pk_other_0000000000000000000", "edge.toml"),
            Err(Error::NoTenant { .. })
        ));
        // What the edge refuses, this refuses: a rule naming a chain that does not exist.
        let bad = EDGE_TOML.replace("chain = \"oncall\"", "chain = \"nope\"");
        let e = tenant_for_key(&bad, DEMO_KEY, "edge.toml").expect_err("unknown chain");
        assert!(e.to_string().contains("nope"), "{e}");
        assert!(tenant_for_key("[[tenant]", DEMO_KEY, "edge.toml").is_err());
    }

    #[test]
    fn accounts_are_found_by_uid_then_company_domain_as_the_edge_does() {
        let t = tenant_for_key(EDGE_TOML, DEMO_KEY, "edge.toml").expect("tenant");
        let d = Directory::of(&t);
        assert_eq!(
            d.domains(),
            ["big.example", "edge.example", "small.example"]
        );
        let a = d
            .account_for("u1", Some("x@BIG.example"))
            .expect("by domain");
        assert_eq!((&*a.key, a.value_cents), ("big.example", 12_000_000));
        assert_eq!(a.company.as_deref(), Some("Big Co"));
        let vip = d
            .account_for("U_VIP", Some("x@big.example"))
            .expect("uid first");
        assert_eq!(vip.value_cents, 50_000_000);
        assert_eq!(d.account_for("u1", Some("x@gmail.com")), None);
        assert_eq!(d.account_for("u1", None), None);
    }

    fn mix(rage: f64) -> Mix {
        Mix::parse(&format!("calm={},rage={rage}", 1.0 - rage)).expect("mix")
    }

    fn plan_of(sessions: usize, identified: f64, domains: &[&str], rage: f64) -> Plan {
        let t = tenant_for_key(EDGE_TOML, DEMO_KEY, "edge.toml").expect("tenant");
        let mix = mix(rage);
        let domains: Vec<String> = domains.iter().map(|d| d.to_string()).collect();
        Plan::new(
            &Run {
                seed: 5,
                sessions,
                duration: Duration::from_secs(30),
                ramp: Duration::from_secs(2),
                mix: &mix,
                identified,
                domains: &domains,
            },
            &t,
        )
    }

    #[test]
    fn identified_rage_of_valuable_accounts_pages_once_per_account() {
        // Every session identifies with one account worth $120k; a third rage.
        let p = plan_of(30, 1.0, &["big.example"], 1.0 / 3.0);
        let m = mix(1.0 / 3.0);
        let rage: Vec<usize> = (0..30)
            .filter(|i| m.persona_of(*i) == crate::synth::Persona::Rage)
            .collect();
        assert!(rage.len() >= 8, "{rage:?}");
        let escalating: Vec<usize> = (0..30)
            .filter(|i| !p.sessions[*i].escalations.is_empty())
            .collect();
        // The core escalates every raging session (each rage of the persona is reported dead),
        // and nothing else.
        assert_eq!(escalating, rage);
        for i in &rage {
            assert!(p.sessions[*i].must_page);
            // Every escalating frame comes after the session's `id` frame (seq 1).
            assert!(p.sessions[*i].escalations.iter().all(|e| e.seq > 1));
        }
        // One account: one alert, opened by the earliest escalation; the rest fold.
        assert_eq!(p.alerts.len(), 1, "{:?}", p.alerts);
        let first = p
            .sessions
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.escalations.iter().map(move |e| (e.at_us, i)))
            .min()
            .expect("escalations");
        assert_eq!((p.alerts[0].at_us, p.alerts[0].session), first);
        let total: usize = p.sessions.iter().map(|s| s.escalations.len()).sum();
        assert_eq!(p.folded as usize, total - 1);
        assert_eq!(p.alerts[0].folded as usize, total - 1);
        assert_eq!(p.accounts(), BTreeSet::from(["Big Co"]));
        assert_eq!(p.truth_accounts, BTreeSet::from(["Big Co".to_string()]));
        assert!(p.exact);
        assert_eq!(p.undeliverable, 0);
        assert_eq!(p.min_value_cents, Some(10_000_000));
        // The watch list names exactly the escalating frames.
        let w = p.watch();
        for (i, s) in p.sessions.iter().enumerate() {
            let seqs: Vec<u64> = s.escalations.iter().map(|e| e.seq).collect();
            assert_eq!(w.of(i), seqs.as_slice());
        }
        assert_eq!(w.of(30), &[] as &[u64]);
    }

    #[test]
    fn the_minimum_value_is_inclusive_and_anonymous_or_cheaper_accounts_never_page() {
        // $100,000.00 exactly pages (no company: named by its key); $99,999.99 does not.
        let p = plan_of(30, 1.0, &["edge.example"], 1.0 / 3.0);
        assert_eq!(p.accounts(), BTreeSet::from(["edge.example"]));
        let p = plan_of(30, 1.0, &["small.example"], 1.0 / 3.0);
        assert!(p.alerts.is_empty(), "{:?}", p.alerts);
        assert!(p.sessions.iter().all(|s| s.escalations.is_empty()));
        assert!(p.truth_accounts.is_empty());
        // Nobody identifies: nothing expected, nothing run through the core.
        let p = plan_of(30, 0.0, &["big.example"], 1.0 / 3.0);
        assert!(p.alerts.is_empty());
        assert!(p.sessions.iter().all(|s| s.uid.is_none() && !s.must_page));
        // Users of unknown companies are their own account, worth nothing: no page.
        let p = plan_of(30, 1.0, &["unknown.example"], 1.0 / 3.0);
        assert!(p.alerts.is_empty());
    }

    fn esc(at_s: u64, seq: u64) -> Escalation {
        Escalation {
            seq,
            at_us: at_s * 1_000_000,
            rule: Arc::from("page"),
        }
    }

    fn planned(account: &str, escalations: Vec<Escalation>) -> Planned {
        Planned {
            sid: String::new(),
            uid: Some("u".into()),
            account: Some(account.into()),
            value_cents: 1,
            escalations,
            must_page: true,
        }
    }

    #[test]
    fn grouping_folds_repeats_until_the_alert_closes() {
        // Waits 60 s, group window 100 s after the last detection.
        let w = HashMap::from([(
            Arc::from("page"),
            Window {
                steps_ms: 60_000,
                group_window_ms: 100_000,
            },
        )]);
        let mut p = Plan {
            sessions: vec![
                planned("A", vec![esc(10, 3), esc(150, 9)]),
                planned("A", vec![esc(109, 4)]),
                planned("B", vec![esc(20, 5)]),
                planned("A", vec![esc(209, 6)]),
            ],
            ..Plan::default()
        };
        p.group(&w);
        let got: Vec<(&str, usize, u64, u32)> = p
            .alerts
            .iter()
            .map(|a| (a.account.as_str(), a.session, a.seq, a.folded))
            .collect();
        // A at 10 s opens; 109 s, 150 s and 209 s fold (the window runs from the last
        // detection: 109 + 100 s would have closed it at 209 s, but 150 s moved that to 250 s).
        assert_eq!(got, vec![("A", 0, 3, 3), ("B", 2, 5, 0)]);
        assert!(p.exact);
        // A detection at the very moment the window ends opens a new alert: the model is then
        // no longer sure (the edge closes on a 500 ms tick).
        p.sessions[3].escalations = vec![esc(250, 6)];
        p.group(&w);
        let got: Vec<(&str, u64)> = p
            .alerts
            .iter()
            .map(|a| (a.account.as_str(), a.seq))
            .collect();
        assert_eq!(got, vec![("A", 3), ("B", 5), ("A", 6)]);
        assert_eq!(p.folded, 2);
        assert!(!p.exact);
        // The chain's waits keep an alert open too: 10 s + 300 s of steps.
        let long = HashMap::from([(
            Arc::from("page"),
            Window {
                steps_ms: 300_000,
                group_window_ms: 1,
            },
        )]);
        p.group(&long);
        assert_eq!(p.alerts.len(), 2);
        assert!(p.exact);
    }

    #[test]
    fn sessions_are_found_by_id_or_by_the_loadgens_uid() {
        let p = plan_of(4, 1.0, &["big.example"], 0.5);
        assert_eq!(p.session_of(Some(&sid_of(5, 2)), None), Some(2));
        assert_eq!(p.session_of(None, Some("u_lg_3")), Some(3));
        assert_eq!(p.session_of(Some("s_other"), Some("u_lg_1")), Some(1));
        assert_eq!(p.session_of(None, Some("u_lg_4")), None);
        assert_eq!(p.session_of(None, Some("u_lg_x")), None);
        assert_eq!(p.session_of(None, None), None);
    }
}
