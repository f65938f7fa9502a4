//! The lake's tables: golden schemas, rows from real frames, Parquet round trips; the `alerts`
//! table's nested deliveries and its golden file; spool JSON from older edges; the listing tool.

use std::path::PathBuf;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use sentientiq_lake::*;
use sentientiq_proto::*;

fn fixtures() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo")).join("tests/fixtures")
}

fn golden(name: &str, bytes: &[u8]) {
    let p = fixtures().join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, bytes).expect("write fixture");
        return;
    }
    let want = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        want == bytes,
        "{name} differs from its golden fixture (UPDATE_GOLDEN=1 rewrites)"
    );
}

fn describe(schema: &arrow_schema::Schema) -> String {
    let mut text = String::new();
    for f in schema.fields() {
        describe_field("", f, &mut text);
    }
    text
}

/// One line per field; a list's element and a struct's fields follow on their own lines, named
/// by their path (`deliveries.element.status`).
fn describe_field(parent: &str, f: &arrow_schema::Field, text: &mut String) {
    use arrow_schema::DataType;
    let name = format!("{parent}{}", f.name());
    let null = if f.is_nullable() { "null" } else { "not null" };
    match f.data_type() {
        DataType::List(e) => {
            text.push_str(&format!("{name} List {null}\n"));
            describe_field(&format!("{name}."), e, text);
        }
        DataType::Struct(fields) => {
            text.push_str(&format!("{name} Struct {null}\n"));
            for c in fields {
                describe_field(&format!("{name}."), c, text);
            }
        }
        t => text.push_str(&format!("{name} {t} {null}\n")),
    }
}

#[test]
fn the_table_schemas_match_their_golden_descriptions() {
    golden("events.schema.txt", describe(&events_schema()).as_bytes());
    golden(
        "detections.schema.txt",
        describe(&detections_schema()).as_bytes(),
    );
    golden("actions.schema.txt", describe(&actions_schema()).as_bytes());
    golden("alerts.schema.txt", describe(&alerts_schema()).as_bytes());
}

fn frames() -> Vec<ClientFrame> {
    let mut b = Batch {
        seq: Seq(1),
        t0: 1_795_352_700_000,
        ..Batch::default()
    };
    let sec = b.intern("pricing");
    let btn = b.intern("button#buy");
    b.push(kind::SECTION, 0, 10, 20, sec);
    b.push(kind::MOVE, 8_000, 11, 21, 0);
    b.push(kind::CLICK, 150_000, 12, 22, btn);
    b.push(kind::KEY, 1_000, 0, 0, 2);
    vec![
        ClientFrame::Batch(b),
        ClientFrame::Identify(Identify {
            seq: Seq(2),
            uid: "u1".into(),
            email: Some("dana@acme.example".into()),
            traits: vec![],
        }),
        ClientFrame::Track(Track {
            seq: Seq(3),
            name: "purchase".into(),
            props: vec![("amount".into(), Value::Float(99.5))],
        }),
        ClientFrame::Bye { seq: Seq(4) },
    ]
}

fn build() -> RecordBatch {
    let mut eb = EventsBuilder::new();
    let mut st = SessionState::default();
    for f in frames() {
        let seq = f.seq().map_or(0, |s| s.0);
        let m = RowMeta {
            tenant: "demo",
            region: "us-east-1",
            edge: "edge-1",
            shard: 1,
            session: "s_0123456789abcdef",
            user: (seq >= 2).then_some("u1"),
            account: (seq >= 2).then_some("acme.example"),
            seq,
            recv_ms: 1_795_352_700_200 + seq,
        };
        eb.push_frame(&m, &f, &mut st);
    }
    assert_eq!(eb.len(), 7);
    eb.finish().expect("batch")
}

