//! The `alerts` table: one row per alert (an escalation that paged people), written when the
//! alert finishes, with each of its deliveries as a nested `list<struct>` column. Schema in
//! `lake/README.md` (and, once copied there, `proto/LAKE.md`); pinned by
//! `lake/tests/fixtures/alerts.schema.txt` and `alerts.parquet-schema.txt`.
//!
//! Enumerated values (`state`, `channel`, `status`, `purpose`) are stored as the strings the
//! edge spooled, not checked against a list: a value this version does not know (a newer edge's
//! channel) is kept, not refused.

use std::any::Any;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int64Builder, ListBuilder, StringDictionaryBuilder,
    TimestampMillisecondBuilder, UInt16Builder, UInt32Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::detections::DetectionMeta;
use crate::{Error, TableBuilder, dict, ts};

/// An alert as the edge spools it (JSON) and the lake stores it: one row per alert, when it
/// finishes (closed, and every delivery settled).
///
/// The session, tenant, region, edge and shard come from the [`DetectionMeta`] it is pushed
/// with (`meta.session` is the session that raised the alert; `meta.recv_ms` is when the row was
/// spooled and decides its partition, as for every table: `Partition::of(tenant, recv_ms)`).
///
/// Optional fields carry `#[serde(default)]` so a record from an older or newer edge decodes;
/// fields this version does not know are ignored, never refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    /// The alert's id (PagerDuty `dedup_key`; delivery ids are `{alert_id}-d{n}`).
    pub alert_id: String,
    /// The tenant rule that escalated.
    #[serde(default)]
    pub rule: Option<String>,
    /// The account paged about (account directory key or display name).
    #[serde(default)]
    pub account: Option<String>,
    /// The account's lifetime value when the alert opened, cents (0 if unknown).
    #[serde(default)]
    pub value_cents: i64,
    #[serde(default)]
    pub user: Option<String>,
    /// The first detection's number in its session (`det.id` = `d<n>`), joining the alert to
    /// its row of `detections` on (tenant, session, detection).
    #[serde(default)]
    pub detection: Option<u32>,
    /// The first detection's emotion, e.g. `rage`.
    pub emotion: String,
    /// The first detection's confidence, 0..=1.
    pub confidence: f64,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub page: Option<String>,
    /// Server time (ms since the epoch) of the frame that completed the first detection's
    /// evidence.
    pub detected_ms: u64,
    /// When the alert opened (its first step fired).
    pub opened_ms: u64,
    /// When the alert closed.
    pub closed_ms: u64,
    /// The final state: `acknowledged`, `false_alarm`, `exhausted` (every step fired, nobody
    /// acknowledged) or `closed` (closed otherwise).
    pub state: String,
    /// Chain steps that fired (1 = only the first).
    #[serde(default)]
    pub steps_fired: u32,
    /// Detections folded into the alert after the first (nobody was paged for them).
    #[serde(default)]
    pub repeats: u32,
    /// Who acknowledged (a contact id), and when.
    #[serde(default)]
    pub acked_by: Option<String>,
    #[serde(default)]
    pub acked_ms: Option<u64>,
    /// Who labelled it a false alarm, and when.
    #[serde(default)]
    pub false_alarm_by: Option<String>,
    #[serde(default)]
    pub false_alarm_ms: Option<u64>,
    /// Resends, over all deliveries, that may have duplicated a message (an attempt whose answer
    /// never came, on a channel with no way to dedupe).
    #[serde(default)]
    pub possible_duplicates: u32,
    /// Every message of the alert, in the order they were made.
    #[serde(default)]
    pub deliveries: Vec<DeliveryRow>,
}

/// One message of an alert to one contact over one channel, over all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// Stable across retries: `{alert_id}-d{n}` (the Standard Webhooks `webhook-id`).
    pub id: String,
    /// The chain step (1-based) that made it.
    #[serde(default)]
    pub step: u32,
    /// The contact's id.
    pub contact: String,
    /// `slack_webhook`, `slack_chat`, `sms`, `whatsapp`, `pagerduty` or `webhook`.
    pub channel: String,
    /// `page`, or for PagerDuty the follow-ups `acknowledge` and `resolve`.
    #[serde(default = "page")]
    pub purpose: String,
    /// `pending`, `sent`, `delivered`, `failed`, `gave_up` or `cancelled`.
    pub status: String,
    /// Requests made (lookups included).
    #[serde(default)]
    pub attempts: u32,
    /// Detection (`detected_ms`) to the provider accepting the message; `None` if it never did.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// The provider's id for the message (Twilio `SM…` SID, Slack `ts`), if any.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// The last error, if any.
    #[serde(default)]
    pub error: Option<String>,
}

