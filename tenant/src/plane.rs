//! The control plane's gRPC `Tenant` as a [`TenantSpec`]: the plane validates with it before it
//! stores a tenant, and edges build their runtime tenant from it, so both refuse the same things.
//!
//! Settings the plane does not carry (flush interval, batch size, hesitation sections, checkout
//! markers, the high-value mark, the finer thresholds) take the same defaults as in a file.
//! Names that differ: `thrash_min_accel_px_per_ms2` is `thrash_min_accel`, `hesitation_dwell_ms`
//! is `stop_ms`, and `limits.max_sessions` is per shard, as `limits.max_sessions_per_shard` in a
//! file.

use sentientiq_proto::grpc::{self, rule::Action};

use crate::spec::{
    AlertsSpec, ContactSpec, Dnt, EscalateSpec, ExperimentSpec, InterveneSpec, LabelSpec, LakeSpec,
    LimitsSpec, RuleSpec, TenantSpec, ThresholdsSpec, VariantSpec, d_variant,
};
use crate::{Error, Tenant};
use sentientiq_experiments::{Arm, ArmCounts, Experiment, ExperimentCounts};

impl TenantSpec {
    /// The spec of a plane tenant. Fails only on what cannot be mapped (a payload that is not
    /// JSON); everything else is [`TenantSpec::validate`]'s.
    pub fn from_plane(t: &grpc::Tenant) -> Result<TenantSpec, Error> {
        let th = t.thresholds.unwrap_or_default();
        let lim = t.limits.unwrap_or_default();
        let mut rules = Vec::with_capacity(t.rules.len());
        for r in &t.rules {
            let payload = |json: &str| match json.trim() {
                "" => Ok(None),
                json => serde_json::from_str(json)
                    .map(Some)
                    .map_err(|e| Error::Invalid {
                        tenant: t.id.clone(),
                        msg: format!("rule `{}`: payload_json: {e}", r.id),
                    }),
            };
            let mut experiment = None;
            let (intervene, escalate) = match &r.action {
                Some(Action::Experiment(x)) => {
                    let mut spec = ExperimentSpec::new(&[]);
                    for v in &x.variants {
                        spec.variants.push(VariantSpec {
                            id: v.id.clone(),
                            kind: v.kind.clone(),
                            payload: payload(&v.payload_json)?,
                            paused: v.paused,
                        });
                    }
                    spec.holdout_share = x.holdout_share.unwrap_or(spec.holdout_share);
                    spec.burn_in_min_samples =
                        x.burn_in_min_samples.unwrap_or(spec.burn_in_min_samples);
                    spec.floor_weight = x.floor_weight.unwrap_or(spec.floor_weight);
                    spec.attribution_window_ms = x
                        .attribution_window_ms
                        .unwrap_or(spec.attribution_window_ms);
                    experiment = Some(spec);
                    (None, None)
                }
                Some(Action::Intervention(i)) => {
                    let payload = payload(&i.payload_json)?;
                    let variant = match i.variant.as_str() {
                        "" => d_variant(),
                        v => v.to_string(),
                    };
                    let kind = i.kind.clone();
                    (
                        Some(InterveneSpec {
                            kind,
                            variant,
                            payload,
                        }),
                        None,
                    )
                }
                Some(Action::Escalation(e)) => (
                    None,
                    Some(EscalateSpec {
                        contacts: e.contact_ids.clone(),
                        chain: Some(e.chain.clone()).filter(|c| !c.is_empty()),
                    }),
                ),
                None => (None, None),
            };
            rules.push(RuleSpec {
                id: r.id.clone(),
                emotions: r.emotions.clone(),
                min_confidence: r.min_confidence,
                sections: r.sections.clone(),
                require_identified: r.require_identified,
                min_value_cents: r.min_value_cents,
                intervene,
                escalate,
                experiment,
                session_cooldown_s: u64::from(r.session_cooldown_s),
                account_cooldown_s: u64::from(r.account_cooldown_s),
            });
        }
        let lake = t.lake.clone().unwrap_or_default();
        let mut spec = TenantSpec::new(&t.id);
        spec.name = t.name.clone();
        spec.key_sha256 = t.key_hashes.clone();
        spec.allowed_origins = t.allowed_origins.clone();
        spec.emit = t.emit;
        spec.dnt = if t.dnt == grpc::DntPolicy::Drop as i32 {
            Dnt::Drop
        } else {
            Dnt::Anonymous
        };
        spec.thresholds = ThresholdsSpec {
            rage_clicks: th.rage_clicks,
            rage_gap_ms: th.rage_gap_ms,
            rage_radius_px: th.rage_radius_px.map(f64::from),
            dead_clicks: th.dead_clicks,
            dead_window_ms: th.dead_window_ms,
            thrash_reversals: th.thrash_reversals,
            thrash_window_ms: th.thrash_window_ms,
            escalation_confidence: th.escalation_confidence,
            thrash_min_accel: th.thrash_min_accel_px_per_ms2,
            stop_ms: th.hesitation_dwell_ms,
            ..ThresholdsSpec::default()
        };
        spec.limits = LimitsSpec {
            max_frame_bytes: lim.max_frame_bytes.map(|v| v as usize),
            max_samples: lim.max_samples.map(|v| v as usize),
            max_sessions_per_shard: lim.max_sessions.map(|v| v as usize),
            events_per_month_soft: lim.events_per_month_soft,
            events_per_month_hard: lim.events_per_month_hard,
            ..LimitsSpec::default()
        };
        if let Some(v) = t.high_value_cents {
            spec.high_value_cents = v;
        }
        spec.labels = t
            .labels
            .iter()
            .map(|l| LabelSpec {
                emotion: l.emotion.clone(),
                section: l.section.clone(),
                label: l.label.clone(),
            })
            .collect();
        spec.contacts = t
            .contacts
            .iter()
            .map(|c| ContactSpec {
                id: c.id.clone(),
                name: c.name.clone(),
                channel: c.channel.clone(),
                address: c.address.clone(),
            })
            .collect();
        spec.rules = rules;
        if !t.alerts_toml.is_empty() {
            spec.alerts =
                Some(
                    AlertsSpec::from_toml(&t.alerts_toml).map_err(|msg| Error::Invalid {
                        tenant: t.id.clone(),
                        msg,
                    })?,
                );
        }
        spec.lake = LakeSpec {
            bucket: Some(lake.bucket).filter(|b| !b.is_empty()),
            prefix: Some(lake.prefix).filter(|p| !p.is_empty()),
        };
        Ok(spec)
    }
}