/// Each column's encoding follows its type (`writer_properties`): strings as dictionaries,
/// integers and times as deltas without a dictionary, floats plain without one.
#[test]
fn columns_are_encoded_by_their_type() {
    use parquet::basic::Encoding;
    let bytes = write_parquet(&build()).expect("parquet");
    let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("reader");
    let meta = r.metadata();
    let rg = meta.row_group(0);
    let mut seen = 0;
    for c in rg.columns() {
        let name = c.column_path().string();
        let enc = c.encodings().collect::<Vec<_>>();
        let dict = c.dictionary_page_offset().is_some();
        match name.as_str() {
            "tenant" | "region" | "edge" | "session" | "user" | "account" | "kind" | "label"
            | "section" | "page" => {
                assert!(dict, "{name}: a dictionary page ({enc:?})");
                assert!(enc.contains(&Encoding::RLE_DICTIONARY), "{name}: {enc:?}");
            }
            "shard" | "seq" | "idx" | "recv_time" | "client_time" | "time" | "x" | "y" => {
                assert!(!dict, "{name}: no dictionary page ({enc:?})");
                assert!(
                    enc.contains(&Encoding::DELTA_BINARY_PACKED),
                    "{name}: {enc:?}"
                );
            }
            "value" => {
                assert!(!dict, "{name}: no dictionary page ({enc:?})");
                assert!(enc.contains(&Encoding::PLAIN), "{name}: {enc:?}");
            }
            other => panic!("a column this test does not know: {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, events_schema().fields().len());
}

#[test]
fn rows_carry_the_frames_values_and_survive_a_parquet_round_trip() {
    let bytes = write_parquet(&build()).expect("parquet");
    // The same rows always give the same bytes (retries rewrite identical objects).
    assert_eq!(bytes, write_parquet(&build()).expect("again"));
    golden("events.small.parquet", &bytes);

    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.clone()))
        .expect("reader")
        .build()
        .expect("build");
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("batch")).collect();
    let rb = arrow_select_concat(&batches);
    assert_eq!(rb.num_rows(), 7);
    let col = |n: &str| {
        rb.column_by_name(n)
            .unwrap_or_else(|| panic!("{n}"))
            .clone()
    };
    let strs = |n: &str| -> Vec<Option<String>> {
        let c = col(n);
        let d = c.as_dictionary::<Int32Type>();
        let v = d.values().as_string::<i32>();
        (0..d.len())
            .map(|i| d.key(i).map(|k| v.value(k).to_string()))
            .collect()
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        strs("kind"),
        vec![
            s("section"),
            s("move"),
            s("click"),
            s("key"),
            s("identify"),
            s("track"),
            s("bye")
        ]
    );
    assert_eq!(strs("label")[2], s("button#buy"));
    assert_eq!(strs("label")[5], s("purchase"));
    assert_eq!(strs("section")[1], s("pricing"));
    assert_eq!(strs("user")[0], None);
    assert_eq!(strs("user")[4], s("u1"));
    let seq = col("seq");
    let seq = seq.as_primitive::<UInt64Type>();
    assert_eq!(seq.values().to_vec(), vec![1, 1, 1, 1, 2, 3, 4]);
    // Derived time: the batch's last sample (159 ms after t0) lands at its receive time.
    let t = col("time");
    let t = t.as_primitive::<TimestampMillisecondType>();
    assert_eq!(t.value(3), 1_795_352_700_201);
    assert_eq!(t.value(0), 1_795_352_700_201 - 159);
    let c = col("client_time");
    let c = c.as_primitive::<TimestampMillisecondType>();
    assert_eq!(c.value(2), 1_795_352_700_000 + 158);
    assert!(c.is_null(4));
    let v = col("value");
    let v = v.as_primitive::<arrow_array::types::Float64Type>();
    assert_eq!((v.value(3), v.value(5)), (2.0, 99.5));
    assert!(v.is_null(1));

    // zstd, dictionaries and statistics are on.
    let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("file");
    let md = r.metadata();
    assert_eq!(md.file_metadata().num_rows(), 7);
    let cc = md.row_group(0).column(0);
    assert_eq!(
        cc.compression(),
        parquet::basic::Compression::ZSTD(Default::default())
    );
    assert!(cc.dictionary_page_offset().is_some());
    assert!(md.row_group(0).column(7).statistics().is_some());
}

fn arrow_select_concat(b: &[RecordBatch]) -> RecordBatch {
    assert_eq!(b.len(), 1, "one row group, one batch");
    b[0].clone()
}

// ---- detections: the corroboration columns, and spool JSON from before them ----