fn page() -> String {
    "page".into()
}

impl Default for DeliveryRow {
    fn default() -> Self {
        DeliveryRow {
            id: String::new(),
            step: 0,
            contact: String::new(),
            channel: String::new(),
            purpose: page(),
            status: String::new(),
            attempts: 0,
            latency_ms: None,
            provider_id: None,
            error: None,
        }
    }
}

/// The fields of one element of `deliveries`.
fn delivery_fields() -> Fields {
    Fields::from(vec![
        Field::new("id", dict(), false),
        Field::new("step", DataType::UInt32, false),
        Field::new("contact", dict(), false),
        Field::new("channel", dict(), false),
        Field::new("purpose", dict(), false),
        Field::new("status", dict(), false),
        Field::new("attempts", DataType::UInt32, false),
        Field::new("latency_ms", DataType::Int64, true),
        Field::new("provider_id", dict(), true),
        Field::new("error", dict(), true),
    ])
}

/// The list's element field. Named `element`, as the Parquet spec's three-level LIST layout
/// names it (what Athena/Hive, Trino and DuckDB expect), rather than Arrow's `item`.
fn delivery_element() -> Field {
    Field::new("element", DataType::Struct(delivery_fields()), false)
}

/// The `alerts` schema.
pub fn alerts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tenant", dict(), false),
        Field::new("region", dict(), false),
        Field::new("edge", dict(), false),
        Field::new("shard", DataType::UInt16, false),
        Field::new("alert_id", dict(), false),
        Field::new("rule", dict(), true),
        Field::new("account", dict(), true),
        Field::new("value_cents", DataType::Int64, false),
        Field::new("user", dict(), true),
        Field::new("session", dict(), false),
        Field::new("detection", DataType::UInt32, true),
        Field::new("emotion", dict(), false),
        Field::new("confidence", DataType::Float64, false),
        Field::new("section", dict(), true),
        Field::new("page", dict(), true),
        Field::new("detected_ms", ts(), false),
        Field::new("opened_ms", ts(), false),
        Field::new("closed_ms", ts(), false),
        Field::new("state", dict(), false),
        Field::new("steps_fired", DataType::UInt32, false),
        Field::new("repeats", DataType::UInt32, false),
        Field::new("acked_by", dict(), true),
        Field::new("acked_ms", ts(), true),
        Field::new("false_alarm_by", dict(), true),
        Field::new("false_alarm_ms", ts(), true),
        Field::new("possible_duplicates", DataType::UInt32, false),
        Field::new(
            "deliveries",
            DataType::List(Arc::new(delivery_element())),
            false,
        ),
    ]))
}

/// Milliseconds as an Arrow timestamp or duration (saturating: u64 past i64 cannot occur).
fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

type Dict = StringDictionaryBuilder<Int32Type>;

/// The builders of `deliveries`' struct elements (the values of a [`ListBuilder`]).
struct DeliveriesBuilder {
    /// id, contact, channel, purpose, status, provider_id, error.
    s: [Dict; 7],
    step: UInt32Builder,
    attempts: UInt32Builder,
    latency: Int64Builder,
    len: usize,
}

impl Default for DeliveriesBuilder {
    fn default() -> Self {
        DeliveriesBuilder {
            s: std::array::from_fn(|_| Dict::new()),
            step: UInt32Builder::new(),
            attempts: UInt32Builder::new(),
            latency: Int64Builder::new(),
            len: 0,
        }
    }
}