/// A plane tenant, mapped and validated.
pub fn validate(t: &grpc::Tenant) -> Result<Tenant, Error> {
    TenantSpec::from_plane(t)?.validate()
}

/// One arm's counts on the wire (`ArmTally`), under the variant id `variant` (empty: the
/// holdout).
pub fn arm_tally(variant: &str, c: &ArmCounts) -> grpc::ArmTally {
    let halves = |x: u128| ((x >> 64) as u64, x as u64);
    let (sq_hi, sq_lo) = halves(c.revenue_sq);
    let (cube_hi, cube_lo) = halves(c.revenue_cube);
    grpc::ArmTally {
        variant: variant.to_string(),
        sessions: c.sessions,
        conversions: c.conversions,
        revenue_cents: c.revenue_cents,
        revenue_sq_hi: sq_hi,
        revenue_sq_lo: sq_lo,
        revenue_cube_hi: cube_hi,
        revenue_cube_lo: cube_lo,
        shown: c.shown,
        clicked: c.clicked,
        dismissed: c.dismissed,
    }
}

/// The counts an `ArmTally` carries.
pub fn arm_counts(t: &grpc::ArmTally) -> ArmCounts {
    let whole = |hi: u64, lo: u64| (u128::from(hi) << 64) | u128::from(lo);
    ArmCounts {
        sessions: t.sessions,
        conversions: t.conversions,
        revenue_cents: t.revenue_cents,
        revenue_sq: whole(t.revenue_sq_hi, t.revenue_sq_lo),
        revenue_cube: whole(t.revenue_cube_hi, t.revenue_cube_lo),
        shown: t.shown,
        clicked: t.clicked,
        dismissed: t.dismissed,
    }
}

