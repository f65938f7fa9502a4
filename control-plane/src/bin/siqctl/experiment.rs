//! `siqctl experiment create|pause|show` and `siqctl forensics` (issue 17).

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sentientiq_control::forensics::{TenantForensics, render};
use sentientiq_proto::grpc::{self, Tenant, rule::Action};
use serde::Serialize;

use super::ExperimentArgs;

#[derive(Debug, Subcommand)]
pub enum ExperimentCmd {
    /// Turns a rule's intervention into an experiment over variants (its conditions stay).
    Create {
        tenant: String,
        rule: String,
        #[command(flatten)]
        args: Box<ExperimentArgs>,
    },
    /// Pauses variants (none named: all of them, which stops assigning); `--resume` undoes it.
    /// A paused variant keeps its counts and its sessions keep their arm.
    Pause {
        tenant: String,
        rule: String,
        variants: Vec<String>,
        #[arg(long)]
        resume: bool,
    },
    /// A rule's experiment: its settings and its forensics over the last `--days`.
    Show {
        tenant: String,
        rule: String,
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
}

impl ExperimentCmd {
    pub fn tenant(&self) -> &str {
        match self {
            ExperimentCmd::Create { tenant, .. }
            | ExperimentCmd::Pause { tenant, .. }
            | ExperimentCmd::Show { tenant, .. } => tenant,
        }
    }
}

/// The experiment the flags describe.
pub fn experiment_of(args: ExperimentArgs) -> Result<grpc::Experiment> {
    let ExperimentArgs {
        variants,
        paused,
        holdout,
        burn_in,
        floor,
        attribution_window_s,
    } = args;
    if variants.is_empty() {
        bail!("an experiment needs --variant ID:KIND[:PAYLOAD_JSON] (repeatable)");
    }
    let mut x = grpc::Experiment {
        holdout_share: holdout,
        burn_in_min_samples: burn_in,
        floor_weight: floor,
        attribution_window_ms: attribution_window_s.map(|s| s.saturating_mul(1000)),
        ..grpc::Experiment::default()
    };
    for v in variants {
        let mut parts = v.splitn(3, ':');
        let id = parts.next().unwrap_or_default().to_string();
        let kind = parts.next().unwrap_or_default().to_string();
        let payload_json = parts.next().unwrap_or("{}").to_string();
        if id.is_empty() || kind.is_empty() {
            bail!("--variant ID:KIND[:PAYLOAD_JSON]");
        }
        serde_json::from_str::<serde_json::Value>(&payload_json)
            .with_context(|| format!("--variant payload `{payload_json}`"))?;
        x.variants.push(grpc::Variant {
            paused: paused.contains(&id),
            id,
            kind,
            payload_json,
        });
    }
    if let Some(p) = paused
        .iter()
        .find(|p| !x.variants.iter().any(|v| v.id == **p))
    {
        bail!("--paused {p}: no such --variant");
    }
    Ok(x)
}

fn rule_mut<'a>(t: &'a mut Tenant, rule: &str) -> Result<&'a mut grpc::Rule> {
    let id = t.id.clone();
    t.rules.iter_mut().find(|r| r.id == rule).with_context(|| {
        format!("tenant {id} has no rule {rule} (add one with `siqctl tenant edit rule`)")
    })
}

/// Applies `create` or `pause` to the tenant (read, change, write back by the caller).
pub fn edit(t: &mut Tenant, cmd: ExperimentCmd) -> Result<String> {
    match cmd {
        ExperimentCmd::Create { rule, args, .. } => {
            let r = rule_mut(t, &rule)?;
            match &r.action {
                Some(Action::Experiment(_)) => bail!(
                    "rule {rule} already runs an experiment: pause it, or append variants with \
                     `siqctl tenant edit rule` (never reorder or remove: counts are by variant)"
                ),
                Some(Action::Escalation(_)) => bail!(
                    "rule {rule} escalates to people; experiments are on interventions shown on \
                     the page"
                ),
                Some(Action::Intervention(_)) | None => {}
            }
            let x = experiment_of(*args)?;
            let n = x.variants.len();
            r.action = Some(Action::Experiment(x));
            Ok(format!(
                "rule {rule} now runs an experiment over {n} variant(s)"
            ))
        }
        ExperimentCmd::Pause {
            rule,
            variants,
            resume,
            ..
        } => {
            let r = rule_mut(t, &rule)?;
            let Some(Action::Experiment(x)) = &mut r.action else {
                bail!("rule {rule} runs no experiment");
            };
            if let Some(v) = variants
                .iter()
                .find(|v| !x.variants.iter().any(|have| have.id == **v))
            {
                bail!("rule {rule} has no variant {v}");
            }
            for v in &mut x.variants {
                if variants.is_empty() || variants.contains(&v.id) {
                    v.paused = !resume;
                }
            }
            let active: Vec<&str> = x
                .variants
                .iter()
                .filter(|v| !v.paused)
                .map(|v| v.id.as_str())
                .collect();
            Ok(if active.is_empty() {
                format!("rule {rule}: every variant paused; no session is assigned")
            } else {
                format!("rule {rule}: active variants {}", active.join(", "))
            })
        }
        ExperimentCmd::Show { .. } => bail!("show changes nothing"),
    }
}

/// What `experiment show` prints: the rule's experiment as configured, and its forensics.
#[derive(Debug, Serialize)]
pub struct Shown {
    pub rule: String,
    pub experiment: Option<grpc::Experiment>,
    pub forensics: Option<sentientiq_control::forensics::ExperimentForensics>,
}

pub fn show(t: &Tenant, rule: &str, f: &TenantForensics) -> Result<Shown> {
    let r = t
        .rules
        .iter()
        .find(|r| r.id == rule)
        .with_context(|| format!("tenant {} has no rule {rule}", t.id))?;
    let experiment = match &r.action {
        Some(Action::Experiment(x)) => Some(x.clone()),
        _ => None,
    };
    Ok(Shown {
        rule: rule.to_string(),
        experiment,
        forensics: f.experiments.iter().find(|x| x.rule == rule).cloned(),
    })
}

pub fn render_shown(s: &Shown, f: &TenantForensics) -> String {
    let mut out = String::new();
    match &s.experiment {
        Some(x) => {
            out += &format!(
                "rule {}: holdout {}, burn-in {}, floor {}, attribution window {} s\n",
                s.rule,
                x.holdout_share
                    .map_or("0.1 (default)".into(), |h| h.to_string()),
                x.burn_in_min_samples
                    .map_or("100 (default)".into(), |b| b.to_string()),
                x.floor_weight
                    .map_or("0.01 (default)".into(), |w| w.to_string()),
                x.attribution_window_ms
                    .map_or("1800 (default)".into(), |ms| (ms / 1000).to_string()),
            );
            for v in &x.variants {
                out += &format!(
                    "  variant {:<12} {}{}\n",
                    v.id,
                    v.kind,
                    if v.paused { "  (paused)" } else { "" }
                );
            }
        }
        None => out += &format!("rule {}: runs no experiment\n", s.rule),
    }
    if let Some(x) = &s.forensics {
        let one = TenantForensics {
            experiments: vec![x.clone()],
            ..f.clone()
        };
        out += &render(&one);
    }
    out
}