impl DeliveriesBuilder {
    fn push(&mut self, d: &DeliveryRow) {
        let [id, contact, channel, purpose, status, provider, error] = &mut self.s;
        id.append_value(&d.id);
        contact.append_value(&d.contact);
        channel.append_value(&d.channel);
        purpose.append_value(&d.purpose);
        status.append_value(&d.status);
        provider.append_option(d.provider_id.as_deref());
        error.append_option(d.error.as_deref());
        self.step.append_value(d.step);
        self.attempts.append_value(d.attempts);
        self.latency.append_option(d.latency_ms.map(ms));
        self.len += 1;
    }

    /// The elements as a struct array; the builders are reset.
    fn finish_struct(&mut self) -> StructArray {
        let [id, contact, channel, purpose, status, provider, error] = &mut self.s;
        self.len = 0;
        struct_of([
            Arc::new(id.finish()),
            Arc::new(self.step.finish()),
            Arc::new(contact.finish()),
            Arc::new(channel.finish()),
            Arc::new(purpose.finish()),
            Arc::new(status.finish()),
            Arc::new(self.attempts.finish()),
            Arc::new(self.latency.finish()),
            Arc::new(provider.finish()),
            Arc::new(error.finish()),
        ])
    }

    /// The elements so far as a struct array; the builders are left as they are.
    fn cloned_struct(&self) -> StructArray {
        let [id, contact, channel, purpose, status, provider, error] = &self.s;
        struct_of([
            Arc::new(id.finish_cloned()),
            Arc::new(self.step.finish_cloned()),
            Arc::new(contact.finish_cloned()),
            Arc::new(channel.finish_cloned()),
            Arc::new(purpose.finish_cloned()),
            Arc::new(status.finish_cloned()),
            Arc::new(self.attempts.finish_cloned()),
            Arc::new(self.latency.finish_cloned()),
            Arc::new(provider.finish_cloned()),
            Arc::new(error.finish_cloned()),
        ])
    }
}

/// The struct of one delivery's columns, in `delivery_fields` order. Every column got one value
/// per `push`, of its field's type, so `StructArray::new` cannot panic here.
fn struct_of(cols: [ArrayRef; 10]) -> StructArray {
    StructArray::new(delivery_fields(), cols.into(), None)
}

impl ArrayBuilder for DeliveriesBuilder {
    fn len(&self) -> usize {
        self.len
    }

    fn finish(&mut self) -> ArrayRef {
        Arc::new(self.finish_struct())
    }