fn detection(n: u32, corroboration: Option<&str>, eligible: Option<bool>) -> DetectionRow {
    DetectionRow {
        n,
        emotion: "rage".into(),
        confidence: 0.9,
        at_seq: 10 + u64::from(n),
        sample: 3,
        client_ms: 1_795_352_700_000,
        value_cents: 12_000_000,
        corroboration: corroboration.map(str::to_string),
        escalation_eligible: eligible,
        ..Default::default()
    }
}

fn meta(session: &str, recv_ms: u64) -> DetectionMeta<'_> {
    DetectionMeta {
        tenant: "demo",
        region: "us-east-1",
        edge: "edge-1",
        shard: 1,
        session,
        recv_ms,
    }
}

/// A file's rows as one batch (read in one, whatever its row count).
fn read_one(bytes: Vec<u8>) -> RecordBatch {
    let b = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).expect("reader");
    let rows = b.metadata().file_metadata().num_rows().max(1) as usize;
    let batches: Vec<RecordBatch> = b
        .with_batch_size(rows)
        .build()
        .expect("build")
        .map(|b| b.expect("batch"))
        .collect();
    arrow_select_concat(&batches)
}

/// A detection spooled by an edge from before `corroboration` and `escalation_eligible` (the
/// fixture is that edge's JSON, byte for byte) still decodes, with both null; unknown fields
/// from a newer edge are ignored, not refused.
#[test]
fn detections_spooled_before_the_corroboration_columns_still_decode() {
    let old = std::fs::read(fixtures().join("detections.row.v1.json")).expect("fixture");
    let d: DetectionRow = serde_json::from_slice(&old).expect("old spool JSON decodes");
    assert_eq!((d.n, d.at_seq, d.value_cents), (3, 42, 12_000_000));
    assert_eq!(d.label.as_deref(), Some("checkout_blocked"));
    assert_eq!(d.corroboration, None);
    assert_eq!(d.escalation_eligible, None);

    let mut newer: serde_json::Value = serde_json::from_slice(&old).expect("json");
    newer["corroboration"] = "dead".into();
    newer["escalation_eligible"] = true.into();
    newer["a_field_from_the_future"] = serde_json::json!({"x": [1, 2]});
    let d: DetectionRow = serde_json::from_value(newer).expect("newer spool JSON decodes");
    assert_eq!(d.corroboration.as_deref(), Some("dead"));
    assert_eq!(d.escalation_eligible, Some(true));
}

#[test]
fn detections_carry_corroboration_and_eligibility_through_parquet() {
    let rows = [
        detection(1, Some("dead"), Some(true)),
        detection(2, Some("error"), Some(false)),
        detection(3, Some("exit"), Some(true)),
        detection(4, None, Some(false)),
        detection(5, None, None),
    ];
    let mut b = DetectionsBuilder::default();
    for r in &rows {
        b.push(&meta("s_det", 1_795_352_700_500), r);
    }
    let rb = read_one(write_parquet(&b.finish().expect("batch")).expect("parquet"));
    assert_eq!(
        rb.schema(),
        detections_schema(),
        "types survive the round trip"
    );
    let c = rb.column_by_name("corroboration").expect("corroboration");
    let c = c.as_dictionary::<Int32Type>();
    let v = c.values().as_string::<i32>();
    let got: Vec<Option<&str>> = (0..c.len()).map(|i| c.key(i).map(|k| v.value(k))).collect();
    assert_eq!(
        got,
        vec![Some("dead"), Some("error"), Some("exit"), None, None]
    );
    let e = rb
        .column_by_name("escalation_eligible")
        .expect("escalation_eligible");
    let e = e.as_boolean();
    let got: Vec<Option<bool>> = (0..e.len())
        .map(|i| e.is_valid(i).then(|| e.value(i)))
        .collect();
    assert_eq!(
        got,
        vec![Some(true), Some(false), Some(true), Some(false), None]
    );
}

// ---- alerts ----

const SESSIONS: [&str; 3] = ["s_alert_0", "s_alert_1", "s_alert_2"];
const T0: u64 = 1_795_352_700_000; // 2026-11-22T13:05:00Z

