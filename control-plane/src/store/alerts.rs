//! Alerts as the edges holding them report them, and what admins ask of them.
//!
//! - `alerts`: tenant \0 alert id → [`AlertRecord`], the latest state the edge holding the
//!   alert reported. Upserted by alert id within its tenant; a record never replaces one with a
//!   later `updated_ms` (a re-sent older state cannot undo an acknowledgement). The edge that
//!   holds an alert is its record's `edge_id`.
//! - `alert_commands`: tenant \0 alert id \0 action → [`AlertCommand`], asked by an admin
//!   (`Alerts.Act`) and written synced before the admin is answered. A command is **pending**
//!   until a record shows it took effect ([`took_effect`]); until then it is in every ack sent
//!   to the edge holding the alert, so a lost ack or an edge crash loses none (edges apply them
//!   idempotently). One per alert and action: asking again replaces `by`.
//!
//! Retention: a record whose last change (`max(opened_ms, updated_ms)`) is more than
//! [`ALERT_RETENTION_MS`] old is pruned with its commands ([`Store::prune_alerts`]; the server
//! runs it at start and hourly). A command whose alert the edge no longer holds (a
//! `false_alarm` asked of an alert the edge has closed and archived) stays pending until then.
//!
//! Costs: `List` and each ack scan what they read (a tenant's records; every pending command),
//! which retention and the number of admin actions bound; nothing here is on an edge's hot path.

use std::collections::{BTreeMap, HashMap};

use prost::Message;
use rocksdb::{Direction, IteratorMode, WriteBatch};
use sentientiq_proto::grpc::{self, AlertCommand, AlertRecord};

use super::{Store, StoreError, decode, key2};

/// Most records one `List` answers (the newest; narrow with `since_ms` or a tenant for more).
pub const MAX_LIST_ALERTS: usize = 1_000;
/// Most alerts the counts of a tenant's range are taken from ([`Store::alerts_opened`]: the
/// failures, the false-positive rates, usage): the newest. Each is held as its summary (a few
/// hundred bytes as edges report them: no page, user or account); a range with more is said
/// to be capped (its counts a lower bound). A chosen bound: 100 times the `List` page the
/// counts were taken from before.
pub const MAX_ANALYZED_ALERTS: usize = 100_000;
/// Encoded bytes of the summaries held at most, whatever their number: a record may be up to
/// [`MAX_ALERT_RECORD_BYTES`] and its summary nearly as large (many deliveries), so the count
/// alone does not bound the memory. Past it, the oldest go and the range is capped. 64 MiB: 671
/// bytes a summary at [`MAX_ANALYZED_ALERTS`]; a summary of a record with a dozen deliveries
/// is 543 (the test `a_dozen_deliveries_summary_fits_the_bytes_a_summary_is_given`), so a
/// range of such records is capped by their number (the bytes would hold about 123 000).
pub const MAX_ANALYZED_BYTES: usize = 64 << 20;
/// Records whose last change is older than this may be pruned: 30 days.
pub const ALERT_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// Longest alert id (the alerts crate's `AlertId`: `[A-Za-z0-9_-]{1,64}`).
pub const MAX_ALERT_ID_LEN: usize = 64;
/// Largest record an edge may report, encoded: a record with a long page URL and a dozen
/// deliveries is a few kilobytes; 64 such records fit in one 4 MiB gRPC message.
pub const MAX_ALERT_RECORD_BYTES: usize = 64 * 1024;
/// Longest `by` (who acted), bytes.
pub const MAX_BY_LEN: usize = 128;
/// Most commands in one ack; more pending for an edge go out in the following acks, in turn.
pub const MAX_COMMANDS_PER_ACK: usize = 1_000;
/// What an admin may ask of an alert.
pub const ACTIONS: [&str; 2] = ["acknowledge", "false_alarm"];
/// An alert record's states.
pub const STATES: [&str; 4] = ["open", "acknowledged", "false_alarm", "closed"];

/// Whether a record in `state` shows that `action` took effect: an acknowledgement once the
/// alert is no longer open (acknowledged, labelled a false alarm or closed: nothing is left to
/// acknowledge), a false alarm once the alert is labelled one (an acknowledged or closed alert
/// may still be labelled).
pub fn took_effect(action: &str, state: &str) -> bool {
    match action {
        "acknowledge" => state != "open",
        "false_alarm" => state == "false_alarm",
        _ => true,
    }
}

/// A range's alerts as counted ([`Store::alerts_opened`]).
#[derive(Debug)]
pub struct Opened {
    /// Newest first, as summaries.
    pub alerts: Vec<AlertRecord>,
    /// The range held more than were kept: counts of these are a lower bound.
    pub capped: bool,
}