    fn finish_cloned(&self) -> ArrayRef {
        Arc::new(self.cloned_struct())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn into_box_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Column builders for `alerts`.
pub struct AlertsBuilder {
    /// tenant, region, edge, alert_id, rule, account, user, session, emotion, section, page,
    /// state, acked_by, false_alarm_by.
    s: [Dict; 14],
    shard: UInt16Builder,
    value: Int64Builder,
    detection: UInt32Builder,
    conf: Float64Builder,
    /// detected_ms, opened_ms, closed_ms, acked_ms, false_alarm_ms.
    t: [TimestampMillisecondBuilder; 5],
    /// steps_fired, repeats, possible_duplicates.
    n: [UInt32Builder; 3],
    deliveries: ListBuilder<DeliveriesBuilder>,
    rows: usize,
}

crate::debug_rows!(AlertsBuilder);

impl Default for AlertsBuilder {
    fn default() -> Self {
        AlertsBuilder {
            s: std::array::from_fn(|_| Dict::new()),
            shard: UInt16Builder::new(),
            value: Int64Builder::new(),
            detection: UInt32Builder::new(),
            conf: Float64Builder::new(),
            t: std::array::from_fn(|_| crate::ts_builder(1024)),
            n: std::array::from_fn(|_| UInt32Builder::new()),
            deliveries: ListBuilder::new(DeliveriesBuilder::default())
                .with_field(Arc::new(delivery_element())),
            rows: 0,
        }
    }
}

impl AlertsBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds one alert. `m.session` is the alert's session; `m.recv_ms` (when the row was
    /// spooled) is not a column: it only chooses the partition.
    pub fn push(&mut self, m: &DetectionMeta<'_>, a: &AlertRow) {
        let [
            tenant,
            region,
            edge,
            alert_id,
            rule,
            account,
            user,
            session,
            emotion,
            section,
            page,
            state,
            acked_by,
            false_alarm_by,
        ] = &mut self.s;
        tenant.append_value(m.tenant);
        region.append_value(m.region);
        edge.append_value(m.edge);
        alert_id.append_value(&a.alert_id);
        rule.append_option(a.rule.as_deref());
        account.append_option(a.account.as_deref());
        user.append_option(a.user.as_deref());
        session.append_value(m.session);
        emotion.append_value(&a.emotion);
        section.append_option(a.section.as_deref());
        page.append_option(a.page.as_deref());
        state.append_value(&a.state);
        acked_by.append_option(a.acked_by.as_deref());
        false_alarm_by.append_option(a.false_alarm_by.as_deref());
        self.shard.append_value(m.shard);
        self.value.append_value(a.value_cents);
        self.detection.append_option(a.detection);
        self.conf.append_value(a.confidence);
        let [detected, opened, closed, acked, false_alarm] = &mut self.t;
        detected.append_value(ms(a.detected_ms));
        opened.append_value(ms(a.opened_ms));
        closed.append_value(ms(a.closed_ms));
        acked.append_option(a.acked_ms.map(ms));
        false_alarm.append_option(a.false_alarm_ms.map(ms));
        let [steps, repeats, dups] = &mut self.n;
        steps.append_value(a.steps_fired);
        repeats.append_value(a.repeats);
        dups.append_value(a.possible_duplicates);
        for d in &a.deliveries {
            self.deliveries.values().push(d);
        }
        self.deliveries.append(true);
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        let [
            tenant,
            region,
            edge,
            alert_id,
            rule,
            account,
            user,
            session,
            emotion,
            section,
            page,
            state,
            acked_by,
            false_alarm_by,
        ] = &mut self.s;
        let [detected, opened, closed, acked, false_alarm] = &mut self.t;
        let [steps, repeats, dups] = &mut self.n;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(tenant.finish()),
            Arc::new(region.finish()),
            Arc::new(edge.finish()),
            Arc::new(self.shard.finish()),
            Arc::new(alert_id.finish()),
            Arc::new(rule.finish()),
            Arc::new(account.finish()),
            Arc::new(self.value.finish()),
            Arc::new(user.finish()),
            Arc::new(session.finish()),
            Arc::new(self.detection.finish()),
            Arc::new(emotion.finish()),
            Arc::new(self.conf.finish()),
            Arc::new(section.finish()),
            Arc::new(page.finish()),
            Arc::new(detected.finish()),
            Arc::new(opened.finish()),
            Arc::new(closed.finish()),
            Arc::new(state.finish()),
            Arc::new(steps.finish()),
            Arc::new(repeats.finish()),
            Arc::new(acked_by.finish()),
            Arc::new(acked.finish()),
            Arc::new(false_alarm_by.finish()),
            Arc::new(false_alarm.finish()),
            Arc::new(dups.finish()),
            Arc::new(self.deliveries.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(alerts_schema(), cols)?)
    }
}

impl TableBuilder for AlertsBuilder {
    const TABLE: &'static str = "alerts";

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        AlertsBuilder::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `finish_cloned` (Arrow's `ArrayBuilder` contract, used by `ListBuilder::finish_cloned`)
    /// gives what `finish` gives and keeps the rows; `finish` resets.
    #[test]
    fn deliveries_finish_cloned_matches_finish_and_keeps_the_rows() {
        let mut b = DeliveriesBuilder::default();
        for (i, status) in ["delivered", "failed"].into_iter().enumerate() {
            b.push(&DeliveryRow {
                id: format!("a-d{i}"),
                step: 1,
                contact: "csm".into(),
                channel: "sms".into(),
                status: status.into(),
                attempts: 2,
                latency_ms: (i == 0).then_some(250),
                error: (i == 1).then(|| "21211".into()),
                ..Default::default()
            });
        }
        let cloned = ArrayBuilder::finish_cloned(&b);
        assert_eq!(ArrayBuilder::len(&b), 2);
        let finished = ArrayBuilder::finish(&mut b);
        assert_eq!(finished.len(), 2);
        assert_eq!(&cloned, &finished);
        assert_eq!(ArrayBuilder::len(&b), 0);
        assert_eq!(ArrayBuilder::finish(&mut b).len(), 0);
    }
}
