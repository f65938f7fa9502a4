//! False-positive rates per emotion from the labels people gave alerts, pure.
//!
//! An alert opened in the range is labelled when a person answered it: *False alarm* (its
//! state `false_alarm`) is a false positive; an acknowledgement (state `acknowledged`, or a
//! closed alert someone acknowledged) is a true alarm. Alerts nobody answered are not labels.
//! The classification is the one [`crate::forensics::tenant_forensics`] counts its failures
//! with. The rate is false alarms / labelled alerts with Wilson's 95 % interval
//! ([`sentientiq_experiments::stats::wilson`]), and is only shown from [`MIN_LABELS`] labels.

use sentientiq_experiments::Estimate;
use sentientiq_experiments::stats::wilson;
use sentientiq_proto::grpc::AlertRecord;

/// Fewest labelled alerts of an emotion for which a rate is shown.
pub const MIN_LABELS: u64 = 10;

/// The emotions edges detect, in their usual order; others found in alerts follow.
pub const EMOTIONS: [&str; 5] = [
    "rage",
    "frustration",
    "hesitation",
    "confusion",
    "abandonment",
];

/// One emotion's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct EmotionLabels {
    pub emotion: String,
    /// Alerts opened in the range.
    pub alerts: u64,
    pub true_alarms: u64,
    pub false_alarms: u64,
    /// False alarms / labelled, with its 95 % interval; `None` below [`MIN_LABELS`] labels.
    pub rate: Option<Estimate>,
}

impl EmotionLabels {
    pub fn labelled(&self) -> u64 {
        self.true_alarms + self.false_alarms
    }
}

/// What a person said of an alert: `Some(true)` a false alarm, `Some(false)` a true one,
/// `None` unanswered.
pub fn label(a: &AlertRecord) -> Option<bool> {
    match a.state.as_str() {
        "false_alarm" => Some(true),
        "acknowledged" => Some(false),
        _ if a.acked_by.is_empty() => None,
        _ => Some(false),
    }
}

/// Per emotion, the labels of `tenant`'s alerts opened in `[from_ms, to_ms)`: the five
/// detected emotions always, then any other emotion found, by name.
pub fn by_emotion(
    tenant: &str,
    from_ms: i64,
    to_ms: i64,
    alerts: &[AlertRecord],
) -> Vec<EmotionLabels> {
    let mut out: Vec<EmotionLabels> = EMOTIONS
        .iter()
        .map(|e| EmotionLabels {
            emotion: (*e).to_string(),
            alerts: 0,
            true_alarms: 0,
            false_alarms: 0,
            rate: None,
        })
        .collect();
    let mut others: std::collections::BTreeMap<String, EmotionLabels> = Default::default();
    for a in alerts
        .iter()
        .filter(|a| a.tenant_id == tenant && (from_ms..to_ms).contains(&a.opened_ms))
    {
        let row = match out.iter_mut().find(|r| r.emotion == a.emotion) {
            Some(r) => r,
            None => others
                .entry(a.emotion.clone())
                .or_insert_with(|| EmotionLabels {
                    emotion: a.emotion.clone(),
                    alerts: 0,
                    true_alarms: 0,
                    false_alarms: 0,
                    rate: None,
                }),
        };
        row.alerts += 1;
        match label(a) {
            Some(true) => row.false_alarms += 1,
            Some(false) => row.true_alarms += 1,
            None => {}
        }
    }
    out.extend(others.into_values());
    for r in &mut out {
        let n = r.labelled();
        if n >= MIN_LABELS {
            r.rate = wilson(r.false_alarms, n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(emotion: &str, state: &str, acked_by: &str, opened_ms: i64) -> AlertRecord {
        AlertRecord {
            tenant_id: "acme".into(),
            emotion: emotion.into(),
            state: state.into(),
            acked_by: acked_by.into(),
            opened_ms,
            ..AlertRecord::default()
        }
    }

    #[test]
    fn rates_come_from_labels_with_wilson_intervals_and_a_minimum() {
        let mut a = Vec::new();
        for i in 0..9 {
            a.push(alert("rage", "acknowledged", "ana", 1000 + i));
        }
        a.push(alert("rage", "closed", "ana", 1000)); // acknowledged, then closed: true
        for _ in 0..3 {
            a.push(alert("rage", "false_alarm", "bo", 1000));
        }
        a.push(alert("rage", "open", "", 1000)); // unanswered: no label
        a.push(alert("rage", "closed", "", 1000)); // unanswered
        a.push(alert("rage", "false_alarm", "bo", 5)); // before the range
        let mut other = alert("rage", "false_alarm", "bo", 1000);
        other.tenant_id = "globex".into();
        a.push(other);
        a.push(alert("confusion", "false_alarm", "bo", 1000));
        a.push(alert("glee", "acknowledged", "bo", 1000));
        let rows = by_emotion("acme", 100, 10_000, &a);
        let names: Vec<&str> = rows.iter().map(|r| r.emotion.as_str()).collect();
        assert_eq!(
            names,
            [
                "rage",
                "frustration",
                "hesitation",
                "confusion",
                "abandonment",
                "glee"
            ]
        );
        let rage = &rows[0];
        assert_eq!(
            (rage.alerts, rage.true_alarms, rage.false_alarms),
            (15, 10, 3)
        );
        let e = rage.rate.expect("13 labels");
        assert_eq!(e, wilson(3, 13).expect("n > 0"));
        assert!((e.point - 3.0 / 13.0).abs() < 1e-12 && e.lo < e.point && e.point < e.hi);
        // One label: counted, no rate.
        assert_eq!(rows[3].labelled(), 1);
        assert_eq!(rows[3].rate, None);
        assert_eq!(rows[1].alerts, 0);
    }

    #[test]
    fn a_rate_is_shown_from_min_labels_on() {
        assert_eq!(MIN_LABELS, 10);
        for (n, shown) in [(9, false), (10, true), (11, true)] {
            let a: Vec<AlertRecord> = (0..n)
                .map(|i| {
                    let state = if i % 2 == 0 {
                        "false_alarm"
                    } else {
                        "acknowledged"
                    };
                    alert("rage", state, "ana", 1000)
                })
                .collect();
            let rage = &by_emotion("acme", 0, 10_000, &a)[0];
            assert_eq!(rage.labelled(), n);
            assert_eq!(rage.rate.is_some(), shown, "{n} labels");
        }
    }
}
