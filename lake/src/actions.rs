//! The `actions` table: interventions and escalations the edge decided, and the outcomes pages
//! report for interventions (`out` frames) as they arrive, joined by `id`. Schema in
//! `proto/LAKE.md`.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, StringBuilder, StringDictionaryBuilder,
    TimestampMillisecondBuilder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::detections::DetectionMeta;
use crate::{Error, TableBuilder, dict, ts};

/// An action (or an outcome of one) as the edge spools it (JSON) and the lake stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    /// The action's id in its session (`iv.id`, `i<n>`); outcomes carry the id they answer.
    pub id: String,
    /// `intervene`, `escalate` or `outcome`.
    pub action: String,
    /// The frame that led to it (for an outcome, the `out` frame).
    pub seq: u64,
    pub rule: Option<String>,
    pub emotion: Option<String>,
    pub confidence: Option<f64>,
    pub detection: Option<u32>,
    /// Intervention kind and variant.
    pub kind: Option<String>,
    pub variant: Option<String>,
    /// Escalation contacts, comma-separated.
    pub contacts: Option<String>,
    pub user: Option<String>,
    pub account: Option<String>,
    pub value_cents: Option<i64>,
    pub section: Option<String>,
    /// Outcome rows: `shown`, `clicked`, `dismissed`, `converted`.
    pub result: Option<String>,
    /// The row that assigned a session to an experiment's arm (issue 17): the assignment as
    /// JSON (`{seed, shard, assignment: {arm, reason, rng_before, posteriors, draws, …}}`),
    /// enough to replay the decision. Absent from rows spooled before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<String>,
}

const STRINGS: [&str; 15] = [
    "tenant", "region", "edge", "session", "id", "action", "rule", "emotion", "kind", "variant",
    "contacts", "user", "account", "section", "result",
];

/// The `actions` schema.
pub fn actions_schema() -> SchemaRef {
    let nullable = |n: &str| {
        !matches!(
            n,
            "tenant" | "region" | "edge" | "session" | "id" | "action"
        )
    };
    let mut f: Vec<Field> = STRINGS
        .iter()
        .map(|n| Field::new(*n, dict(), nullable(n)))
        .collect();
    f.extend([
        Field::new("shard", DataType::UInt16, false),
        Field::new("seq", DataType::UInt64, false),
        Field::new("time", ts(), false),
        Field::new("confidence", DataType::Float64, true),
        Field::new("detection", DataType::UInt32, true),
        Field::new("value_cents", DataType::Int64, true),
        Field::new("assignment", DataType::Utf8, true),
    ]);
    Arc::new(Schema::new(f))
}

/// Column builders for `actions`.
pub struct ActionsBuilder {
    s: [StringDictionaryBuilder<Int32Type>; 15],
    shard: UInt16Builder,
    seq: UInt64Builder,
    time: TimestampMillisecondBuilder,
    conf: Float64Builder,
    det: UInt32Builder,
    value: Int64Builder,
    assignment: StringBuilder,
    rows: usize,
}

crate::debug_rows!(ActionsBuilder);

impl Default for ActionsBuilder {
    fn default() -> Self {
        ActionsBuilder {
            s: std::array::from_fn(|_| StringDictionaryBuilder::new()),
            shard: UInt16Builder::new(),
            seq: UInt64Builder::new(),
            time: crate::ts_builder(1024),
            conf: Float64Builder::new(),
            det: UInt32Builder::new(),
            value: Int64Builder::new(),
            assignment: StringBuilder::new(),
            rows: 0,
        }
    }
}

impl ActionsBuilder {
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn push(&mut self, m: &DetectionMeta<'_>, a: &ActionRow) {
        let vals: [Option<&str>; 15] = [
            Some(m.tenant),
            Some(m.region),
            Some(m.edge),
            Some(m.session),
            Some(&a.id),
            Some(&a.action),
            a.rule.as_deref(),
            a.emotion.as_deref(),
            a.kind.as_deref(),
            a.variant.as_deref(),
            a.contacts.as_deref(),
            a.user.as_deref(),
            a.account.as_deref(),
            a.section.as_deref(),
            a.result.as_deref(),
        ];
        for (b, v) in self.s.iter_mut().zip(vals) {
            b.append_option(v);
        }
        self.shard.append_value(m.shard);
        self.seq.append_value(a.seq);
        self.time.append_value(m.recv_ms as i64);
        self.conf.append_option(a.confidence);
        self.det.append_option(a.detection);
        self.value.append_option(a.value_cents);
        self.assignment.append_option(a.assignment.as_deref());
        self.rows += 1;
    }

    pub fn finish(&mut self) -> Result<RecordBatch, Error> {
        let mut cols: Vec<ArrayRef> = self
            .s
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        cols.push(Arc::new(self.shard.finish()));
        cols.push(Arc::new(self.seq.finish()));
        cols.push(Arc::new(self.time.finish()));
        cols.push(Arc::new(self.conf.finish()));
        cols.push(Arc::new(self.det.finish()));
        cols.push(Arc::new(self.value.finish()));
        cols.push(Arc::new(self.assignment.finish()));
        self.rows = 0;
        Ok(RecordBatch::try_new(actions_schema(), cols)?)
    }
}

impl TableBuilder for ActionsBuilder {
    const TABLE: &'static str = "actions";

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        ActionsBuilder::finish(self)
    }
}
