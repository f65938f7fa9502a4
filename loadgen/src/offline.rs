//! The generator scored against the real core, with no network: each session's frames go
//! through the codec and `Session::handle_frame` exactly as an edge shard would drive them.
//! Used to check the personas and the detectors together (`--offline`), and by tests.
//!
//! Escalations are measured too: [`IDENTIFIED_SHARE`] of the sessions identify as users of a
//! $120k account (bound as the edge binds the account directory's entry), and the tenant gets
//! [`escalation_rule`]. Each rage episode of an identified session must page once; anonymous
//! sessions never.

use std::sync::Arc;

use sentientiq_core::identity::AccountInfo;
use sentientiq_core::{
    AccountCooldowns, ActionKind, Aggregates, Ctx, Emotion, Output, Rule, RuleAction, Session,
    TenantPolicy,
};
use sentientiq_proto::{ClientFrame, Limits, Seq, client_to_vec, decode_client_into};

use crate::rng::Rng;
use crate::synth::{Mix, SessionGen};
use crate::truth::Score;

/// Share of sessions that identify (drawn per session from the seed).
pub const IDENTIFIED_SHARE: f64 = 0.5;
/// The account identified sessions belong to, and its value (the issue's $100k customers).
pub const ACCOUNT: &str = "acme.example";
pub const ACCOUNT_VALUE_CENTS: i64 = 12_000_000;

/// The rule escalations are measured with: rage pages the account's CSM, every episode (no
/// cooldowns, so each is counted). It asks neither an identified user nor a value floor, so
/// nothing but the core's own rule stands between an anonymous session and a page; the score
/// counts any that get one.
pub fn escalation_rule() -> Rule {
    Rule {
        id: Arc::from("loadgen-escalate-rage"),
        emotions: vec![Emotion::Rage],
        min_confidence: 0.0,
        sections: Vec::new(),
        require_identified: false,
        min_value_cents: 0,
        action: RuleAction::Escalate {
            contacts: Arc::from(vec![Arc::from("csm-oncall")]),
        },
        session_cooldown_ms: 0,
        account_cooldown_ms: 0,
    }
}

/// Runs `sessions` sessions of `duration_s` through the core with `tenant`'s policy plus
/// [`escalation_rule`], batched at the SDK's and a tenant's defaults (250 ms, 512 samples): a
/// live run against a tenant with other `flush_ms` or `max_batch` cuts other frames.
pub fn score(
    seed: u64,
    sessions: usize,
    duration_s: f64,
    mix: &Mix,
    tenant: &TenantPolicy,
) -> Score {
    let mut tenant = tenant.clone();
    tenant.rules.push(escalation_rule());
    let mut score = Score::default();
    let mut accounts = AccountCooldowns::default();
    let mut aggregates = Aggregates::default();
    let mut out = Vec::new();
    let mut slot = ClientFrame::Bye { seq: Seq(1) };
    let t0_ms = 1_790_000_000_000u64;
    for i in 0..sessions {
        let persona = mix.persona_of(i);
        let identify = Rng::stream(seed ^ 0x0ff1, i as u64)
            .chance(IDENTIFIED_SHARE)
            .then(|| (format!("u_off_{i}"), format!("user{i}@{ACCOUNT}")));
        let identified = identify.is_some();
        let mut script = SessionGen::new(
            seed,
            i as u64,
            persona,
            (duration_s * 1e6) as i64,
            250,
            identify,
        );
        let mut s = Session::anonymous();
        let mut dets = Vec::new();
        let mut escalated = Vec::new();
        while let Some(p) = script.next_frame() {
            let wire = client_to_vec(&p.frame);
            if decode_client_into(&wire, &Limits::DEFAULT, &mut slot).is_err() {
                continue;
            }
            out.clear();
            let mut ctx = Ctx {
                now_ms: t0_ms + (p.send_at_us / 1000) as u64,
                tenant: &tenant,
                accounts: &mut accounts,
                aggregates: &mut aggregates,
            };
            s.handle_frame(&mut ctx, &slot, &mut out);
            if matches!(slot, ClientFrame::Identify(_)) {
                // What the edge's account directory answers for the user's company.
                s.set_account(Some(AccountInfo {
                    key: Arc::from(ACCOUNT),
                    company: Some(Arc::from(ACCOUNT)),
                    value_cents: ACCOUNT_VALUE_CENTS,
                    tier: None,
                }));
            }
            // An action follows its detection in `out`.
            let mut at = 0;
            for o in &out {
                match o {
                    Output::Detection(d) => {
                        at = d.at.0;
                        dets.push((d.emotion.as_str().to_string(), at));
                    }
                    Output::Action(a) => {
                        if matches!(a.kind, ActionKind::Escalate { .. }) {
                            escalated.push((a.emotion.as_str().to_string(), at));
                        }
                    }
                }
            }
        }
        score.add_session(persona, script.episodes(), &dets, duration_s);
        score.add_escalations(identified, script.episodes(), &escalated);
    }
    score
}