fn delivery(n: u32, step: u32, contact: &str, channel: &str, status: &str) -> DeliveryRow {
    DeliveryRow {
        id: format!("al_{n}-d{n}"),
        step,
        contact: contact.into(),
        channel: channel.into(),
        status: status.into(),
        attempts: 1,
        ..Default::default()
    }
}

/// Three alerts: with no delivery (every optional field null), one, and several (every
/// channel and status, each delivery field null and not).
fn alert_rows() -> Vec<AlertRow> {
    let none = AlertRow {
        alert_id: "al_0".into(),
        emotion: "rage".into(),
        confidence: 0.8,
        detected_ms: T0,
        opened_ms: T0 + 40,
        closed_ms: T0 + 1_800_040,
        state: "closed".into(),
        steps_fired: 1,
        ..Default::default()
    };
    let one = AlertRow {
        alert_id: "al_1".into(),
        rule: Some("escalate-100k".into()),
        account: Some("acme.example".into()),
        value_cents: 12_000_000,
        user: Some("dana".into()),
        detection: Some(4),
        emotion: "rage".into(),
        confidence: 0.93,
        section: Some("checkout".into()),
        page: Some("https://acme.example/cart".into()),
        detected_ms: T0 + 1_000,
        opened_ms: T0 + 1_020,
        closed_ms: T0 + 1_900_000,
        state: "acknowledged".into(),
        steps_fired: 1,
        repeats: 0,
        acked_by: Some("csm".into()),
        acked_ms: Some(T0 + 45_000),
        deliveries: vec![DeliveryRow {
            latency_ms: Some(412),
            ..delivery(1, 1, "csm", "webhook", "delivered")
        }],
        ..Default::default()
    };
    let several = AlertRow {
        alert_id: "al_2".into(),
        rule: Some("escalate-100k".into()),
        account: Some("globex.example".into()),
        value_cents: 50_000_000,
        user: Some("hank".into()),
        detection: Some(1),
        emotion: "frustration".into(),
        confidence: 0.71,
        section: Some("pricing".into()),
        page: None,
        detected_ms: T0 + 2_000,
        opened_ms: T0 + 2_015,
        closed_ms: T0 + 200_000,
        state: "false_alarm".into(),
        steps_fired: 2,
        repeats: 3,
        acked_by: None,
        acked_ms: None,
        false_alarm_by: Some("vp".into()),
        false_alarm_ms: Some(T0 + 130_000),
        possible_duplicates: 1,
        deliveries: vec![
            DeliveryRow {
                attempts: 2,
                latency_ms: Some(2_950),
                provider_id: Some("1712345678.000100".into()),
                error: Some("timeout".into()),
                ..delivery(1, 1, "csm", "slack_webhook", "delivered")
            },
            DeliveryRow {
                latency_ms: Some(380),
                provider_id: Some("1712345678.000200".into()),
                ..delivery(2, 1, "csm", "slack_chat", "delivered")
            },
            DeliveryRow {
                error: Some("21211: invalid 'To' phone number".into()),
                ..delivery(3, 1, "csm", "sms", "failed")
            },
            DeliveryRow {
                attempts: 10,
                error: Some("HTTP 503".into()),
                ..delivery(4, 2, "vp", "whatsapp", "gave_up")
            },
            DeliveryRow {
                latency_ms: Some(61_200),
                provider_id: Some("al_2".into()),
                ..delivery(5, 2, "vp", "pagerduty", "delivered")
            },
            DeliveryRow {
                purpose: "resolve".into(),
                provider_id: Some("al_2".into()),
                ..delivery(6, 2, "vp", "pagerduty", "sent")
            },
            DeliveryRow {
                attempts: 0,
                ..delivery(7, 2, "ceo", "webhook", "pending")
            },
            DeliveryRow {
                attempts: 0,
                ..delivery(8, 2, "ceo", "sms", "cancelled")
            },
        ],
    };
    vec![none, one, several]
}

fn alerts_file() -> Vec<u8> {
    let mut f = FileBuilder::<AlertsBuilder>::default();
    for (i, a) in alert_rows().iter().enumerate() {
        f.rows().push(&meta(SESSIONS[i], a.closed_ms), a);
        f.flush_if_full().expect("flush");
    }
    assert_eq!(f.len(), 3);
    f.finish().expect("finish").expect("rows")
}

