//! The `detections` table: one row per detection the edge emitted (whether or not the tenant
//! has `emit` on), with the physics snapshot that supported it, what corroborated it and whether
//! it could page a person. Schema in `proto/LAKE.md` (the last two columns in `lake/README.md`).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringDictionaryBuilder,
    TimestampMillisecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::{Error, TableBuilder, dict, ts};

/// A detection as the edge spools it (JSON) and the lake stores it.
///
/// Fields added after the first version carry `#[serde(default)]`, so a record spooled by an
/// older edge still decodes (pinned by `lake/tests/fixtures/detections.row.v1.json`); fields this
/// version does not know are ignored, never refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// Per-session detection number.
    pub n: u32,
    pub emotion: String,
    pub label: Option<String>,
    pub confidence: f64,
    pub section: Option<String>,
    pub page: Option<String>,
    /// The frame (seq) and sample that completed the evidence.
    pub at_seq: u64,
    pub sample: u32,
    pub client_ms: i64,
    pub user: Option<String>,
    pub account: Option<String>,
    pub value_cents: i64,
    pub speed: f64,
    pub accel: f64,
    pub jerk: f64,
    pub curvature: f64,
    pub entropy: f64,
    pub efficiency: f64,
    pub dwell_ms: f64,
    /// What corroborated the evidence, as escalation requires it: `dead` (a dead click reported
    /// by the SDK), `error` (an error click), `exit` (the user left after it); `None` if nothing
    /// did, or the edge that spooled it predates the column.
    #[serde(default)]
    pub corroboration: Option<String>,
    /// Whether the detection met the bar for paging a person (escalation-grade and
    /// corroborated). `None` when the edge that spooled it predates the column.
    #[serde(default)]
    pub escalation_eligible: Option<bool>,
}

/// The `detections` schema.
pub fn detections_schema() -> SchemaRef {
    let f64n = |n: &str| Field::new(n, DataType::Float64, false);
    Arc::new(Schema::new(vec![
        Field::new("tenant", dict(), false),
        Field::new("region", dict(), false),
        Field::new("edge", dict(), false),
        Field::new("shard", DataType::UInt16, false),
        Field::new("session", dict(), false),
        Field::new("user", dict(), true),
        Field::new("account", dict(), true),
        Field::new("value_cents", DataType::Int64, false),
        Field::new("detection", DataType::UInt32, false),
        Field::new("emotion", dict(), false),
        Field::new("label", dict(), true),
        Field::new("confidence", DataType::Float64, false),
        Field::new("section", dict(), true),
        Field::new("page", dict(), true),
        Field::new("seq", DataType::UInt64, false),
        Field::new("sample", DataType::UInt32, false),
        Field::new("time", ts(), false),
        Field::new("client_time", ts(), false),
        f64n("speed"),
        f64n("accel"),
        f64n("jerk"),
        f64n("curvature"),
        f64n("entropy"),
        f64n("efficiency"),
        f64n("dwell_ms"),
        Field::new("corroboration", dict(), true),
        Field::new("escalation_eligible", DataType::Boolean, true),
    ]))
}

/// Column builders for `detections`.
pub struct DetectionsBuilder {
    s: [StringDictionaryBuilder<Int32Type>; 11],
    shard: UInt16Builder,
    value: Int64Builder,
    n: UInt32Builder,
    conf: Float64Builder,
    seq: UInt64Builder,
    sample: UInt32Builder,
    time: TimestampMillisecondBuilder,
    client: TimestampMillisecondBuilder,
    phys: [Float64Builder; 7],
    eligible: BooleanBuilder,
    rows: usize,
}

crate::debug_rows!(DetectionsBuilder);

impl Default for DetectionsBuilder {
    fn default() -> Self {
        DetectionsBuilder {
            s: std::array::from_fn(|_| StringDictionaryBuilder::new()),
            shard: UInt16Builder::new(),
            value: Int64Builder::new(),
            n: UInt32Builder::new(),
            conf: Float64Builder::new(),
            seq: UInt64Builder::new(),
            sample: UInt32Builder::new(),
            time: crate::ts_builder(1024),
            client: crate::ts_builder(1024),
            phys: std::array::from_fn(|_| Float64Builder::new()),
            eligible: BooleanBuilder::new(),
            rows: 0,
        }
    }
}

/// Where a detection was seen.
#[derive(Debug, Clone, Copy)]
pub struct DetectionMeta<'a> {
    pub tenant: &'a str,
    pub region: &'a str,
    pub edge: &'a str,
    pub shard: u16,
    pub session: &'a str,
    pub recv_ms: u64,
}

impl DetectionsBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn push(&mut self, m: &DetectionMeta<'_>, d: &DetectionRow) {
        let [
            tenant,
            region,
            edge,
            session,
            user,
            account,
            emotion,
            label,
            section,
            page,
            corroboration,
        ] = &mut self.s;
        tenant.append_value(m.tenant);
        region.append_value(m.region);
        edge.append_value(m.edge);
        session.append_value(m.session);
        user.append_option(d.user.as_deref());
        account.append_option(d.account.as_deref());
        emotion.append_value(&d.emotion);
        label.append_option(d.label.as_deref());
        section.append_option(d.section.as_deref());
        page.append_option(d.page.as_deref());
        corroboration.append_option(d.corroboration.as_deref());
        self.eligible.append_option(d.escalation_eligible);
        self.shard.append_value(m.shard);
        self.value.append_value(d.value_cents);
        self.n.append_value(d.n);
        self.conf.append_value(d.confidence);
        self.seq.append_value(d.at_seq);
        self.sample.append_value(d.sample);
        self.time.append_value(m.recv_ms as i64);
        self.client.append_value(d.client_ms);
        let p = [
            d.speed,
            d.accel,
            d.jerk,
            d.curvature,
            d.entropy,
            d.efficiency,
            d.dwell_ms,
        ];
        for (b, v) in self.phys.iter_mut().zip(p) {
            b.append_value(v);
        }
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        let [
            tenant,
            region,
            edge,
            session,
            user,
            account,
            emotion,
            label,
            section,
            page,
            corroboration,
        ] = &mut self.s;
        let [speed, accel, jerk, curv, ent, eff, dwell] = &mut self.phys;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(tenant.finish()),
            Arc::new(region.finish()),
            Arc::new(edge.finish()),
            Arc::new(self.shard.finish()),
            Arc::new(session.finish()),
            Arc::new(user.finish()),
            Arc::new(account.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.n.finish()),
            Arc::new(emotion.finish()),
            Arc::new(label.finish()),
            Arc::new(self.conf.finish()),
            Arc::new(section.finish()),
            Arc::new(page.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.sample.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.client.finish()),
            Arc::new(speed.finish()),
            Arc::new(accel.finish()),
            Arc::new(jerk.finish()),
            Arc::new(curv.finish()),
            Arc::new(ent.finish()),
            Arc::new(eff.finish()),
            Arc::new(dwell.finish()),
            Arc::new(corroboration.finish()),
            Arc::new(self.eligible.finish()),
        ];
        self.rows = 0;
        Ok(RecordBatch::try_new(detections_schema(), cols)?)
    }
}

impl TableBuilder for DetectionsBuilder {
    const TABLE: &'static str = "detections";

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        DetectionsBuilder::finish(self)
    }
}
