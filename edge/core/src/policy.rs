//! Policy: detection + identity/value + tenant rules → actions, with cooldowns per session and
//! per account, ordered by dollar value.

use std::collections::HashMap;
use std::sync::Arc;

use sentientiq_proto::Value;

use crate::Emotion;
use crate::config::{RuleAction, TenantPolicy};
use crate::detect::Detection;

/// What an action does.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Intervene {
        kind: Arc<str>,
        variant: Arc<str>,
        payload: Arc<Value>,
    },
    Escalate {
        contacts: Arc<[Arc<str>]>,
    },
}

/// An action decided by the policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub rule: Arc<str>,
    pub emotion: Emotion,
    pub confidence: f64,
    pub kind: ActionKind,
    /// The detection's number in the session.
    pub detection: u32,
    /// Per-session action number, 1, 2, …
    pub n: u32,
    /// Priority: the user's/account's lifetime value in cents (higher first).
    pub priority_cents: i64,
    pub account: Option<Arc<str>>,
    pub uid: Option<Arc<str>>,
    pub section: Option<Arc<str>>,
    /// Server time the action was decided.
    pub at_ms: u64,
}

/// Per-account cooldowns, shared by the sessions of one shard (one map per tenant). Entries
/// older than the longest cooldown are pruned as the map grows, so its size stays bounded by
/// the accounts active within that cooldown.
#[derive(Debug, Default)]
pub struct AccountCooldowns {
    last: HashMap<(Arc<str>, Arc<str>), u64>,
    max_cooldown_ms: u64,
    prune_at: usize,
}

impl AccountCooldowns {
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    fn allowed(&self, account: &Arc<str>, rule: &Arc<str>, now: u64, cooldown: u64) -> bool {
        match self.last.get(&(account.clone(), rule.clone())) {
            Some(t) => now.saturating_sub(*t) >= cooldown,
            None => true,
        }
    }

    fn record(&mut self, account: Arc<str>, rule: Arc<str>, now: u64, cooldown: u64) {
        self.max_cooldown_ms = self.max_cooldown_ms.max(cooldown);
        self.last.insert((account, rule), now);
        if self.last.len() >= self.prune_at.max(1024) {
            let keep = self.max_cooldown_ms;
            self.last.retain(|_, t| now.saturating_sub(*t) < keep);
            self.prune_at = self.last.len() * 2;
        }
    }
}

/// Per-session cooldowns: last action time per rule index.
#[derive(Debug, Clone, Default)]
pub struct SessionCooldowns {
    last: Vec<(Arc<str>, u64)>,
}

impl SessionCooldowns {
    fn allowed(&self, rule: &Arc<str>, now: u64, cooldown: u64) -> bool {
        self.last
            .iter()
            .find(|(r, _)| r == rule)
            .is_none_or(|(_, t)| now.saturating_sub(*t) >= cooldown)
    }

    fn record(&mut self, rule: &Arc<str>, now: u64) {
        match self.last.iter_mut().find(|(r, _)| r == rule) {
            Some(e) => e.1 = now,
            None => self.last.push((rule.clone(), now)),
        }
    }
}

/// Applies the tenant's rules to a detection. An escalation rule acts only on an
/// escalation-eligible detection (the tenant's escalation confidence and a page report backing
/// it: [`crate::detect::escalation_eligible`]) of an identified user, whatever the rule's own
/// `require_identified` says: a person is never paged about an anonymous session. Actions are
/// appended ordered by priority (escalations of the most valuable accounts first) and each is
/// counted against its cooldowns.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    now_ms: u64,
    det: &Detection,
    identified: bool,
    tenant: &TenantPolicy,
    session: &mut SessionCooldowns,
    accounts: &mut AccountCooldowns,
    next_n: &mut u32,
    out: &mut Vec<Action>,
) {
    let start = out.len();
    for rule in &tenant.rules {
        if !rule.emotions.is_empty() && !rule.emotions.contains(&det.emotion) {
            continue;
        }
        let escalates = matches!(rule.action, RuleAction::Escalate { .. });
        if escalates && !(det.escalation_eligible && identified) {
            continue;
        }
        if det.confidence < rule.min_confidence
            || (rule.require_identified && !identified)
            || det.value_cents < rule.min_value_cents
        {
            continue;
        }
        if !rule.sections.is_empty()
            && !det
                .section
                .as_ref()
                .is_some_and(|s| rule.sections.iter().any(|r| r == s))
        {
            continue;
        }
        if !session.allowed(&rule.id, now_ms, rule.session_cooldown_ms) {
            continue;
        }
        if let Some(acct) = &det.account
            && !accounts.allowed(acct, &rule.id, now_ms, rule.account_cooldown_ms)
        {
            continue;
        }
        session.record(&rule.id, now_ms);
        if let Some(acct) = &det.account {
            accounts.record(
                acct.clone(),
                rule.id.clone(),
                now_ms,
                rule.account_cooldown_ms,
            );
        }
        *next_n += 1;
        out.push(Action {
            rule: rule.id.clone(),
            emotion: det.emotion,
            confidence: det.confidence,
            kind: match &rule.action {
                RuleAction::Intervene {
                    kind,
                    variant,
                    payload,
                } => ActionKind::Intervene {
                    kind: kind.clone(),
                    variant: variant.clone(),
                    payload: payload.clone(),
                },
                RuleAction::Escalate { contacts } => ActionKind::Escalate {
                    contacts: contacts.clone(),
                },
            },
            detection: det.n,
            n: *next_n,
            priority_cents: det.value_cents,
            account: det.account.clone(),
            uid: det.uid.clone(),
            section: det.section.clone(),
            at_ms: now_ms,
        });
    }
    // Escalations first (a person is waiting for them), then by value.
    out[start..].sort_by_key(|a| {
        (
            !matches!(a.kind, ActionKind::Escalate { .. }),
            std::cmp::Reverse(a.priority_cents),
        )
    });
}