/// An experiment's counts (arms by index) on the wire, arms by id: the holdout, then every
/// variant of `exp` with any count. Ids, not indices, travel, so edges running different
/// versions of a rule's variant list still add up the same variant.
pub fn tallies(exp: &Experiment, c: &ExperimentCounts) -> Vec<grpc::ArmTally> {
    let mut out = vec![arm_tally("", &c.holdout)];
    for (v, counts) in exp.variants().iter().zip(&c.variants) {
        if *counts != ArmCounts::default() {
            out.push(arm_tally(&v.id, counts));
        }
    }
    out
}

/// Tallies back as `exp`'s counts, summed per arm; a variant `exp` does not have (removed from
/// the rule) is left out.
pub fn counts_of(exp: &Experiment, tallies: &[grpc::ArmTally]) -> ExperimentCounts {
    let mut c = ExperimentCounts::default();
    for t in tallies {
        let arm = if t.variant.is_empty() {
            Some(Arm::Holdout)
        } else {
            exp.variants()
                .iter()
                .position(|v| v.id == t.variant)
                .and_then(|i| u8::try_from(i).ok())
                .map(Arm::Variant)
        };
        if let Some(a) = arm.and_then(|a| c.arm_mut(a)) {
            a.merge(&arm_counts(t));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_core::{DntPolicy, RuleAction, Thresholds};
    use sentientiq_proto::Value;

    #[test]
    fn a_plane_tenant_maps_onto_the_same_settings_as_a_file_tenant() {
        let mut t = grpc::Tenant {
            id: "acme".into(),
            key_hashes: vec!["ab".repeat(32)],
            allowed_origins: vec!["https://acme.example".into()],
            thresholds: Some(grpc::Thresholds {
                rage_clicks: Some(7),
                hesitation_dwell_ms: Some(900),
                thrash_min_accel_px_per_ms2: Some(0.02),
                ..grpc::Thresholds::default()
            }),
            limits: Some(grpc::Limits {
                max_sessions: Some(5),
                events_per_month_soft: Some(800),
                events_per_month_hard: Some(1_000),
                ..grpc::Limits::default()
            }),
            dnt: grpc::DntPolicy::Drop as i32,
            emit: true,
            high_value_cents: Some(2_500_000),
            ..grpc::Tenant::default()
        };
        t.rules.push(grpc::Rule {
            id: "help".into(),
            emotions: vec!["rage".into()],
            action: Some(Action::Intervention(grpc::Intervention {
                kind: "chat".into(),
                variant: String::new(),
                payload_json: r#"{"text":"Need help?"}"#.into(),
            })),
            ..grpc::Rule::default()
        });
        let e = validate(&t).expect("valid");
        let th = &e.policy.thresholds;
        assert_eq!((th.rage_clicks, th.stop_ms), (7, 900));
        assert_eq!(th.thrash_min_accel, 0.02);
        assert_eq!(
            th.rage_gap_ms,
            Thresholds::default().rage_gap_ms,
            "unset: default"
        );
        assert_eq!(e.max_sessions_per_shard, 5);
        assert_eq!(
            e.quota,
            crate::Quota {
                soft: Some(800),
                hard: Some(1_000)
            }
        );
        assert_eq!(e.high_value_cents, 2_500_000);
        assert_eq!(e.policy.dnt, DntPolicy::Drop);
        assert!(e.emit);
        assert_eq!(e.key_hashes, vec![[0xab; 32]]);
        match &e.policy.rules[0].action {
            RuleAction::Intervene {
                variant, payload, ..
            } => {
                assert_eq!(&**variant, "default");
                assert!(matches!(&**payload, Value::Map(_)), "{payload:?}");
            }
            other => panic!("{other:?}"),
        }
        // What a file would refuse, the plane's tenant is refused for too.
        t.rules[0].action = Some(Action::Intervention(grpc::Intervention {
            kind: "chat".into(),
            variant: "a".into(),
            payload_json: "{not json".into(),
        }));
        assert!(validate(&t).is_err());
        t.rules.clear();
        t.thresholds = Some(grpc::Thresholds {
            rage_clicks: Some(0),
            ..grpc::Thresholds::default()
        });
        assert!(validate(&t).is_err(), "rage_clicks = 0");
        t.thresholds = None;
        t.rules.push(grpc::Rule {
            id: "page".into(),
            emotions: vec!["rage".into()],
            action: Some(Action::Escalation(grpc::Escalation {
                contact_ids: vec!["csm".into()],
                chain: String::new(),
            })),
            ..grpc::Rule::default()
        });
        let e = validate(&t).expect_err("unknown contact").to_string();
        assert!(e.contains("unknown contact"), "{e}");

        // An experiment: mapped onto the file's settings, validated by the experiment crate.
        let variant = |id: &str, payload_json: &str| grpc::Variant {
            id: id.into(),
            kind: "chat".into(),
            payload_json: payload_json.into(),
            paused: false,
        };
        let experiment = |x: grpc::Experiment| grpc::Tenant {
            id: "acme".into(),
            rules: vec![grpc::Rule {
                id: "help".into(),
                emotions: vec!["rage".into()],
                action: Some(Action::Experiment(x)),
                ..grpc::Rule::default()
            }],
            ..grpc::Tenant::default()
        };
        let e = validate(&experiment(grpc::Experiment {
            variants: vec![variant("a", r#"{"text":"Hi"}"#), variant("b", "")],
            holdout_share: Some(0.25),
            ..grpc::Experiment::default()
        }))
        .expect("valid");
        let x = &e.experiments["help"];
        assert_eq!(x.experiment.holdout_share(), 0.25);
        assert_eq!(
            x.experiment.burn_in(),
            sentientiq_experiments::config::DEFAULT_BURN_IN,
            "unset: the experiment crate's default"
        );
        assert!(matches!(&*x.variants[0].payload, Value::Map(_)));
        assert_eq!(*x.variants[1].payload, Value::Nil);
        let e = validate(&experiment(grpc::Experiment {
            variants: vec![variant("a", "")],
            holdout_share: Some(0.75),
            ..grpc::Experiment::default()
        }))
        .expect_err("holdout above one half")
        .to_string();
        assert!(e.contains("rule `help`: experiment: holdout_share"), "{e}");
        let e = validate(&experiment(grpc::Experiment {
            variants: vec![variant("a", "{nope")],
            ..grpc::Experiment::default()
        }))
        .expect_err("bad payload")
        .to_string();
        assert!(e.contains("payload_json"), "{e}");
    }

    #[test]
    fn tallies_carry_every_count_exactly_and_arms_by_id() {
        let exp = sentientiq_experiments::ExperimentConfig::new("help", &["chat", "offer"])
            .validate()
            .expect("valid");
        let mut c = ExperimentCounts::default();
        c.holdout.sessions = 7;
        c.variants[1] = ArmCounts {
            sessions: 3,
            conversions: 2,
            revenue_cents: 1234,
            revenue_sq: u128::MAX - 5,
            revenue_cube: (1u128 << 100) + 9,
            shown: 3,
            clicked: 1,
            dismissed: 1,
        };
        let t = tallies(&exp, &c);
        // The holdout always, then only variants with counts, by id.
        assert_eq!(
            t.iter().map(|t| t.variant.as_str()).collect::<Vec<_>>(),
            ["", "offer"]
        );
        assert_eq!(counts_of(&exp, &t), c);
        // The same ids in another order (a newer version of the rule) add up the same arms; an
        // id the rule no longer has is left out.
        let reordered = sentientiq_experiments::ExperimentConfig::new("help", &["offer", "chat"])
            .validate()
            .expect("valid");
        let mut more = t.clone();
        more.push(arm_tally("gone", &c.variants[1]));
        let back = counts_of(&reordered, &more);
        assert_eq!((back.variants[0], back.holdout), (c.variants[1], c.holdout));
        assert_eq!(back.variants[1], ArmCounts::default());
    }
}