/// What the counts read of an alert (tenant, id, emotion, rule, when, state, who labelled it,
/// each delivery's status, step and channel), without what only a page shows (the page,
/// section, user, session, account and its value, confidence, delivery ids and contacts).
pub fn summary(a: AlertRecord) -> AlertRecord {
    AlertRecord {
        alert_id: a.alert_id,
        tenant_id: a.tenant_id,
        region: a.region,
        edge_id: a.edge_id,
        emotion: a.emotion,
        rule: a.rule,
        opened_ms: a.opened_ms,
        updated_ms: a.updated_ms,
        state: a.state,
        acked_by: a.acked_by,
        acked_ms: a.acked_ms,
        step: a.step,
        repeats: a.repeats,
        deliveries: a
            .deliveries
            .into_iter()
            .map(|d| grpc::AlertDelivery {
                channel: d.channel,
                status: d.status,
                attempts: d.attempts,
                latency_ms: d.latency_ms,
                step: d.step,
                ..grpc::AlertDelivery::default()
            })
            .collect(),
        ..AlertRecord::default()
    }
}

/// Newest first: by `opened_ms`, then id.
fn newest_first(a: &AlertRecord, b: &AlertRecord) -> std::cmp::Ordering {
    order((a.opened_ms, &a.alert_id), (b.opened_ms, &b.alert_id))
}

/// [`newest_first`] of (opened_ms, id) pairs.
fn order(a: (i64, &str), b: (i64, &str)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
}

/// Whether `a` comes before `b` newest first.
fn newer(a: (i64, &str), b: (i64, &str)) -> bool {
    order(a, b).is_lt()
}

/// A record ordered so that the newer is the greater ([`newest_first`] reversed).
struct Newest(AlertRecord);

impl Ord for Newest {
    fn cmp(&self, other: &Newest) -> std::cmp::Ordering {
        newest_first(&other.0, &self.0)
    }
}

