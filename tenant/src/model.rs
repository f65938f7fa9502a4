//! The validated tenant, as edges use it, and the one validator that makes it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sentientiq_alerts::chain::Policy;
use sentientiq_alerts::config::Validated;
use sentientiq_alerts::ids::ContactId;

use sentientiq_core::{DntPolicy, Emotion, Rule, RuleAction, TenantPolicy, Thresholds};
use sentientiq_proto::{Limits, Value, shown_name};

use crate::spec::{AccountSpec, ContactSpec, Dnt, LakeSpec, TenantSpec};
use crate::{
    DEFAULT_FRAME_BURST, DEFAULT_FRAMES_PER_SEC, Error, MAX_ID_LEN, MAX_NAME_LEN, MIN_FRAME_BYTES,
    MIN_HTTP_BODY_BYTES, valid_id,
};

/// Bytes of a user id at most: the longest uid an `id` frame carries (the protocol's string
/// limit, PROTOCOL.md §7). An account may match one that long (was 256, which left users with
/// longer ids without a value, and so never escalated), and the plane erases one that long.
pub const MAX_UID_BYTES: usize = Limits::DEFAULT.max_string_bytes;

/// A validated tenant.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: Arc<str>,
    pub name: String,
    pub key_hashes: Vec<[u8; 32]>,
    pub allowed_origins: Vec<String>,
    pub emit: bool,
    pub flush_ms: u32,
    pub max_batch: u32,
    pub policy: TenantPolicy,
    pub limits: Limits,
    pub max_sessions_per_shard: usize,
    pub frames_per_sec: u32,
    pub frame_burst: u32,
    pub high_value_cents: i64,
    /// The monthly quota of billable events.
    pub quota: crate::Quota,
    pub contacts: Vec<ContactSpec>,
    pub accounts: Vec<AccountSpec>,
    pub lake: LakeSpec,
    /// The validated alerting config (`[tenant.alerts]`), if any.
    pub alerts: Option<Arc<Validated>>,
    /// Per escalation rule, the chain it pages: only rules whose contacts are in `alerts`
    /// (a rule naming only legacy `contacts` is recorded, not delivered).
    pub escalations: HashMap<Arc<str>, Arc<Policy>>,
    /// Per rule with an experiment, the experiment (validated by `sentientiq_experiments`) and
    /// each variant's intervention. The core's policy decides when such a rule acts (its
    /// action stands for variant 0); the edge assigns the session and shows its variant's
    /// intervention, or nothing for the holdout.
    pub experiments: HashMap<Arc<str>, Arc<RuleExperiment>>,
}

/// A rule's experiment, as edges run it.
#[derive(Debug)]
pub struct RuleExperiment {
    pub experiment: sentientiq_experiments::Experiment,
    /// Variant i's intervention, in the experiment's order.
    pub variants: Vec<VariantIv>,
}

/// The intervention of one variant: the `iv` frame's `kind`, `variant` and `payload`.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantIv {
    pub kind: Arc<str>,
    pub variant: Arc<str>,
    pub payload: Arc<Value>,
}

impl TenantSpec {
    /// The validator of a write (a file's tenant, or one the plane is about to store): what
    /// [`TenantSpec::validate`] checks, and [`TenantSpec::check_floors`]. `was` is the tenant as
    /// stored before this change, if any.
    pub fn validate_write(&self, was: Option<&TenantSpec>) -> Result<Tenant, Error> {
        self.check_floors(was)?;
        self.validate()
    }

