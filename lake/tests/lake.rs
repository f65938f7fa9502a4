//! The events table: golden schema, rows from real frames, Parquet round trip.

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
        text.push_str(&format!(
            "{} {} {}\n",
            f.name(),
            f.data_type(),
            if f.is_nullable() { "null" } else { "not null" }
        ));
    }
    text
}

#[test]
fn the_table_schemas_match_their_golden_descriptions() {
    golden("events.schema.txt", describe(&events_schema()).as_bytes());
    golden(
        "detections.schema.txt",
        describe(&detections_schema()).as_bytes(),
    );
    golden("actions.schema.txt", describe(&actions_schema()).as_bytes());
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