/// The `alerts` rows of a batch read back, with each row's session and the other meta
/// columns checked against [`meta`].
fn alerts_of(rb: &RecordBatch) -> Vec<(String, AlertRow)> {
    use arrow_array::types::{Float64Type, Int64Type, UInt16Type, UInt32Type};
    let col = |n: &str| {
        rb.column_by_name(n)
            .unwrap_or_else(|| panic!("{n}"))
            .clone()
    };
    fn strs(c: &dyn Array) -> Vec<Option<String>> {
        let d = c.as_dictionary::<Int32Type>();
        let v = d.values().as_string::<i32>();
        (0..d.len())
            .map(|i| d.key(i).map(|k| v.value(k).to_string()))
            .collect()
    }
    fn ms(c: &dyn Array) -> Vec<Option<u64>> {
        let t = c.as_primitive::<TimestampMillisecondType>();
        (0..t.len())
            .map(|i| t.is_valid(i).then(|| t.value(i) as u64))
            .collect()
    }
    fn u32s(c: &dyn Array) -> Vec<Option<u32>> {
        let t = c.as_primitive::<UInt32Type>();
        (0..t.len())
            .map(|i| t.is_valid(i).then(|| t.value(i)))
            .collect()
    }
    fn i64s(c: &dyn Array) -> Vec<Option<i64>> {
        let t = c.as_primitive::<Int64Type>();
        (0..t.len())
            .map(|i| t.is_valid(i).then(|| t.value(i)))
            .collect()
    }
    let s = |n: &str| strs(col(n).as_ref());
    let some = |v: Vec<Option<String>>| -> Vec<String> {
        v.into_iter().map(|x| x.expect("not null")).collect()
    };
    let n = rb.num_rows();
    for (name, want) in [
        ("tenant", "demo"),
        ("region", "us-east-1"),
        ("edge", "edge-1"),
    ] {
        assert_eq!(s(name), vec![Some(want.to_string()); n], "{name}");
    }
    let shard = col("shard");
    assert_eq!(
        shard.as_primitive::<UInt16Type>().values().to_vec(),
        vec![1; n]
    );
    assert_eq!(shard.null_count(), 0);
    let (alert_id, session, emotion, state) = (
        some(s("alert_id")),
        some(s("session")),
        some(s("emotion")),
        some(s("state")),
    );
    let (rule, account, user, section, page, acked_by, false_alarm_by) = (
        s("rule"),
        s("account"),
        s("user"),
        s("section"),
        s("page"),
        s("acked_by"),
        s("false_alarm_by"),
    );
    let value = i64s(col("value_cents").as_ref());
    let detection = u32s(col("detection").as_ref());
    let conf = col("confidence");
    let conf = conf.as_primitive::<Float64Type>();
    let [detected, opened, closed, acked, false_alarm] = [
        "detected_ms",
        "opened_ms",
        "closed_ms",
        "acked_ms",
        "false_alarm_ms",
    ]
    .map(|c| ms(col(c).as_ref()));
    let [steps, repeats, dups] =
        ["steps_fired", "repeats", "possible_duplicates"].map(|c| u32s(col(c).as_ref()));
    let lists = col("deliveries");
    let lists = lists.as_list::<i32>();
    assert_eq!(lists.null_count(), 0, "an alert without deliveries has []");
    (0..n)
        .map(|i| {
            let d = lists.value(i);
            let d = d.as_struct();
            let f = |c: &str| d.column_by_name(c).unwrap_or_else(|| panic!("{c}")).clone();
            let ds = |c: &str| strs(f(c).as_ref());
            let (id, contact, channel, purpose, status) = (
                some(ds("id")),
                some(ds("contact")),
                some(ds("channel")),
                some(ds("purpose")),
                some(ds("status")),
            );
            let (provider_id, error) = (ds("provider_id"), ds("error"));
            let (step, attempts) = (u32s(f("step").as_ref()), u32s(f("attempts").as_ref()));
            let latency = i64s(f("latency_ms").as_ref());
            let deliveries = (0..d.len())
                .map(|j| DeliveryRow {
                    id: id[j].clone(),
                    step: step[j].expect("step"),
                    contact: contact[j].clone(),
                    channel: channel[j].clone(),
                    purpose: purpose[j].clone(),
                    status: status[j].clone(),
                    attempts: attempts[j].expect("attempts"),
                    latency_ms: latency[j].map(|v| v as u64),
                    provider_id: provider_id[j].clone(),
                    error: error[j].clone(),
                })
                .collect();
            let row = AlertRow {
                alert_id: alert_id[i].clone(),
                rule: rule[i].clone(),
                account: account[i].clone(),
                value_cents: value[i].expect("value_cents"),
                user: user[i].clone(),
                detection: detection[i],
                emotion: emotion[i].clone(),
                confidence: conf.value(i),
                section: section[i].clone(),
                page: page[i].clone(),
                detected_ms: detected[i].expect("detected_ms"),
                opened_ms: opened[i].expect("opened_ms"),
                closed_ms: closed[i].expect("closed_ms"),
                state: state[i].clone(),
                steps_fired: steps[i].expect("steps_fired"),
                repeats: repeats[i].expect("repeats"),
                acked_by: acked_by[i].clone(),
                acked_ms: acked[i],
                false_alarm_by: false_alarm_by[i].clone(),
                false_alarm_ms: false_alarm[i],
                possible_duplicates: dups[i].expect("possible_duplicates"),
                deliveries,
            };
            (session[i].clone(), row)
        })
        .collect()
}