    /// The frame and body limits of a write: one below its floor ([`MIN_FRAME_BYTES`],
    /// [`MIN_HTTP_BODY_BYTES`]) is refused unless `was` had that same value.
    /// [`TenantSpec::validate`] serves a lower one at the floor instead of refusing it, so a
    /// tenant stored with one before the floors existed keeps being served and can still be
    /// changed otherwise (a key revoked).
    fn check_floors(&self, was: Option<&TenantSpec>) -> Result<(), Error> {
        let (l, d) = (&self.limits, Limits::DEFAULT);
        let before = was.map(|w| &w.limits);
        for (name, got, had, floor, cap) in [
            (
                "max_frame_bytes",
                l.max_frame_bytes,
                before.and_then(|b| b.max_frame_bytes),
                MIN_FRAME_BYTES,
                d.max_frame_bytes,
            ),
            (
                "max_http_body_bytes",
                l.max_http_body_bytes,
                before.and_then(|b| b.max_http_body_bytes),
                MIN_HTTP_BODY_BYTES,
                d.max_http_body_bytes,
            ),
        ] {
            if let Some(n) = got.filter(|&n| n < floor && Some(n) != had) {
                return Err(Error::Invalid {
                    tenant: self.id.clone(),
                    msg: format!(
                        "limits.{name} must be at least {floor} bytes, not {n} (the most that \
                         applies is {cap})"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Checks everything and builds the runtime tenant. The error names the tenant and the
    /// setting.
    pub fn validate(&self) -> Result<Tenant, Error> {
        let t = self;
        let bad = |msg: String| Error::Invalid {
            tenant: t.id.clone(),
            msg,
        };
        if !valid_id(&t.id) {
            return Err(bad(format!(
                "the id must be 1 to {MAX_ID_LEN} of a-z 0-9 _ -"
            )));
        }
        if t.name.len() > MAX_NAME_LEN {
            return Err(bad(format!("name over {MAX_NAME_LEN} bytes")));
        }
        let mut key_hashes = Vec::with_capacity(t.key_sha256.len());
        for h in &t.key_sha256 {
            let mut k = [0u8; 32];
            hex::decode_to_slice(h, &mut k).map_err(|_| {
                bad(format!(
                    "key hash `{h}` is not 64 hex digits (SHA-256 of the key)"
                ))
            })?;
            key_hashes.push(k);
        }
        for o in &t.allowed_origins {
            // Web origins by prefix only: one stored with a path before the plane checked them
            // (it never matches) must not make its tenant unreadable. App origins were never
            // stored before their check, so they get it whole.
            let shown = || sentientiq_url::shown(o);
            match crate::origin::app_origin(o) {
                Some(Ok(())) => {}
                Some(Err(why)) => return Err(bad(format!("origin `{}` {why}", shown()))),
                None if o == "*" || o.starts_with("http://") || o.starts_with("https://") => {}
                None => {
                    return Err(bad(format!(
                        "origin `{}` must be `*`, scheme://host[:port] or an app's \
                         scheme://host (capacitor://localhost)",
                        shown()
                    )));
                }
            }
        }
        let emotion = |s: &str| {
            Emotion::parse(s).ok_or_else(|| {
                bad(format!(
                    "unknown emotion `{s}` (rage, frustration, hesitation, confusion, abandonment)"
                ))
            })
        };
        let thresholds = thresholds(t);
        let mut labels = Vec::with_capacity(t.labels.len());
        for l in &t.labels {
            if l.section.is_empty() || l.label.is_empty() {
                return Err(bad(format!(
                    "label {:?}: a section and a label are required",
                    l.label
                )));
            }
            labels.push((
                emotion(&l.emotion)?,
                Arc::from(l.section.as_str()),
                Arc::from(l.label.as_str()),
            ));
        }
        let mut contact_ids = HashSet::new();
        for c in &t.contacts {
            if !valid_id(&c.id) || !contact_ids.insert(c.id.as_str()) {
                return Err(bad(format!("contact id `{}` is invalid or repeated", c.id)));
            }
        }
        let alerts = match &t.alerts {
            None => None,
            Some(a) => Some(Arc::new(
                a.parse()
                    .map_err(&bad)?
                    .validate()
                    .map_err(|e| bad(format!("alerts: {e}")))?,
            )),
        };
        let mut escalations = HashMap::new();
        let mut experiments = HashMap::new();
        let mut rule_ids = HashSet::new();
        let mut rules = Vec::with_capacity(t.rules.len());
        for r in &t.rules {
            if !valid_id(&r.id) || !rule_ids.insert(r.id.as_str()) {
                return Err(bad(format!("rule id `{}` is invalid or repeated", r.id)));
            }
            let action = match (&r.intervene, &r.escalate, &r.experiment) {
                (None, None, Some(x)) => {
                    let experiment = x
                        .config(&r.id)
                        .validate()
                        .map_err(|e| bad(format!("rule `{}`: experiment: {e}", r.id)))?;
                    let variants: Vec<VariantIv> = x
                        .variants
                        .iter()
                        .map(|v| VariantIv {
                            kind: Arc::from(v.kind.as_str()),
                            variant: Arc::from(v.id.as_str()),
                            payload: Arc::new(v.payload.as_ref().map_or(Value::Nil, json_value)),
                        })
                        .collect();
                    // The validator refuses an experiment without variants.
                    let first = variants
                        .first()
                        .cloned()
                        .ok_or_else(|| bad(format!("rule `{}`: experiment: no variants", r.id)))?;
                    experiments.insert(
                        Arc::from(r.id.as_str()),
                        Arc::new(RuleExperiment {
                            experiment,
                            variants,
                        }),
                    );
                    RuleAction::Intervene {
                        kind: first.kind,
                        variant: first.variant,
                        payload: first.payload,
                    }
                }
                (Some(i), None, None) => RuleAction::Intervene {
                    kind: Arc::from(i.kind.as_str()),
                    variant: Arc::from(i.variant.as_str()),
                    payload: Arc::new(i.payload.as_ref().map_or(Value::Nil, json_value)),
                },
                (None, Some(e), None) => {
                    let (contacts, chain) =
                        escalation(&r.id, e, &contact_ids, alerts.as_deref()).map_err(&bad)?;
                    if let Some(chain) = chain {
                        escalations.insert(Arc::from(r.id.as_str()), Arc::new(chain));
                    }
                    RuleAction::Escalate {
                        contacts: contacts.iter().map(|c| Arc::from(c.as_str())).collect(),
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "rule `{}`: exactly one of `intervene`, `escalate` or `experiment`",
                        r.id
                    )));
                }
            };
            if !(0.0..=1.0).contains(&r.min_confidence) {
                return Err(bad(format!(
                    "rule `{}`: min_confidence outside 0..=1",
                    r.id
                )));
            }
            rules.push(Rule {
                id: Arc::from(r.id.as_str()),
                emotions: r
                    .emotions
                    .iter()
                    .map(|e| emotion(e))
                    .collect::<Result<_, _>>()?,
                min_confidence: r.min_confidence,
                sections: r.sections.iter().map(|s| Arc::from(s.as_str())).collect(),
                require_identified: r.require_identified,
                min_value_cents: r.min_value_cents,
                action,
                session_cooldown_ms: r.session_cooldown_s.saturating_mul(1000),
                account_cooldown_ms: r.account_cooldown_s.saturating_mul(1000),
            });
        }
        let dflt = TenantPolicy::default();
        let arcs = |v: &Vec<String>| v.iter().map(|s| Arc::from(s.as_str())).collect();
        let policy = TenantPolicy {
            thresholds,
            labels,
            rules,
            hesitation_sections: t
                .hesitation_sections
                .as_ref()
                .map_or(dflt.hesitation_sections, arcs),
            checkout_markers: t
                .checkout_markers
                .as_ref()
                .map_or(dflt.checkout_markers, arcs),
            dnt: match t.dnt {
                Dnt::Anonymous => DntPolicy::Anonymous,
                Dnt::Drop => DntPolicy::Drop,
            },
        };
        policy.validate().map_err(|source| Error::Policy {
            tenant: t.id.clone(),
            source,
        })?;
        let l = &t.limits;
        let d = Limits::DEFAULT;
        // Below a floor (a tenant written before the floors): served at the floor.
        let limits = Limits::DEFAULT.tightened(&Limits {
            max_frame_bytes: l
                .max_frame_bytes
                .unwrap_or(d.max_frame_bytes)
                .max(MIN_FRAME_BYTES),
            max_http_body_bytes: l
                .max_http_body_bytes
                .unwrap_or(d.max_http_body_bytes)
                .max(MIN_HTTP_BODY_BYTES),
            max_samples: l.max_samples.unwrap_or(d.max_samples),
            ..d
        });
        let frames_per_sec = l.frames_per_sec.unwrap_or(DEFAULT_FRAMES_PER_SEC);
        let frame_burst = l.frame_burst.unwrap_or(DEFAULT_FRAME_BURST);
        if frames_per_sec == 0 || frame_burst == 0 {
            return Err(bad(
                "limits.frames_per_sec and limits.frame_burst must be positive".into(),
            ));
        }
        if l.max_sessions_per_shard == Some(0) {
            return Err(bad("limits.max_sessions_per_shard must be positive".into()));
        }
        let quota =
            crate::Quota::new(l.events_per_month_soft, l.events_per_month_hard).map_err(bad)?;
        if t.high_value_cents < 0 {
            return Err(bad("high_value_cents must not be negative".into()));
        }
        if t.flush_ms == 0 || t.max_batch == 0 || t.max_batch as usize > limits.max_samples {
            return Err(bad(
                "flush_ms must be positive and max_batch within 1..=max_samples".into(),
            ));
        }
        for a in &t.accounts {
            check_account(&a.matches, a.value_cents).map_err(bad)?;
        }
        Ok(Tenant {
            id: Arc::from(t.id.as_str()),
            name: t.name.clone(),
            key_hashes,
            allowed_origins: t.allowed_origins.clone(),
            emit: t.emit,
            flush_ms: t.flush_ms,
            max_batch: t.max_batch,
            policy,
            limits,
            max_sessions_per_shard: l
                .max_sessions_per_shard
                .unwrap_or(crate::DEFAULT_MAX_SESSIONS_PER_SHARD),
            frames_per_sec,
            frame_burst,
            high_value_cents: t.high_value_cents,
            quota,
            contacts: t.contacts.clone(),
            accounts: t.accounts.clone(),
            lake: t.lake.clone(),
            alerts,
            escalations,
            experiments,
        })
    }
}

/// An escalation rule's contacts (as its `actions` rows name them) and the chain it pages, if
/// its contacts are in the alerting config. Refused: neither or both of `chain` and
/// `contacts`; a chain that does not exist; a contact in neither the legacy `contacts` nor
/// `[tenant.alerts]`; with `[tenant.alerts]`, a contact only in the legacy list (it could not
/// be paged, and a page that silently goes nowhere is the worst outcome).
fn escalation(
    rule: &str,
    e: &crate::spec::EscalateSpec,
    legacy: &HashSet<&str>,
    alerts: Option<&Validated>,
) -> Result<(Vec<String>, Option<Policy>), String> {
    match (&e.chain, e.contacts.is_empty()) {
        (Some(name), true) => {
            let Some(a) = alerts else {
                return Err(format!(
                    "rule `{rule}`: chain `{name}` needs a [tenant.alerts] config"
                ));
            };
            let Some(p) = a.chains.get(name) else {
                return Err(format!(
                    "rule `{rule}`: no chain `{name}` in [tenant.alerts.chains]"
                ));
            };
            let contacts = p
                .contacts()
                .iter()
                .map(|c| c.as_str().to_string())
                .collect();
            Ok((contacts, Some(p.clone())))
        }
        (None, false) => {
            let ids = e
                .contacts
                .iter()
                .map(|c| ContactId::new(c.as_str()).map_err(|_| c))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|c| format!("rule `{rule}`: unknown contact `{c}`"))?;
            match alerts {
                Some(a) => {
                    if let Some(c) = ids.iter().find(|c| a.roster.get(c).is_none()) {
                        let c = c.as_str();
                        return Err(match legacy.contains(c) {
                            true => format!(
                                "rule `{rule}`: contact `{c}` is not in [tenant.alerts] contacts, so it could not be paged"
                            ),
                            false => format!("rule `{rule}`: unknown contact `{c}`"),
                        });
                    }
                    Ok((e.contacts.clone(), Some(Policy::one_step(ids))))
                }
                None => match e.contacts.iter().find(|c| !legacy.contains(c.as_str())) {
                    Some(c) => Err(format!("rule `{rule}`: unknown contact `{c}`")),
                    None => Ok((e.contacts.clone(), None)),
                },
            }
        }
        _ => Err(format!(
            "rule `{rule}`: escalate needs exactly one of `chain` or `contacts`"
        )),
    }
}

/// An account of the directory: `matches` is a user id (1 to [`MAX_UID_BYTES`]) or an
/// email domain written `@example.com` (at most 253 bytes, DNS's longest name); the value is
/// not negative.
pub fn check_account(matches: &str, value_cents: i64) -> Result<(), String> {
    let ok = match matches.strip_prefix('@') {
        Some(domain) => !domain.is_empty() && domain.contains('.') && domain.len() <= 253,
        None => !matches.is_empty() && matches.len() <= MAX_UID_BYTES,
    };
    if !ok {
        return Err(format!(
            "account match {}: a user id of 1 to {MAX_UID_BYTES} bytes or an email domain like @example.com",
            shown_name(matches)
        ));
    }
    if value_cents < 0 {
        return Err(format!(
            "account {}: negative lifetime value",
            shown_name(matches)
        ));
    }
    Ok(())
}

/// The spec's overrides over the core's defaults.
fn thresholds(t: &TenantSpec) -> Thresholds {
    let d = Thresholds::default();
    let o = &t.thresholds;
    Thresholds {
        rage_clicks: o.rage_clicks.unwrap_or(d.rage_clicks),
        rage_gap_ms: o.rage_gap_ms.unwrap_or(d.rage_gap_ms),
        rage_radius_px: o.rage_radius_px.unwrap_or(d.rage_radius_px),
        dead_clicks: o.dead_clicks.unwrap_or(d.dead_clicks),
        dead_window_ms: o.dead_window_ms.unwrap_or(d.dead_window_ms),
        error_click_ms: o.error_click_ms.unwrap_or(d.error_click_ms),
        thrash_reversals: o.thrash_reversals.unwrap_or(d.thrash_reversals),
        thrash_window_ms: o.thrash_window_ms.unwrap_or(d.thrash_window_ms),
        scroll_reversals: o.scroll_reversals.unwrap_or(d.scroll_reversals),
        scroll_window_ms: o.scroll_window_ms.unwrap_or(d.scroll_window_ms),
        hesitation_returns: o.hesitation_returns.unwrap_or(d.hesitation_returns),
        escalation_confidence: o.escalation_confidence.unwrap_or(d.escalation_confidence),
        refractory_ms: o.refractory_ms.unwrap_or(d.refractory_ms),
        thrash_min_accel: o.thrash_min_accel.unwrap_or(d.thrash_min_accel),
        stop_ms: o.stop_ms.unwrap_or(d.stop_ms),
        ..d
    }
}

/// A JSON payload as a protocol value.
fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(json_value).collect()),
        serde_json::Value::Object(m) => {
            Value::Map(m.iter().map(|(k, v)| (k.clone(), json_value(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{EscalateSpec, InterveneSpec, RuleSpec};

    fn rule(id: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            emotions: vec!["rage".into()],
            min_confidence: 0.5,
            sections: vec![],
            require_identified: false,
            min_value_cents: 0,
            intervene: Some(InterveneSpec {
                kind: "chat".into(),
                variant: "a".into(),
                payload: Some(serde_json::json!({"text": "Need help?", "n": 2, "x": 1.5})),
            }),
            escalate: None,
            experiment: None,
            session_cooldown_s: 60,
            account_cooldown_s: 0,
        }
    }

    fn refused(t: &TenantSpec, needle: &str) {
        let e = t.validate().expect_err(needle).to_string();
        assert!(e.contains(needle), "{e}");
    }

    #[test]
    fn ids_are_1_to_64_of_lowercase_digits_dash_underscore() {
        for (id, ok) in [
            ("", false),
            ("a", true),
            ("acme_eu-1", true),
            ("Acme", false),
            ("a b", false),
            (&"a".repeat(MAX_ID_LEN - 1), true),
            (&"a".repeat(MAX_ID_LEN), true),
            (&"a".repeat(MAX_ID_LEN + 1), false),
        ] {
            assert_eq!(TenantSpec::new(id).validate().is_ok(), ok, "{id:?}");
        }
    }

    #[test]
    fn frame_and_body_limits_have_floors_in_bytes() {
        let d = Limits::DEFAULT;
        let with = |frame: Option<usize>, body: Option<usize>| {
            let mut t = TenantSpec::new("acme");
            t.limits.max_frame_bytes = frame;
            t.limits.max_http_body_bytes = body;
            t
        };
        // A write below a floor is refused, naming it; at and over it, taken (over the
        // protocol's, lowered to it).
        for n in [0, 128, MIN_FRAME_BYTES - 1] {
            let e = with(Some(n), None).check_floors(None).expect_err("below");
            assert!(
                e.to_string().contains(&format!(
                    "limits.max_frame_bytes must be at least 8192 bytes, not {n}"
                )),
                "{e}"
            );
        }
        for n in [0, 256, MIN_HTTP_BODY_BYTES - 1] {
            let e = with(None, Some(n)).check_floors(None).expect_err("below");
            assert!(
                e.to_string().contains(&format!(
                    "limits.max_http_body_bytes must be at least 65536 bytes, not {n}"
                )),
                "{e}"
            );
        }
        for (frame, applied) in [
            (MIN_FRAME_BYTES, MIN_FRAME_BYTES),
            (MIN_FRAME_BYTES + 1, MIN_FRAME_BYTES + 1),
            (d.max_frame_bytes, d.max_frame_bytes),
            (d.max_frame_bytes + 1, d.max_frame_bytes),
        ] {
            let t = with(Some(frame), None);
            t.check_floors(None).expect("at or over the floor");
            assert_eq!(t.validate().expect("valid").limits.max_frame_bytes, applied);
        }
        for (body, applied) in [
            (MIN_HTTP_BODY_BYTES, MIN_HTTP_BODY_BYTES),
            (MIN_HTTP_BODY_BYTES + 1, MIN_HTTP_BODY_BYTES + 1),
            (d.max_http_body_bytes, d.max_http_body_bytes),
            (d.max_http_body_bytes + 1, d.max_http_body_bytes),
        ] {
            let t = with(None, Some(body));
            t.check_floors(None).expect("at or over the floor");
            assert_eq!(
                t.validate().expect("valid").limits.max_http_body_bytes,
                applied
            );
        }
        // A tenant stored below the floors before they existed: served at them, and a change
        // that keeps its values is taken; one that sets another value below is not.
        let old = with(Some(100), Some(1000));
        let v = old.validate().expect("served");
        assert_eq!(
            (v.limits.max_frame_bytes, v.limits.max_http_body_bytes),
            (MIN_FRAME_BYTES, MIN_HTTP_BODY_BYTES)
        );
        old.check_floors(Some(&old)).expect("unchanged limits");
        with(Some(100), None)
            .check_floors(Some(&old))
            .expect("one kept, one removed");
        assert!(with(Some(99), Some(1000)).check_floors(Some(&old)).is_err());
        assert!(with(Some(100), Some(999)).check_floors(Some(&old)).is_err());
    }

    /// Where `MIN_FRAME_BYTES` comes from: an `id` frame with its uid and email at the string
    /// cap is 4 131 bytes: the floor leaves about as much again for its traits.
    #[test]
    fn an_identify_frame_at_the_string_caps_fits_the_frame_floor() {
        use sentientiq_proto::{ClientFrame, Identify, Seq, client_to_vec};
        let cap = Limits::DEFAULT.max_string_bytes;
        let f = ClientFrame::Identify(Identify {
            seq: Seq(u64::MAX),
            uid: "u".repeat(cap),
            email: Some("e".repeat(cap)),
            traits: Vec::new(),
        });
        let n = client_to_vec(&f).len();
        assert_eq!(n, 4131);
        assert!(n + 4000 <= MIN_FRAME_BYTES, "{n}");
    }

    #[test]
    fn a_payload_becomes_a_protocol_value_and_defaults_apply() {
        let mut t = TenantSpec::new("acme");
        t.rules.push(rule("help"));
        let v = t.validate().expect("valid");
        assert_eq!((v.flush_ms, v.max_batch), (250, 512));
        assert_eq!(v.frames_per_sec, DEFAULT_FRAMES_PER_SEC);
        assert_eq!(
            v.max_sessions_per_shard,
            crate::DEFAULT_MAX_SESSIONS_PER_SHARD
        );
        match &v.policy.rules[0].action {
            RuleAction::Intervene { payload, .. } => match &**payload {
                Value::Map(m) => {
                    assert!(m.contains(&("n".to_string(), Value::Int(2))));
                    assert!(m.contains(&("x".to_string(), Value::Float(1.5))));
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert_eq!(v.policy.rules[0].session_cooldown_ms, 60_000);
    }

    #[test]
    fn what_is_refused_is_named() {
        let mut t = TenantSpec::new("acme");
        t.key_sha256 = vec!["zz".into()];
        refused(&t, "64 hex digits");
        let mut t = TenantSpec::new("acme");
        t.allowed_origins = vec!["shop.example".into()];
        refused(
            &t,
            "origin `shop.example` must be `*`, scheme://host[:port] or an app's",
        );
        t.allowed_origins = vec!["null".into()];
        refused(&t, "origin `null` is what sandboxed frames");
        t.allowed_origins = vec!["capacitor://localhost/index.html".into()];
        refused(&t, "path, @");
        // Whatever is wrong with an origin, credentials in it are never repeated.
        for o in [
            "capacitor://k:s3cret@localhost",
            "ftp://k:s3cret@files.example",
        ] {
            t.allowed_origins = vec![o.into()];
            let e = t.validate().expect_err(o).to_string();
            assert!(e.contains("<credentials>@") && !e.contains("s3cret"), "{e}");
        }
        // An app's origin is taken; a web origin is checked by its prefix only (one stored with
        // a path before the plane checked them keeps its tenant readable).
        t.allowed_origins = vec![
            "capacitor://localhost".into(),
            "https://shop.example/app".into(),
        ];
        assert!(t.validate().is_ok());
        let mut t = TenantSpec::new("acme");
        let mut r = rule("help");
        r.emotions = vec!["anger".into()];
        t.rules.push(r);
        refused(&t, "unknown emotion");
        let mut t = TenantSpec::new("acme");
        t.rules.push(rule("help"));
        t.rules.push(rule("help"));
        refused(&t, "repeated");
        let mut t = TenantSpec::new("acme");
        let mut r = rule("page");
        r.intervene = None;
        r.escalate = Some(EscalateSpec {
            chain: None,
            contacts: vec!["csm".into()],
        });
        t.rules.push(r.clone());
        refused(&t, "unknown contact `csm`");
        t.contacts.push(ContactSpec {
            id: "csm".into(),
            name: String::new(),
            channel: "webhook".into(),
            address: "https://hooks.example/x".into(),
        });
        t.validate().expect("the contact exists now");
        let mut both = r;
        both.intervene = rule("x").intervene;
        t.rules = vec![both];
        refused(&t, "exactly one");
        let mut t = TenantSpec::new("acme");
        t.max_batch = 5000;
        refused(&t, "max_batch");
        let mut t = TenantSpec::new("acme");
        t.high_value_cents = -1;
        refused(&t, "high_value_cents");
        let mut t = TenantSpec::new("acme");
        t.limits.frames_per_sec = Some(0);
        refused(&t, "frames_per_sec");
        let mut t = TenantSpec::new("acme");
        t.thresholds.rage_clicks = Some(0);
        assert!(matches!(t.validate(), Err(Error::Policy { .. })));
        let mut t = TenantSpec::new("acme");
        t.name = "n".repeat(MAX_NAME_LEN + 1);
        refused(&t, "name");
        t.name = "n".repeat(MAX_NAME_LEN);
        t.validate().expect("at the cap");
    }

    #[test]
    fn account_matches_are_a_user_id_or_a_domain() {
        for (m, v, ok) in [
            ("u1", 0, true),
            ("@acme.example", 12_000_000, true),
            ("@", 0, false),
            ("@nodot", 0, false),
            ("", 0, false),
            ("u1", -1, false),
        ] {
            assert_eq!(check_account(m, v).is_ok(), ok, "{m} {v}");
        }
        // A user id as long as an `id` frame's uid may be; a domain as long as DNS allows.
        let cap = MAX_UID_BYTES;
        assert_eq!(cap, 2048);
        let domain = |n: usize| format!("@{}.example", "d".repeat(n - 8));
        for (m, ok) in [
            ("u".repeat(cap - 1), true),
            ("u".repeat(cap), true),
            ("u".repeat(cap + 1), false),
            (domain(252), true),
            (domain(253), true),
            (domain(254), false),
        ] {
            assert_eq!(check_account(&m, 0).is_ok(), ok, "{} bytes", m.len());
        }
        // A refusal shows the match cut, whatever its length.
        let e = check_account(&"u".repeat(cap + 1), 0).expect_err("over");
        assert_eq!(
            e,
            format!(
                "account match {:?}…: a user id of 1 to 2048 bytes or an email domain like \
                 @example.com",
                "u".repeat(80)
            )
        );
    }

    #[test]
    fn a_toml_tenant_table_parses_into_the_spec() {
        let t: TenantSpec = toml::from_str(
            r#"
id = "demo"
key_sha256 = ["fd201facda5fb5fba65e6c90d80657ff6cbf5fb220890c8f950233a9982e579d"]
allowed_origins = ["*"]
[[rules]]
id = "help"
emotions = ["rage"]
intervene = { kind = "chat", variant = "a", payload = { text = "Hi" } }
"#,
        )
        .expect("toml");
        let v = t.validate().expect("valid");
        assert_eq!(v.key_hashes.len(), 1);
        let typo: Result<TenantSpec, _> = toml::from_str("id = \"x\"\nemitt = true\n");
        assert!(typo.is_err(), "unknown keys are refused");
    }

    const ALERTS: &str = r#"
[providers]
slack_bot_token = "xoxb-1111-secret-token"

[[contacts]]
id = "csm"
name = "Ana"
addresses = [{ kind = "slack_chat", channel = "C0123456789" }]

[[contacts]]
id = "vp"
name = "VP"
addresses = [{ kind = "webhook", url = "https://ops.example.com/h", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }]

[chains.enterprise]
steps = [{ contacts = ["csm"] }, { contacts = ["vp"], wait_ms = 120000 }]
"#;

    fn paging(escalate: EscalateSpec) -> TenantSpec {
        let mut t = TenantSpec::new("acme");
        t.alerts = Some(crate::AlertsSpec::from_toml(ALERTS).expect("toml"));
        let mut r = rule("page");
        r.intervene = None;
        r.escalate = Some(escalate);
        t.rules.push(r);
        t
    }

    #[test]
    fn an_escalation_rule_pages_a_chain_or_one_step_of_contacts() {
        let chain = |c: &str| EscalateSpec {
            contacts: vec![],
            chain: Some(c.into()),
        };
        let contacts = |c: &[&str]| EscalateSpec {
            contacts: c.iter().map(|s| s.to_string()).collect(),
            chain: None,
        };
        let v = paging(chain("enterprise")).validate().expect("valid");
        let p = &v.escalations["page"];
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.steps[1].wait_ms, 120_000);
        match &v.policy.rules[0].action {
            RuleAction::Escalate { contacts } => {
                let c: Vec<&str> = contacts.iter().map(|c| &**c).collect();
                assert_eq!(c, ["csm", "vp"], "the actions row names every contact");
            }
            other => panic!("{other:?}"),
        }
        let v = paging(contacts(&["vp"])).validate().expect("valid");
        assert_eq!(v.escalations["page"].steps.len(), 1);
        assert_eq!(v.escalations["page"].steps[0].wait_ms, 60_000);

        refused(&paging(chain("nope")), "no chain `nope`");
        refused(&paging(contacts(&["ceo"])), "unknown contact `ceo`");
        let both = EscalateSpec {
            contacts: vec!["csm".into()],
            chain: Some("enterprise".into()),
        };
        refused(&paging(both), "exactly one of `chain` or `contacts`");
        refused(
            &paging(contacts(&[])),
            "exactly one of `chain` or `contacts`",
        );
        // A legacy contact cannot be paged once the tenant has an alerting config.
        let mut t = paging(contacts(&["old"]));
        t.contacts.push(ContactSpec {
            id: "old".into(),
            name: String::new(),
            channel: "email".into(),
            address: "a@b.example".into(),
        });
        refused(&t, "could not be paged");
        // Without one, legacy contacts are recorded, not delivered.
        t.alerts = None;
        let v = t.validate().expect("legacy");
        assert!(v.escalations.is_empty() && v.alerts.is_none());
        // A chain needs an alerting config.
        let mut t = paging(chain("enterprise"));
        t.alerts = None;
        refused(&t, "needs a [tenant.alerts] config");
        // The alerting config itself is validated.
        let mut t = paging(chain("enterprise"));
        t.alerts = Some(
            crate::AlertsSpec::from_toml(&ALERTS.replace("\"vp\"]", "\"cfo\"]")).expect("toml"),
        );
        refused(&t, "alerts: chain names unknown contact cfo");
    }

    #[test]
    fn the_alerting_config_travels_whole_but_is_never_shown() {
        let a = crate::AlertsSpec::from_toml(ALERTS).expect("toml");
        let debug = format!("{:?}", paging(EscalateSpec::default()));
        assert!(
            !debug.contains("xoxb") && !debug.contains("whsec"),
            "{debug}"
        );
        let red = a.redacted().expect("redacted");
        assert!(
            !red.contains("xoxb-1111") && !red.contains("whsec_"),
            "{red}"
        );
        assert!(
            red.contains("[redacted]") && red.contains("C0123456789"),
            "{red}"
        );
        // What edges get: every secret, and it parses back to the same config.
        let whole = a.to_toml();
        assert!(whole.contains("xoxb-1111-secret-token"));
        assert_eq!(crate::AlertsSpec::from_toml(&whole).expect("again"), a);
        // A TOML file's [tenant.alerts] is the same thing.
        let file = format!(
            "id = \"acme\"\n[alerts]\n{}",
            ALERTS
                .replace("[providers]", "[alerts.providers]")
                .replace("[[contacts]]", "[[alerts.contacts]]")
                .replace("[chains.", "[alerts.chains.")
        );
        let t: TenantSpec = toml::from_str(&file).expect("file");
        assert_eq!(t.alerts.as_ref(), Some(&a));
    }

    #[test]
    fn the_alerting_config_is_capped() {
        let cap = crate::MAX_ALERTS_TOML;
        let pad = |n: usize| format!("# {}\n", "x".repeat(n - 3));
        for (n, ok) in [(cap - 1, true), (cap, true), (cap + 1, false)] {
            let text = pad(n);
            assert_eq!(text.len(), n);
            let r = crate::AlertsSpec::from_toml(&text);
            assert_eq!(r.is_ok(), ok, "{n} bytes");
            if let Err(e) = r {
                assert!(e.contains("at most"), "{e}");
            }
        }
    }

    /// A rule with an experiment instead of `intervene`.
    fn experiment_rule(edit: impl FnOnce(&mut crate::ExperimentSpec)) -> TenantSpec {
        let mut x = crate::ExperimentSpec::new(&["chat", "offer-10", "help"]);
        edit(&mut x);
        let mut r = rule("help");
        r.intervene = None;
        r.experiment = Some(x);
        let mut t = TenantSpec::new("acme");
        t.rules.push(r);
        t
    }

    #[test]
    fn a_toml_rule_may_carry_variants_and_a_holdout() {
        let t: TenantSpec = toml::from_str(
            r#"
id = "acme"
[[rules]]
id = "rage-checkout"
emotions = ["rage"]
session_cooldown_s = 60
[rules.experiment]
holdout_share = 0.2
attribution_window_ms = 600000
[[rules.experiment.variants]]
id = "chat"
kind = "chat"
payload = { text = "Need a hand?" }
[[rules.experiment.variants]]
id = "offer-10"
kind = "offer"
payload = { pct = 10 }
paused = true
"#,
        )
        .expect("toml");
        let v = t.validate().expect("valid");
        let x = &v.experiments["rage-checkout"];
        let e = &x.experiment;
        assert_eq!(e.rule_id(), "rage-checkout");
        assert_eq!(e.holdout_share(), 0.2);
        assert_eq!(e.attribution_window_ms(), 600_000);
        // Unset settings take the experiment crate's defaults.
        assert_eq!(e.burn_in(), sentientiq_experiments::config::DEFAULT_BURN_IN);
        assert_eq!(
            e.floor_weight(),
            sentientiq_experiments::config::DEFAULT_FLOOR_WEIGHT
        );
        assert_eq!((e.n_variants(), e.n_active()), (2, 1));
        assert_eq!(
            x.variants[1],
            VariantIv {
                kind: Arc::from("offer"),
                variant: Arc::from("offer-10"),
                payload: Arc::new(Value::Map(vec![("pct".into(), Value::Int(10))])),
            }
        );
        // The core's rule acts as an intervention (variant 0 stands in for the edge's choice).
        match &v.policy.rules[0].action {
            RuleAction::Intervene { kind, variant, .. } => {
                assert_eq!((&**kind, &**variant), ("chat", "chat"));
            }
            other => panic!("{other:?}"),
        }
        let typo =
            "id = \"a\"\n[[rules]]\nid = \"r\"\n[rules.experiment]\nholdout = 0.1\nvariants = []\n";
        assert!(
            toml::from_str::<TenantSpec>(typo).is_err(),
            "unknown experiment keys are refused"
        );
        let no_kind =
            "id = \"a\"\n[[rules]]\nid = \"r\"\n[rules.experiment]\nvariants = [{ id = \"v\" }]\n";
        assert!(
            toml::from_str::<TenantSpec>(no_kind).is_err(),
            "a variant names its intervention's kind"
        );
    }

    #[test]
    fn an_experiment_is_validated_by_the_experiment_crate() {
        use sentientiq_experiments::MAX_VARIANTS;
        use sentientiq_experiments::config::{
            MAX_ATTRIBUTION_WINDOW_MS, MAX_BURN_IN, MAX_HOLDOUT_SHARE, MAX_ID_BYTES,
            MIN_ATTRIBUTION_WINDOW_MS,
        };
        let check = |edit: &dyn Fn(&mut crate::ExperimentSpec), ok: bool, needle: &str| {
            let t = experiment_rule(edit);
            match t.validate() {
                Ok(_) => assert!(ok, "{needle}: accepted"),
                Err(e) => {
                    let e = e.to_string();
                    assert!(!ok, "{needle}: refused: {e}");
                    assert!(
                        e.contains("rule `help`: experiment: ") && e.contains(needle),
                        "{e}"
                    );
                }
            }
        };
        let variants = |n: usize| {
            move |x: &mut crate::ExperimentSpec| {
                *x = crate::ExperimentSpec::new(&[]);
                x.floor_weight = 0.0;
                for i in 0..n {
                    x.variants.push(crate::VariantSpec {
                        id: format!("v{i}"),
                        kind: "chat".into(),
                        payload: None,
                        paused: false,
                    });
                }
            }
        };
        // Variants: 1..=MAX_VARIANTS.
        check(&variants(0), false, "0 variants");
        check(&variants(MAX_VARIANTS - 1), true, "cap - 1");
        check(&variants(MAX_VARIANTS), true, "cap");
        check(&variants(MAX_VARIANTS + 1), false, "9 variants");
        // Variant ids: at most MAX_ID_BYTES, distinct.
        for (len, ok) in [
            (MAX_ID_BYTES - 1, true),
            (MAX_ID_BYTES, true),
            (MAX_ID_BYTES + 1, false),
        ] {
            check(&|x| x.variants[0].id = "v".repeat(len), ok, "bytes long");
        }
        check(
            &|x| x.variants[1].id = "chat".into(),
            false,
            "more than once",
        );
        // Holdout share: 0..=½.
        check(&|x| x.holdout_share = 0.0, true, "holdout 0");
        check(
            &|x| x.holdout_share = MAX_HOLDOUT_SHARE.next_down(),
            true,
            "cap - 1",
        );
        check(&|x| x.holdout_share = MAX_HOLDOUT_SHARE, true, "cap");
        check(
            &|x| x.holdout_share = MAX_HOLDOUT_SHARE.next_up(),
            false,
            "holdout_share",
        );
        // Burn-in: at most MAX_BURN_IN.
        check(
            &|x| x.burn_in_min_samples = MAX_BURN_IN - 1,
            true,
            "cap - 1",
        );
        check(&|x| x.burn_in_min_samples = MAX_BURN_IN, true, "cap");
        check(
            &|x| x.burn_in_min_samples = MAX_BURN_IN + 1,
            false,
            "burn_in_min_samples",
        );
        // Floor weight: at most 1/k (three variants here).
        check(&|x| x.floor_weight = 1.0 / 3.0, true, "cap");
        check(
            &|x| x.floor_weight = (1.0f64 / 3.0).next_up(),
            false,
            "floor_weight",
        );
        // Attribution window: MIN..=MAX.
        for (w, ok) in [
            (MIN_ATTRIBUTION_WINDOW_MS - 1, false),
            (MIN_ATTRIBUTION_WINDOW_MS, true),
            (MAX_ATTRIBUTION_WINDOW_MS, true),
            (MAX_ATTRIBUTION_WINDOW_MS + 1, false),
        ] {
            check(
                &|x| x.attribution_window_ms = w,
                ok,
                "attribution_window_ms",
            );
        }
        // An experiment is the rule's action: not beside `intervene` or `escalate`.
        let mut t = experiment_rule(|_| {});
        t.rules[0].intervene = rule("x").intervene;
        refused(&t, "exactly one of `intervene`, `escalate` or `experiment`");
        // Every variant may be paused (the experiment stops; no session is enrolled).
        let mut t = experiment_rule(|x| x.variants.iter_mut().for_each(|v| v.paused = true));
        let v = t.validate().expect("all paused is a stopped experiment");
        assert_eq!(v.experiments["help"].experiment.n_active(), 0);
        t.rules[0].experiment = None;
        refused(&t, "exactly one");
    }
}
