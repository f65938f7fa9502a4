//! The alerts one process holds, across tenants. Pure, like [`crate::chain`].
//!
//! A detection for an account that has an open alert is folded into it
//! ([`Chain::on_repeat`]): it pages nobody. Otherwise a new alert opens and its first step
//! fires at once. Chains are kept in id order so effects come out deterministically.

use std::collections::{BTreeMap, HashMap};

use crate::chain::{Chain, Effect, Policy, Roster};
use crate::channels::{Lookup, Outcome};
use crate::ids::{AlertId, DeliveryId};
use crate::message::Detection;

/// Where a tenant's contacts are found.
pub trait Rosters {
    fn roster(&self, tenant: &str) -> Option<&Roster>;
}

/// One roster for every tenant (single-tenant callers and tests).
impl Rosters for Roster {
    fn roster(&self, _: &str) -> Option<&Roster> {
        Some(self)
    }
}

impl Rosters for HashMap<String, Roster> {
    fn roster(&self, tenant: &str) -> Option<&Roster> {
        self.get(tenant)
    }
}

/// What a detection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Opened(AlertId),
    /// Folded into this open alert.
    Updated(AlertId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no such alert")]
pub struct UnknownAlert;

static EMPTY: std::sync::LazyLock<Roster> = std::sync::LazyLock::new(Roster::default);

#[derive(Debug, Default)]
pub struct Book {
    chains: BTreeMap<AlertId, Chain>,
    /// Chains that finished during the current call, kept until [`Book::clear_finished`] so
    /// the caller can still store their final state (the `Persist` effect of the call that
    /// finished them comes before `Finished`).
    finished: BTreeMap<AlertId, Chain>,
    /// (tenant, account) → its open alert.
    open: HashMap<(String, String), AlertId>,
}

impl Book {
    pub fn new() -> Self {
        Self::default()
    }

    fn roster<'a>(rosters: &'a impl Rosters, c: &Chain) -> &'a Roster {
        rosters.roster(&c.detection.tenant).unwrap_or(&EMPTY)
    }

    /// A detection that the tenant's rule escalates. `new_id` names the alert if one opens
    /// (made by the caller, e.g. [`AlertId::from_random`]).
    pub fn detect(
        &mut self,
        now_ms: u64,
        new_id: AlertId,
        d: Detection,
        policy: &Policy,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) -> Detected {
        let key = (d.tenant.clone(), d.account.clone());
        if let Some(id) = self.open.get(&key)
            && let Some(c) = self.chains.get_mut(id)
            && c.on_repeat(now_ms, &d, out)
        {
            return Detected::Updated(id.clone());
        }
        let roster = rosters.roster(&d.tenant).unwrap_or(&EMPTY);
        let c = Chain::open(now_ms, new_id.clone(), d, policy.clone(), roster, out);
        self.open.insert(key, new_id.clone());
        self.chains.insert(new_id.clone(), c);
        self.settle(out);
        Detected::Opened(new_id)
    }

    pub fn tick(&mut self, now_ms: u64, rosters: &impl Rosters, out: &mut Vec<Effect>) {
        for c in self.chains.values_mut() {
            if c.next_wake().is_some_and(|t| t <= now_ms) {
                let r = Self::roster(rosters, c);
                c.on_tick(now_ms, r, out);
            }
        }
        self.settle(out);
    }

    pub fn on_result(
        &mut self,
        now_ms: u64,
        alert: &AlertId,
        delivery: &DeliveryId,
        outcome: Outcome,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) -> Result<(), UnknownAlert> {
        let c = self.chains.get_mut(alert).ok_or(UnknownAlert)?;
        let r = Self::roster(rosters, c);
        c.on_result(now_ms, delivery, outcome, r, out);
        self.settle(out);
        Ok(())
    }

    pub fn on_lookup(
        &mut self,
        now_ms: u64,
        alert: &AlertId,
        delivery: &DeliveryId,
        found: Lookup,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) -> Result<(), UnknownAlert> {
        let c = self.chains.get_mut(alert).ok_or(UnknownAlert)?;
        let r = Self::roster(rosters, c);
        c.on_lookup(now_ms, delivery, found, r, out);
        self.settle(out);
        Ok(())
    }

    pub fn acknowledge(
        &mut self,
        now_ms: u64,
        alert: &AlertId,
        by: &str,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) -> Result<(), UnknownAlert> {
        let c = self.chains.get_mut(alert).ok_or(UnknownAlert)?;
        let r = Self::roster(rosters, c);
        c.acknowledge(now_ms, by, r, out);
        self.settle(out);
        Ok(())
    }

    pub fn false_alarm(
        &mut self,
        now_ms: u64,
        alert: &AlertId,
        by: &str,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) -> Result<(), UnknownAlert> {
        let c = self.chains.get_mut(alert).ok_or(UnknownAlert)?;
        let r = Self::roster(rosters, c);
        c.false_alarm(now_ms, by, r, out);
        self.settle(out);
        Ok(())
    }

    /// Loads stored alerts after a restart and recovers their attempts in flight.
    pub fn restore(
        &mut self,
        now_ms: u64,
        chains: impl IntoIterator<Item = Chain>,
        rosters: &impl Rosters,
        out: &mut Vec<Effect>,
    ) {
        for mut c in chains {
            if c.is_finished() {
                continue;
            }
            let r = Self::roster(rosters, &c);
            c.recover(now_ms, r, out);
            if c.is_open() {
                self.open.insert(
                    (c.detection.tenant.clone(), c.detection.account.clone()),
                    c.id.clone(),
                );
            }
            self.chains.insert(c.id.clone(), c);
        }
        self.settle(out);
    }

    /// Drops finished chains and forgets closed alerts' accounts.
    fn settle(&mut self, out: &[Effect]) {
        if !out
            .iter()
            .any(|e| matches!(e, Effect::Closed(_) | Effect::Finished(_)))
        {
            return;
        }
        let done: Vec<AlertId> = self
            .chains
            .iter()
            .filter(|(_, c)| c.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            if let Some(c) = self.chains.remove(&id) {
                self.finished.insert(id, c);
            }
        }
        let chains = &self.chains;
        self.open
            .retain(|_, id| chains.get(id).is_some_and(Chain::is_open));
    }

    /// An alert this book holds, or one that finished since the last
    /// [`Book::clear_finished`].
    pub fn get(&self, alert: &AlertId) -> Option<&Chain> {
        self.chains.get(alert).or_else(|| self.finished.get(alert))
    }

    /// Forgets the chains that finished (call once their effects are applied).
    pub fn clear_finished(&mut self) {
        self.finished.clear();
    }

    pub fn chains(&self) -> impl Iterator<Item = &Chain> {
        self.chains.values()
    }

    pub fn next_wake(&self) -> Option<u64> {
        self.chains.values().filter_map(Chain::next_wake).min()
    }

    pub fn len(&self) -> usize {
        self.chains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Contact, Step};
    use crate::channels::Address;
    use crate::ids::ContactId;
    use crate::message::tests::detection;
    use crate::secret::SlackWebhookUrl;

    #[test]
    fn repeats_for_an_open_account_update_it_and_a_closed_one_reopens() {
        let csm = ContactId::new("csm").expect("id");
        let roster = Roster::new(vec![Contact {
            id: csm.clone(),
            name: "CSM".into(),
            addresses: vec![Address::SlackWebhook {
                url: SlackWebhookUrl::new("https://hooks.slack.com/services/x").expect("url"),
            }],
            quiet_hours: None,
            fallback: None,
            rate: None,
        }])
        .expect("roster");
        let policy = Policy {
            steps: vec![Step {
                contacts: vec![csm],
                wait_ms: 60_000,
            }],
            retry: Default::default(),
            group_window_ms: 600_000,
        };
        let mut book = Book::new();
        let mut out = vec![];
        let a1 = AlertId::new("al_1").expect("id");
        let t0 = 1_700_000_000_000;
        assert_eq!(
            book.detect(t0, a1.clone(), detection(), &policy, &roster, &mut out),
            Detected::Opened(a1.clone())
        );
        let sends = |out: &[Effect]| out.iter().filter(|e| matches!(e, Effect::Send(_))).count();
        assert_eq!(sends(&out), 1);
        out.clear();
        let a2 = AlertId::new("al_2").expect("id");
        assert_eq!(
            book.detect(
                t0 + 5_000,
                a2.clone(),
                detection(),
                &policy,
                &roster,
                &mut out
            ),
            Detected::Updated(a1.clone())
        );
        assert_eq!(sends(&out), 0, "a repeat pages nobody");
        let mut other = detection();
        other.account = "Initech".into();
        assert_eq!(
            book.detect(t0 + 6_000, a2.clone(), other, &policy, &roster, &mut out),
            Detected::Opened(a2.clone())
        );
        // Acknowledge a1, let its window pass: it closes and finishes; the account reopens.
        let d1 = book.get(&a1).expect("a1").deliveries[0].id.clone();
        book.on_result(
            t0 + 100,
            &a1,
            &d1,
            Outcome::Delivered { provider_id: None },
            &roster,
            &mut out,
        )
        .expect("known");
        book.acknowledge(t0 + 10_000, &a1, "csm", &roster, &mut out)
            .expect("known");
        out.clear();
        book.tick(t0 + 5_000 + 600_000, &roster, &mut out);
        assert!(out.contains(&Effect::Closed(a1.clone())));
        assert!(out.contains(&Effect::Finished(a1.clone())));
        // Until the caller has applied the turn's effects, the finished chain is still there
        // (its final state must be stored before `Finished` archives it).
        let at = |e: Effect| out.iter().position(|x| *x == e).expect("effect");
        assert!(
            at(Effect::Persist(a1.clone())) < at(Effect::Finished(a1.clone())),
            "{out:?}"
        );
        assert!(book.get(&a1).is_some_and(Chain::is_finished));
        book.clear_finished();
        assert!(book.get(&a1).is_none());
        let a3 = AlertId::new("al_3").expect("id");
        assert_eq!(
            book.detect(
                t0 + 700_000,
                a3.clone(),
                detection(),
                &policy,
                &roster,
                &mut out
            ),
            Detected::Opened(a3)
        );
        assert_eq!(
            book.acknowledge(t0, &a1, "x", &roster, &mut out),
            Err(UnknownAlert)
        );
    }
}