/// Alerts with 0, 1 and 8 deliveries are written as a file and read back with the Parquet
/// reader: every column of every row, nulls and the nested list included, is what was pushed.
/// The file is deterministic and pinned by a golden fixture, as is its Parquet schema (the
/// three-level LIST that Athena, Trino and DuckDB read).
#[test]
fn alerts_with_their_deliveries_survive_a_parquet_round_trip() {
    let bytes = alerts_file();
    assert_eq!(bytes, alerts_file(), "the same rows give the same bytes");
    golden("alerts.small.parquet", &bytes);

    let rb = read_one(bytes.clone());
    assert_eq!(rb.schema(), alerts_schema(), "types survive the round trip");
    assert_eq!(rb.num_rows(), 3);
    let got = alerts_of(&rb);
    let want: Vec<(String, AlertRow)> = SESSIONS
        .iter()
        .map(|s| s.to_string())
        .zip(alert_rows())
        .collect();
    assert_eq!(got, want);
    // The nulls, spelled out (the comparison above would also catch them).
    let lists = rb.column_by_name("deliveries").expect("deliveries");
    let lists = lists.as_list::<i32>();
    assert_eq!(
        lists.value_offsets().to_vec(),
        vec![0, 0, 1, 9],
        "0, 1 and 8 deliveries"
    );
    let all = lists.values().as_struct();
    let latency = all.column_by_name("latency_ms").expect("latency_ms");
    assert_eq!(latency.null_count(), 5, "never accepted: no latency");
    assert_eq!(rb.column_by_name("rule").expect("rule").null_count(), 1);
    assert_eq!(
        rb.column_by_name("acked_ms")
            .expect("acked_ms")
            .null_count(),
        2
    );

    let r = SerializedFileReader::new(bytes::Bytes::from(bytes)).expect("file");
    let md = r.metadata();
    assert_eq!(md.file_metadata().num_rows(), 3);
    let mut schema = Vec::new();
    parquet::schema::printer::print_schema(&mut schema, md.file_metadata().schema());
    golden("alerts.parquet-schema.txt", &schema);
    for c in md.row_group(0).columns() {
        assert_eq!(
            c.compression(),
            parquet::basic::Compression::ZSTD(Default::default()),
            "{}",
            c.column_path()
        );
    }
    let status = md
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string() == "deliveries.list.element.status")
        .expect("the nested status column");
    assert!(
        status.dictionary_page_offset().is_some(),
        "dictionary encoded"
    );
}

/// The spool's JSON of alert rows is pinned, and decodes back to the same rows.
#[test]
fn alert_rows_spool_as_pinned_json() {
    let mut text = Vec::new();
    for a in alert_rows() {
        serde_json::to_writer(&mut text, &a).expect("json");
        text.push(b'\n');
    }
    golden("alerts.rows.jsonl", &text);
    let back: Vec<AlertRow> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("decodes"))
        .collect();
    assert_eq!(back, alert_rows());
}