impl PartialOrd for Newest {
    fn partial_cmp(&self, other: &Newest) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Newest {
    fn eq(&self, other: &Newest) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Newest {}

/// When a record last changed, for retention and `since_ms`.
pub fn last_change(r: &AlertRecord) -> i64 {
    r.opened_ms.max(r.updated_ms)
}

fn valid_alert_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ALERT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why an edge's record is refused, if it is. The reason never quotes the record's content.
pub fn check_record(r: &AlertRecord) -> Result<(), String> {
    if !valid_alert_id(&r.alert_id) {
        return Err(format!(
            "alert_id: 1 to {MAX_ALERT_ID_LEN} of A-Z a-z 0-9 _ -"
        ));
    }
    if r.tenant_id.is_empty() {
        return Err(format!("alert {}: tenant_id is required", r.alert_id));
    }
    // The edge that holds it (the one its commands go to) and where: named as its config
    // names them (`grpc::valid_edge_name`).
    for (field, name) in [("edge_id", &r.edge_id), ("region", &r.region)] {
        if !grpc::valid_edge_name(name) {
            return Err(format!(
                "alert {}: {field}: {}",
                r.alert_id,
                grpc::EDGE_NAME_RULE
            ));
        }
    }
    if !STATES.contains(&r.state.as_str()) {
        return Err(format!(
            "alert {}: state is not one of {}",
            r.alert_id,
            STATES.join(", ")
        ));
    }
    let n = r.encoded_len();
    if n > MAX_ALERT_RECORD_BYTES {
        return Err(format!(
            "alert {}: {n} bytes; at most {MAX_ALERT_RECORD_BYTES}",
            r.alert_id
        ));
    }
    Ok(())
}

/// Why an admin's request is refused, if it is.
pub fn check_command(c: &AlertCommand) -> Result<(), StoreError> {
    if c.tenant_id.is_empty() || c.alert_id.is_empty() {
        return Err(StoreError::Invalid(
            "tenant_id and alert_id are required".into(),
        ));
    }
    if !ACTIONS.contains(&c.action.as_str()) {
        return Err(StoreError::Invalid(format!(
            "action must be one of {}",
            ACTIONS.join(", ")
        )));
    }
    if c.by.is_empty() || c.by.len() > MAX_BY_LEN || c.by.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "by: who acts, 1 to {MAX_BY_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// What happened to the records of one report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PutAlerts {
    pub stored: usize,
    /// Older than what is stored (or than a later copy in the same batch): not stored.
    pub stale: usize,
    /// Of a tenant that does not exist (deleted since): not stored.
    pub unknown_tenant: usize,
    /// Refused by [`check_record`]: not stored.
    pub invalid: usize,
}

fn command_key(tenant: &str, alert: &str, action: &str) -> Vec<u8> {
    let mut k = key2(tenant, alert);
    k.push(0);
    k.extend_from_slice(action.as_bytes());
    k
}

/// `[lo, hi)` of the commands of one alert.
fn commands_of(tenant: &str, alert: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = key2(tenant, alert);
    lo.push(0);
    let mut hi = lo.clone();
    if let Some(last) = hi.last_mut() {
        *last = 1;
    }
    (lo, hi)
}

/// Up to `cap` of `held` (in key order), starting after `cursor` and wrapping around, so that
/// when more than `cap` are pending every one is sent in turn. Moves `cursor` to the last taken.
pub fn pick(
    held: Vec<(Vec<u8>, AlertCommand)>,
    cursor: &mut Option<Vec<u8>>,
    cap: usize,
) -> Vec<AlertCommand> {
    if held.len() <= cap {
        *cursor = None;
        return held.into_iter().map(|(_, c)| c).collect();
    }
    let start = cursor
        .as_ref()
        .map_or(0, |c| held.iter().position(|(k, _)| k > c).unwrap_or(0));
    let n = held.len();
    let mut out = Vec::with_capacity(cap);
    let mut last = None;
    for i in 0..cap {
        let (k, c) = &held[(start + i) % n];
        out.push(c.clone());
        last = Some(k.clone());
    }
    *cursor = last;
    out
}

impl Store {
    /// The alert writers' lock. Taken before the config writer's when both are (deleting a
    /// tenant), never after it.
    pub(super) fn alerts_lock(&self) -> Result<std::sync::MutexGuard<'_, ()>, StoreError> {
        self.alerts_writer
            .lock()
            .map_err(|_| StoreError::Corrupt("an alert writer panicked".into()))
    }

    /// Upserts an edge's records (synced before it returns), each only if it is valid, of a
    /// tenant that exists, and not older than what is stored.
    pub fn put_alerts(&self, records: &[AlertRecord]) -> Result<PutAlerts, StoreError> {
        // Held from the tenant check to the write: a tenant deleted meanwhile (which takes this
        // lock too) cannot keep records.
        let _w = self.alerts_lock()?;
        let mut r = PutAlerts::default();
        // The latest copy of each alert in the batch.
        let mut latest: BTreeMap<Vec<u8>, &AlertRecord> = BTreeMap::new();
        let mut known: HashMap<&str, bool> = HashMap::new();
        for a in records {
            if let Err(e) = check_record(a) {
                tracing::warn!(reason = %e, "alert record refused");
                r.invalid += 1;
                continue;
            }
            let exists = match known.get(a.tenant_id.as_str()) {
                Some(e) => *e,
                None => {
                    let e = self.stored_tenant(&a.tenant_id)?.is_some();
                    known.insert(&a.tenant_id, e);
                    e
                }
            };
            if !exists {
                r.unknown_tenant += 1;
                continue;
            }
            let k = key2(&a.tenant_id, &a.alert_id);
            match latest.get(&k) {
                Some(b) if b.updated_ms > a.updated_ms => r.stale += 1,
                Some(_) => {
                    r.stale += 1;
                    latest.insert(k, a);
                }
                None => {
                    latest.insert(k, a);
                }
            }
        }
        let mut batch = WriteBatch::default();
        for (k, a) in latest {
            if let Some(b) = self.db.get_cf(self.cf("alerts"), &k)? {
                let stored: AlertRecord = decode("alert", &b)?;
                if stored.updated_ms > a.updated_ms {
                    r.stale += 1;
                    continue;
                }
            }
            batch.put_cf(self.cf("alerts"), &k, a.encode_to_vec());
            r.stored += 1;
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(r)
    }

    /// One alert of one tenant.
    pub fn alert(&self, tenant: &str, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.db
            .get_cf(self.cf("alerts"), key2(tenant, id))?
            .map(|b| decode("alert", &b))
            .transpose()
    }

    /// Each record under `prefix` (a tenant's, or all with an empty one), in key order.
    fn each_alert(&self, prefix: &[u8], mut f: impl FnMut(AlertRecord)) -> Result<(), StoreError> {
        for r in self.db.iterator_cf(
            self.cf("alerts"),
            IteratorMode::From(prefix, Direction::Forward),
        ) {
            let (k, v) = r?;
            if !k.starts_with(prefix) {
                break;
            }
            f(decode("alert", &v)?);
        }
        Ok(())
    }

    /// Records of one tenant (`None`: all) whose last change is at or after `since_ms`, only
    /// open ones with `open_only`, newest first (by `opened_ms`, then id), at most
    /// [`MAX_LIST_ALERTS`].
    pub fn list_alerts(
        &self,
        tenant: Option<&str>,
        since_ms: i64,
        open_only: bool,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let prefix = tenant.map(|t| key2(t, "")).unwrap_or_default();
        let mut out: Vec<AlertRecord> = Vec::new();
        self.each_alert(&prefix, |a| {
            if last_change(&a) >= since_ms && (!open_only || a.state == "open") {
                out.push(a);
            }
        })?;
        out.sort_by(newest_first);
        out.truncate(MAX_LIST_ALERTS);
        Ok(out)
    }

    /// `tenant`'s alerts opened in `[from_ms, to_ms)`, newest first (by `opened_ms`, then id),
    /// at most `cap` of them and `cap_bytes` of their [`summary`]s encoded, and whether the
    /// range held more (the newest are kept). For counting, not showing.
    pub fn alerts_opened(
        &self,
        tenant: &str,
        from_ms: i64,
        to_ms: i64,
        cap: usize,
        cap_bytes: usize,
    ) -> Result<Opened, StoreError> {
        use std::cmp::Reverse;
        // The newest seen within the caps: the heap's top is the oldest of them. Records come
        // in key order, not time order: one no newer than an alert already let go (for the
        // bytes, a larger one may go before a smaller, older one comes) is let go too.
        let mut kept = std::collections::BinaryHeap::new();
        let mut gone: Option<(i64, String)> = None;
        let (mut bytes, mut capped) = (0usize, false);
        self.each_alert(&key2(tenant, ""), |a| {
            if !(from_ms..to_ms).contains(&a.opened_ms) {
                return;
            }
            if gone
                .as_ref()
                .is_some_and(|(ms, id)| !newer((a.opened_ms, &a.alert_id), (*ms, id)))
            {
                capped = true;
                return;
            }
            let a = summary(a);
            bytes += a.encoded_len();
            kept.push(Reverse(Newest(a)));
            while kept.len() > cap || bytes > cap_bytes {
                let Some(Reverse(Newest(old))) = kept.pop() else {
                    break;
                };
                bytes -= old.encoded_len();
                capped = true;
                // The oldest kept, so newer than any let go before (only those are kept).
                gone = Some((old.opened_ms, old.alert_id));
            }
        })?;
        let mut alerts: Vec<AlertRecord> = kept.into_iter().map(|Reverse(Newest(a))| a).collect();
        alerts.sort_by(newest_first);
        Ok(Opened { alerts, capped })
    }

    /// [`Store::alerts_opened`] over the minutes `[from, to)`, at most [`MAX_ANALYZED_ALERTS`]
    /// and [`MAX_ANALYZED_BYTES`]: what a tenant's failures, false-positive rates and usage are
    /// counted from.
    pub fn alerts_opened_in_minutes(
        &self,
        tenant: &str,
        from: i64,
        to: i64,
    ) -> Result<Opened, StoreError> {
        self.alerts_opened(
            tenant,
            from.saturating_mul(60_000),
            to.saturating_mul(60_000),
            MAX_ANALYZED_ALERTS,
            MAX_ANALYZED_BYTES,
        )
    }

    /// Queues `c` for the edge holding its alert (synced). `Ok(false)`: the alert's record
    /// already shows it took effect, nothing is queued. Not found: no such alert in that
    /// tenant (another tenant's alert is not found either).
    pub fn queue_command(&self, c: &AlertCommand) -> Result<bool, StoreError> {
        check_command(c)?;
        let _w = self.alerts_lock()?;
        let a = self
            .alert(&c.tenant_id, &c.alert_id)?
            .ok_or_else(|| StoreError::NotFound(format!("alert {}", c.alert_id)))?;
        if took_effect(&c.action, &a.state) {
            return Ok(false);
        }
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.put_cf_opt(
            self.cf("alert_commands"),
            command_key(&c.tenant_id, &c.alert_id, &c.action),
            c.encode_to_vec(),
            &wo,
        )?;
        Ok(true)
    }

    /// The pending commands of alerts `edge` holds (at most [`MAX_COMMANDS_PER_ACK`], in turn
    /// from `cursor`). Commands a record shows took effect, or whose alert is gone, are
    /// dropped here.
    pub fn commands_for(
        &self,
        edge: &str,
        cursor: &mut Option<Vec<u8>>,
    ) -> Result<Vec<AlertCommand>, StoreError> {
        self.commands_for_at_most(edge, cursor, MAX_COMMANDS_PER_ACK)
    }

    fn commands_for_at_most(
        &self,
        edge: &str,
        cursor: &mut Option<Vec<u8>>,
        cap: usize,
    ) -> Result<Vec<AlertCommand>, StoreError> {
        let _w = self.alerts_lock()?;
        let mut held = Vec::new();
        let mut done = WriteBatch::default();
        for r in self
            .db
            .iterator_cf(self.cf("alert_commands"), IteratorMode::Start)
        {
            let (k, v) = r?;
            let c: AlertCommand = decode("alert command", &v)?;
            match self.alert(&c.tenant_id, &c.alert_id)? {
                Some(a) if took_effect(&c.action, &a.state) => {
                    done.delete_cf(self.cf("alert_commands"), &k)
                }
                Some(a) if a.edge_id == edge => held.push((k.to_vec(), c)),
                Some(_) => {}
                None => done.delete_cf(self.cf("alert_commands"), &k),
            }
        }
        if !done.is_empty() {
            // Not synced: a deletion lost in a crash is made again at the next ack.
            self.db.write(done)?;
        }
        Ok(pick(held, cursor, cap))
    }

    /// Commands pending (for `/metrics`).
    pub fn pending_commands(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for r in self
            .db
            .iterator_cf(self.cf("alert_commands"), IteratorMode::Start)
        {
            r?;
            n += 1;
        }
        Ok(n)
    }

    /// Deletes the records (and their commands) whose last change is more than
    /// [`ALERT_RETENTION_MS`] before `now_ms`; returns how many records.
    pub fn prune_alerts(&self, now_ms: i64) -> Result<usize, StoreError> {
        let cutoff = now_ms.saturating_sub(ALERT_RETENTION_MS);
        let _w = self.alerts_lock()?;
        let mut batch = WriteBatch::default();
        let mut n = 0;
        for r in self.db.iterator_cf(self.cf("alerts"), IteratorMode::Start) {
            let (k, v) = r?;
            let a: AlertRecord = decode("alert", &v)?;
            if last_change(&a) < cutoff {
                batch.delete_cf(self.cf("alerts"), &k);
                let (lo, hi) = commands_of(&a.tenant_id, &a.alert_id);
                batch.delete_range_cf(self.cf("alert_commands"), lo, hi);
                n += 1;
            }
        }
        if n > 0 {
            self.db.write(batch)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;
    use sentientiq_proto::grpc::Tenant;

    /// Where MAX_ANALYZED_BYTES' figures come from: its bytes over MAX_ANALYZED_ALERTS, and
    /// the summary of a record with a dozen deliveries as edges write them (a 22-character id
    /// after `al_`, an edge's report id, a 14-byte `acked_by`).
    #[test]
    fn a_dozen_deliveries_summary_fits_the_bytes_a_summary_is_given() {
        let mut a = sentientiq_testkit::grpc::record(
            "acme",
            "al_zfhKjEfJZwMLYXM9zj1Tsw",
            "edge-us-east-1@1733000000000",
            "acknowledged",
            1_733_000_000_000,
        );
        let d = a.deliveries[0].clone();
        a.deliveries = vec![d; 12];
        a.acked_by = "ana@acme.co.uk".into();
        let n = summary(a).encoded_len();
        assert_eq!(MAX_ANALYZED_BYTES / MAX_ANALYZED_ALERTS, 671);
        assert_eq!(n, 543);
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open_with(dir.path(), StoreLimits::default()).expect("open");
        for id in ["acme", "globex"] {
            s.create_tenant(Tenant {
                id: id.into(),
                ..Tenant::default()
            })
            .expect("tenant");
        }
        (dir, s)
    }

    fn rec(tenant: &str, id: &str, edge: &str, state: &str, at: i64) -> AlertRecord {
        AlertRecord {
            alert_id: id.into(),
            tenant_id: tenant.into(),
            edge_id: edge.into(),
            region: "us-east-1".into(),
            state: state.into(),
            opened_ms: at,
            updated_ms: at,
            ..AlertRecord::default()
        }
    }

    fn cmd(tenant: &str, id: &str, action: &str, by: &str) -> AlertCommand {
        AlertCommand {
            alert_id: id.into(),
            action: action.into(),
            by: by.into(),
            tenant_id: tenant.into(),
        }
    }

    #[test]
    fn which_state_shows_which_action_took_effect() {
        for (action, state, done) in [
            ("acknowledge", "open", false),
            ("acknowledge", "acknowledged", true),
            ("acknowledge", "false_alarm", true),
            ("acknowledge", "closed", true),
            ("false_alarm", "open", false),
            ("false_alarm", "acknowledged", false),
            ("false_alarm", "closed", false),
            ("false_alarm", "false_alarm", true),
        ] {
            assert_eq!(took_effect(action, state), done, "{action} in {state}");
        }
    }

    #[test]
    fn counts_read_a_ranges_alerts_as_summaries_the_newest_up_to_the_cap() {
        let (_d, s) = store();
        let full = |id: &str, at: i64| {
            let mut r = rec("acme", id, "e1", "false_alarm", at);
            r.page = "https://shop.example/checkout".into();
            r.user = "ana@globex.example".into();
            r.account = "Globex".into();
            r.acked_by = "ana".into();
            r.emotion = "rage".into();
            r.deliveries = vec![grpc::AlertDelivery {
                id: format!("{id}-d1"),
                contact: "csm".into(),
                channel: "slack_webhook".into(),
                status: "failed".into(),
                attempts: 3,
                latency_ms: 0,
                step: 1,
            }];
            r
        };
        // Opened at 10..=15; the range [11, 15) holds 11, 12, 13, 14; globex's is not acme's.
        let mut all: Vec<AlertRecord> = (10..=15).map(|t| full(&format!("a{t}"), t)).collect();
        all.push(rec("globex", "g12", "e1", "open", 12));
        s.put_alerts(&all).expect("put");
        let ids = |o: &Opened| {
            o.alerts
                .iter()
                .map(|a| a.alert_id.clone())
                .collect::<Vec<_>>()
        };
        for (cap, want, capped) in [
            (5, vec!["a14", "a13", "a12", "a11"], false),
            (4, vec!["a14", "a13", "a12", "a11"], false),
            (3, vec!["a14", "a13", "a12"], true),
        ] {
            let o = s
                .alerts_opened("acme", 11, 15, cap, usize::MAX)
                .expect("read");
            assert_eq!(
                (ids(&o), o.capped),
                (want.iter().map(|s| s.to_string()).collect(), capped),
                "cap {cap}"
            );
        }
        // The bytes bound the same way, whatever the count: each summary here is the same size.
        let one = summary(all[4].clone()).encoded_len();
        for (cap_bytes, kept, capped) in [
            (4 * one + 1, 4, false),
            (4 * one, 4, false),
            (4 * one - 1, 3, true),
        ] {
            let o = s
                .alerts_opened("acme", 11, 15, 10, cap_bytes)
                .expect("read");
            assert_eq!(
                (o.alerts.len(), o.capped),
                (kept, capped),
                "{cap_bytes} bytes"
            );
            assert_eq!(o.alerts[0].alert_id, "a14", "the newest kept");
        }
        // Sizes unequal in key order: a large new one let go for the bytes does not let a
        // smaller, older one in after it (the kept are the newest, capped).
        let (_d2, s2) = store();
        let mut big = full("b1", 14);
        big.acked_by = "a".repeat(400);
        let (newest, oldest) = (full("a2", 15), full("c0", 11));
        s2.put_alerts(&[newest.clone(), big, oldest.clone()])
            .expect("put");
        let room = summary(newest).encoded_len() + summary(oldest).encoded_len();
        let o = s2.alerts_opened("acme", 0, 100, 10, room).expect("read");
        assert_eq!(
            (
                o.alerts
                    .iter()
                    .map(|a| a.alert_id.as_str())
                    .collect::<Vec<_>>(),
                o.capped
            ),
            (vec!["a2"], true),
            "keys a2, b1, c0: b1 does not fit beside a2 and goes; c0, older, stays out"
        );
        // The first minute, at the defaults: all six of acme's, newest first.
        let o = s.alerts_opened_in_minutes("acme", 0, 1).expect("read");
        assert_eq!((o.alerts.len(), o.capped), (6, false));
        // What the counts read is kept; what only a page shows is not.
        let a = &o.alerts[1];
        assert_eq!(
            (
                a.state.as_str(),
                a.acked_by.as_str(),
                a.emotion.as_str(),
                a.opened_ms
            ),
            ("false_alarm", "ana", "rage", 14)
        );
        assert_eq!(
            (
                a.deliveries[0].status.as_str(),
                a.deliveries[0].channel.as_str()
            ),
            ("failed", "slack_webhook")
        );
        assert!(a.page.is_empty() && a.user.is_empty() && a.account.is_empty());
        assert!(a.deliveries[0].id.is_empty() && a.deliveries[0].contact.is_empty());
        assert_eq!(summary(all[4].clone()), *a);
    }

    #[test]
    fn alert_ids_and_records_are_checked_at_their_caps() {
        let id = |n: usize| rec("acme", &"a".repeat(n), "e1", "open", 1);
        for (n, ok) in [
            (0, false),
            (1, true),
            (MAX_ALERT_ID_LEN - 1, true),
            (MAX_ALERT_ID_LEN, true),
            (MAX_ALERT_ID_LEN + 1, false),
        ] {
            assert_eq!(check_record(&id(n)).is_ok(), ok, "{n}-byte id");
        }
        for bad in ["al.1", "al|1", "al 1", "al\u{0}1", "é"] {
            assert!(
                check_record(&rec("acme", bad, "e1", "open", 1)).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_record(&rec("acme", "a", "e1", "snoozed", 1)).is_err());
        assert!(check_record(&rec("", "a", "e1", "open", 1)).is_err());
        for bad in ["", "e/1", "e1@1", ".e1", "e\u{0}1"] {
            let e = check_record(&rec("acme", "a", bad, "open", 1)).expect_err(bad);
            assert_eq!(e, format!("alert a: edge_id: {}", grpc::EDGE_NAME_RULE));
            let mut r = rec("acme", "a", "e1", "open", 1);
            r.region = bad.into();
            let e = check_record(&r).expect_err(bad);
            assert_eq!(e, format!("alert a: region: {}", grpc::EDGE_NAME_RULE));
        }
        // The encoded size, padded with the page to exactly n bytes.
        let sized = |n: usize| {
            let mut r = rec("acme", "a", "e1", "open", 1);
            let base = r.encoded_len();
            // tag (1) + length varint (3 bytes for 16384..=2097151) + the page.
            r.page = "p".repeat(n - base - 4);
            assert_eq!(r.encoded_len(), n);
            r
        };
        for (n, ok) in [
            (MAX_ALERT_RECORD_BYTES - 1, true),
            (MAX_ALERT_RECORD_BYTES, true),
            (MAX_ALERT_RECORD_BYTES + 1, false),
        ] {
            let e = check_record(&sized(n));
            assert_eq!(e.is_ok(), ok, "{n} bytes");
            if let Err(e) = e {
                assert!(e.contains("at most") && !e.contains("ppp"), "{e}");
            }
        }
    }

    #[test]
    fn who_acts_is_checked_at_its_cap() {
        for (n, ok) in [
            (0, false),
            (1, true),
            (MAX_BY_LEN - 1, true),
            (MAX_BY_LEN, true),
            (MAX_BY_LEN + 1, false),
        ] {
            let r = check_command(&cmd("acme", "a", "acknowledge", &"b".repeat(n)));
            assert_eq!(r.is_ok(), ok, "{n}-byte by");
        }
        assert!(check_command(&cmd("acme", "a", "acknowledge", "ana\nbob")).is_err());
        for bad in ["ack", "false-alarm", "close", ""] {
            let e = check_command(&cmd("acme", "a", bad, "ana")).expect_err(bad);
            assert!(matches!(e, StoreError::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn a_record_never_replaces_a_newer_one() {
        let (_d, s) = store();
        let mut acked = rec("acme", "a1", "e1", "acknowledged", 100);
        acked.updated_ms = 200;
        assert_eq!(s.put_alerts(&[acked.clone()]).expect("put").stored, 1);
        // The open state re-sent late does not undo the acknowledgement.
        let late = rec("acme", "a1", "e1", "open", 100);
        let r = s.put_alerts(&[late]).expect("put");
        assert_eq!((r.stored, r.stale), (0, 1));
        assert_eq!(s.alert("acme", "a1").expect("read"), Some(acked.clone()));
        // In one batch, the latest copy wins whatever its place.
        let mut closed = acked.clone();
        closed.state = "closed".into();
        closed.updated_ms = 300;
        let r = s.put_alerts(&[closed.clone(), acked.clone()]).expect("put");
        assert_eq!((r.stored, r.stale), (1, 1));
        assert_eq!(s.alert("acme", "a1").expect("read"), Some(closed));
        // Unknown tenants and invalid records are counted, not stored.
        let r = s
            .put_alerts(&[
                rec("initech", "a2", "e1", "open", 1),
                rec("acme", "a.3", "e1", "open", 1),
            ])
            .expect("put");
        assert_eq!((r.stored, r.unknown_tenant, r.invalid), (0, 1, 1));
    }

    #[test]
    fn commands_go_to_the_holding_edge_until_a_record_shows_them_applied() {
        let (_d, s) = store();
        s.put_alerts(&[
            rec("acme", "a1", "e1", "open", 1),
            rec("acme", "a2", "e2", "open", 2),
        ])
        .expect("put");
        assert!(
            s.queue_command(&cmd("acme", "a1", "acknowledge", "ana"))
                .expect("queued")
        );
        let e = s
            .queue_command(&cmd("globex", "a1", "acknowledge", "ana"))
            .expect_err("another tenant's alert");
        assert!(matches!(e, StoreError::NotFound(_)), "{e}");
        let mut cur = None;
        let to = |s: &Store, edge: &str, cur: &mut Option<Vec<u8>>| -> Vec<String> {
            s.commands_for(edge, cur)
                .expect("commands")
                .into_iter()
                .map(|c| format!("{}:{}:{}", c.alert_id, c.action, c.by))
                .collect()
        };
        assert_eq!(to(&s, "e1", &mut cur), ["a1:acknowledge:ana"]);
        assert!(to(&s, "e2", &mut cur).is_empty());
        // Asking again replaces who asked; still one command.
        s.queue_command(&cmd("acme", "a1", "acknowledge", "bob"))
            .expect("queued");
        assert_eq!(to(&s, "e1", &mut cur), ["a1:acknowledge:bob"]);
        assert_eq!(s.pending_commands().expect("count"), 1);
        // The alert moved to e2 (it reported it last): the command follows it.
        let mut moved = rec("acme", "a1", "e2", "open", 1);
        moved.updated_ms = 5;
        s.put_alerts(&[moved]).expect("put");
        assert!(to(&s, "e1", &mut cur).is_empty());
        assert_eq!(to(&s, "e2", &mut cur), ["a1:acknowledge:bob"]);
        // Applied: gone.
        let mut acked = rec("acme", "a1", "e2", "acknowledged", 1);
        acked.updated_ms = 6;
        s.put_alerts(&[acked]).expect("put");
        assert!(to(&s, "e2", &mut cur).is_empty());
        assert_eq!(s.pending_commands().expect("count"), 0);
        // Already applied: nothing queued. A false alarm after the acknowledgement is.
        assert!(
            !s.queue_command(&cmd("acme", "a1", "acknowledge", "cy"))
                .expect("ok")
        );
        assert!(
            s.queue_command(&cmd("acme", "a1", "false_alarm", "cy"))
                .expect("ok")
        );
        assert_eq!(to(&s, "e2", &mut cur), ["a1:false_alarm:cy"]);
    }

    #[test]
    fn more_commands_than_an_ack_holds_go_out_in_turn() {
        let cap = 3;
        for n in [cap - 1, cap, cap + 1] {
            let (_d, s2) = store();
            for i in 0..n {
                let id = format!("a{i}");
                s2.put_alerts(&[rec("acme", &id, "e1", "open", 1)])
                    .expect("put");
                s2.queue_command(&cmd("acme", &id, "acknowledge", "ana"))
                    .expect("queue");
            }
            let mut cur = None;
            let first = s2.commands_for_at_most("e1", &mut cur, cap).expect("cmds");
            assert_eq!(first.len(), n.min(cap), "{n} pending");
            let second = s2.commands_for_at_most("e1", &mut cur, cap).expect("cmds");
            let mut seen: Vec<String> = first
                .iter()
                .chain(&second)
                .map(|c| c.alert_id.clone())
                .collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), n, "every pending command within two acks");
        }
        // The rotation itself: 5 pending, 2 an ack, each sent within three acks.
        let held: Vec<(Vec<u8>, AlertCommand)> = (0..5u8)
            .map(|i| (vec![i], cmd("acme", &format!("a{i}"), "acknowledge", "ana")))
            .collect();
        let mut cur = None;
        let ids = |v: Vec<AlertCommand>| v.into_iter().map(|c| c.alert_id).collect::<Vec<_>>();
        assert_eq!(ids(pick(held.clone(), &mut cur, 2)), ["a0", "a1"]);
        assert_eq!(ids(pick(held.clone(), &mut cur, 2)), ["a2", "a3"]);
        assert_eq!(ids(pick(held.clone(), &mut cur, 2)), ["a4", "a0"]);
        assert_eq!(ids(pick(held[..2].to_vec(), &mut cur, 2)), ["a0", "a1"]);
        assert_eq!(cur, None, "all fit: no cursor");
    }

    #[test]
    fn records_are_pruned_after_the_retention_with_their_commands() {
        let (_d, s) = store();
        let now = 100 * ALERT_RETENTION_MS;
        let ages = [
            ("kept-younger", ALERT_RETENTION_MS - 1),
            ("kept-at", ALERT_RETENTION_MS),
            ("pruned", ALERT_RETENTION_MS + 1),
        ];
        for (id, age) in ages {
            s.put_alerts(&[rec("acme", id, "e1", "open", now - age)])
                .expect("put");
            s.queue_command(&cmd("acme", id, "acknowledge", "ana"))
                .expect("queue");
        }
        // A record opened long ago but changed recently is kept.
        let mut busy = rec("acme", "busy", "e1", "open", now - 2 * ALERT_RETENTION_MS);
        busy.updated_ms = now - 1;
        s.put_alerts(&[busy]).expect("put");
        assert_eq!(s.prune_alerts(now).expect("prune"), 1);
        assert!(s.alert("acme", "pruned").expect("read").is_none());
        for id in ["kept-younger", "kept-at", "busy"] {
            assert!(s.alert("acme", id).expect("read").is_some(), "{id}");
        }
        assert_eq!(s.pending_commands().expect("count"), 2);
    }

    #[test]
    fn deleting_a_tenant_deletes_its_alerts_and_commands() {
        let (_d, s) = store();
        s.put_alerts(&[
            rec("acme", "a1", "e1", "open", 1),
            rec("globex", "g1", "e1", "open", 1),
        ])
        .expect("put");
        s.queue_command(&cmd("acme", "a1", "acknowledge", "ana"))
            .expect("queue");
        s.delete_tenant("acme").expect("delete");
        assert!(
            s.list_alerts(Some("acme"), 0, false)
                .expect("list")
                .is_empty()
        );
        assert_eq!(s.list_alerts(None, 0, false).expect("list").len(), 1);
        assert_eq!(s.pending_commands().expect("count"), 0);
    }

    #[test]
    fn lists_filter_and_come_newest_first() {
        let (_d, s) = store();
        let mut acked = rec("acme", "a2", "e1", "acknowledged", 20);
        acked.updated_ms = 50;
        s.put_alerts(&[
            rec("acme", "a1", "e1", "open", 10),
            acked,
            rec("acme", "a3", "e2", "open", 30),
            rec("globex", "g1", "e1", "open", 40),
        ])
        .expect("put");
        let ids = |v: Vec<AlertRecord>| v.into_iter().map(|a| a.alert_id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.list_alerts(None, 0, false).expect("l")),
            ["g1", "a3", "a2", "a1"]
        );
        assert_eq!(
            ids(s.list_alerts(Some("acme"), 0, false).expect("l")),
            ["a3", "a2", "a1"]
        );
        assert_eq!(
            ids(s.list_alerts(Some("acme"), 0, true).expect("l")),
            ["a3", "a1"]
        );
        // since_ms: changed at or after (a2 was acknowledged at 50).
        assert_eq!(
            ids(s.list_alerts(Some("acme"), 30, false).expect("l")),
            ["a3", "a2"]
        );
        assert_eq!(
            ids(s.list_alerts(Some("acme"), 51, false).expect("l")),
            Vec::<String>::new()
        );
        assert!(s.list_alerts(Some("acm"), 0, false).expect("l").is_empty());
    }

    #[test]
    fn a_list_answers_at_most_the_cap_newest_first() {
        let (_d, s) = store();
        let mut n = 0;
        for want in [MAX_LIST_ALERTS - 1, MAX_LIST_ALERTS, MAX_LIST_ALERTS + 1] {
            let batch: Vec<AlertRecord> = (n..want)
                .map(|i| rec("acme", &format!("a{i:05}"), "e1", "open", i as i64))
                .collect();
            s.put_alerts(&batch).expect("put");
            n = want;
            let got = s.list_alerts(Some("acme"), 0, false).expect("list");
            assert_eq!(got.len(), want.min(MAX_LIST_ALERTS), "{want} stored");
            assert_eq!(got[0].alert_id, format!("a{:05}", want - 1), "newest first");
        }
    }
}