/// A row with only the fields every version has decodes (the rest default: 0, null, no
/// deliveries, `purpose` `page`); fields and values this version does not know are kept or
/// ignored, never refused; a row without its id is refused.
#[test]
fn alert_rows_from_older_and_newer_edges_decode() {
    let minimal = r#"{"alert_id":"al_9","emotion":"rage","confidence":0.9,"detected_ms":1,
        "opened_ms":2,"closed_ms":3,"state":"closed",
        "deliveries":[{"id":"al_9-d1","contact":"csm","channel":"sms","status":"failed"}]}"#;
    let a: AlertRow = serde_json::from_str(minimal).expect("minimal row");
    assert_eq!(
        a,
        AlertRow {
            alert_id: "al_9".into(),
            emotion: "rage".into(),
            confidence: 0.9,
            detected_ms: 1,
            opened_ms: 2,
            closed_ms: 3,
            state: "closed".into(),
            deliveries: vec![DeliveryRow {
                id: "al_9-d1".into(),
                contact: "csm".into(),
                channel: "sms".into(),
                status: "failed".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    );
    assert_eq!(a.deliveries[0].purpose, "page");

    let newer = r#"{"alert_id":"al_9","emotion":"rage","confidence":0.9,"detected_ms":1,
        "opened_ms":2,"closed_ms":3,"state":"snoozed","escalated_to_ceo":true,
        "deliveries":[{"id":"al_9-d1","contact":"csm","channel":"email","status":"bounced",
        "smtp":{"code":550}}]}"#;
    let a: AlertRow = serde_json::from_str(newer).expect("newer row");
    assert_eq!(
        (a.state.as_str(), a.deliveries[0].channel.as_str()),
        ("snoozed", "email")
    );
    let mut b = AlertsBuilder::default();
    b.push(&meta("s", 3), &a);
    let rb = b
        .finish()
        .expect("an unknown state or channel is stored as is");
    assert_eq!(alerts_of(&rb)[0].1, a);

    assert!(serde_json::from_str::<AlertRow>(r#"{"emotion":"rage"}"#).is_err());
}

/// The files of a segment crossing a flush hold the same rows as one batch (the nested list's
/// offsets restart correctly after each flush).
#[test]
fn an_alerts_file_written_in_flushes_holds_the_same_rows_as_one_batch() {
    let rows = alert_rows();
    let n = sentientiq_lake::file::FLUSH_ROWS + 5;
    let mut streamed = FileBuilder::<AlertsBuilder>::default();
    let mut whole = AlertsBuilder::default();
    for i in 0..n {
        let a = &rows[i % rows.len()];
        let m = meta(SESSIONS[i % SESSIONS.len()], a.closed_ms);
        streamed.rows().push(&m, a);
        streamed.flush_if_full().expect("flush");
        whole.push(&m, a);
    }
    let a = read_one(streamed.finish().expect("finish").expect("rows"));
    let b = read_one(write_parquet(&whole.finish().expect("batch")).expect("one batch"));
    assert_eq!(a.num_rows(), n);
    assert_eq!(a, b);
    let got = alerts_of(&a);
    assert_eq!(got[n - 1].1, rows[(n - 1) % rows.len()]);
}

/// `sentientiq-lake-ls` lists an `alerts` file under its key and totals it as a table.
#[test]
fn the_listing_tool_shows_the_alerts_table() {
    let d = tempfile::tempdir().expect("tempdir");
    let sink = LocalSink::new(d.path());
    let p = Partition::of("demo", T0);
    let key = object_key("", AlertsBuilder::TABLE, &p, "us-east-1", "edge-1", 1, 7);
    assert_eq!(
        key,
        "alerts/tenant=demo/date=2026-11-22/hour=13/region=us-east-1/edge-1-1-00000000000000000007.parquet"
    );
    sink.put(&key, &alerts_file()).expect("put");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sentientiq-lake-ls"))
        .arg(d.path())
        .output()
        .expect("run sentientiq-lake-ls");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("        3 rows") && lines[0].ends_with(&key),
        "{text}"
    );
    assert!(lines[1].starts_with("alerts: 1 files, 3 rows, "), "{text}");
}
