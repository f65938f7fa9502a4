//! The lake as tests read it: a local directory, or a real S3-compatible server (s3s over
//! s3s-fs, SigV4) run by the test and read back through the S3 API; Parquet rows.

use std::path::{Path, PathBuf};

use sentientiq_lake::s3_server::{ACCESS_KEY, S3Server, SECRET_KEY};
use sentientiq_lake::{S3Options, S3Sink};

use crate::edge::Edge;
use crate::wait::poll;

/// (session, seq, idx, kind, user, account) of one lake row.
pub type LakeRow = (String, u64, u32, String, Option<String>, Option<String>);

/// The record batches of one Parquet file.
pub fn parquet_batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let bytes = bytes::Bytes::from(std::fs::read(path).expect("read"));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// Row `i` of a dictionary-encoded string column.
pub fn dict_str(b: &arrow_array::RecordBatch, col: &str, i: usize) -> Option<String> {
    use arrow_array::cast::AsArray;
    let c = b.column_by_name(col).expect("column");
    let d = c.as_dictionary::<arrow_array::types::Int32Type>();
    d.key(i)
        .map(|k| d.values().as_string::<i32>().value(k).to_string())
}

/// The Parquet files of one lake table, by key (relative to the lake directory).
pub fn table_files(lake: &Path, table: &str) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = walk(&lake.join(table))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| {
            let key = p.strip_prefix(lake).expect("under").display().to_string();
            (key, p)
        })
        .collect();
    v.sort();
    v
}

/// Every `events` row in a lake directory: (session, seq, idx, kind, user, account), and the keys.
pub fn lake_rows(dir: &Path) -> (Vec<LakeRow>, Vec<String>) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{UInt32Type, UInt64Type};
    let mut rows = Vec::new();
    let mut keys = Vec::new();
    for (key, path) in table_files(dir, "events") {
        keys.push(key);
        for b in parquet_batches(&path) {
            let seq = b
                .column_by_name("seq")
                .expect("seq")
                .as_primitive::<UInt64Type>()
                .clone();
            let idx = b
                .column_by_name("idx")
                .expect("idx")
                .as_primitive::<UInt32Type>()
                .clone();
            for i in 0..b.num_rows() {
                rows.push((
                    dict_str(&b, "session", i).expect("session"),
                    seq.value(i),
                    idx.value(i),
                    dict_str(&b, "kind", i).expect("kind"),
                    dict_str(&b, "user", i),
                    dict_str(&b, "account", i),
                ));
            }
        }
    }
    (rows, keys)
}

/// Where an edge under test ships: its local lake directory, or a real S3-compatible server
/// (s3s over s3s-fs, SigV4) run by the test, read back through the S3 API.
#[derive(Debug)]
pub enum Lake {
    Local,
    S3 {
        server: Option<S3Server>,
        root: tempfile::TempDir,
        port: u16,
        bucket: &'static str,
        /// The bucket's objects as last listed and downloaded, by key.
        mirror: tempfile::TempDir,
    },
}

pub const LAKE_BUCKET: &str = "siq-lake";

impl Lake {
    pub fn s3() -> Lake {
        let root = tempfile::tempdir().expect("tempdir");
        let server = S3Server::start(root.path(), 0, &[LAKE_BUCKET, "acme-lake"]).expect("s3");
        Lake::S3 {
            port: server.port(),
            server: Some(server),
            root,
            bucket: LAKE_BUCKET,
            mirror: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The edge config with this lake as its sink.
    pub fn configure(&self, cfg: String) -> String {
        match self {
            Lake::Local => cfg,
            Lake::S3 { port, bucket, .. } => cfg.replace("sink = \"local\"", "sink = \"s3\"").replacen(
                "\n[[tenant]]",
                &format!(
                    "\n[lake.s3]\nbucket = \"{bucket}\"\nendpoint = \"http://127.0.0.1:{port}\"\npath_style = true\nmax_attempts = 2\nconnect_timeout_ms = 500\n\n[[tenant]]"
                ),
                1,
            ),
        }
    }

    /// The edge's environment: credentials by the standard chain (environment variables), and
    /// nothing from this machine's own AWS files or instance metadata.
    pub fn env(&self, dir: &Path) -> Vec<(String, String)> {
        match self {
            Lake::Local => Vec::new(),
            Lake::S3 { .. } => {
                let none = dir.join("no-aws-files").display().to_string();
                [
                    ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
                    ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
                    ("AWS_CONFIG_FILE", none.as_str()),
                    ("AWS_SHARED_CREDENTIALS_FILE", none.as_str()),
                    ("AWS_EC2_METADATA_DISABLED", "true"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
            }
        }
    }

    pub fn client(port: u16, bucket: &str) -> S3Sink {
        S3Sink::new(S3Options {
            bucket: bucket.into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            path_style: true,
            static_keys: Some((
                ACCESS_KEY.into(),
                sentientiq_lake::s3::Secret::new(SECRET_KEY),
            )),
            ..S3Options::default()
        })
        .expect("client")
    }

    /// A local directory holding the lake's files: the edge's own, or the S3 bucket's objects
    /// downloaded through the S3 API (listing every page).
    pub fn sync(&self, edge: &Edge) -> PathBuf {
        match self {
            Lake::Local => edge.dir.path().join("lake"),
            Lake::S3 {
                port,
                bucket,
                mirror,
                ..
            } => {
                mirror_bucket(&Lake::client(*port, bucket), mirror.path());
                mirror.path().to_path_buf()
            }
        }
    }

    /// Makes the lake refuse (S3: the server stops and its port closes).
    pub fn outage(&mut self, edge: &Edge) {
        match self {
            // The lake's directory cannot be created: a file sits where it should be.
            Lake::Local => std::fs::write(edge.dir.path().join("lake"), b"not a directory")
                .expect("block the lake"),
            Lake::S3 { server, .. } => server.take().expect("running").stop(),
        }
    }

    pub fn recover(&mut self, edge: &Edge) {
        match self {
            Lake::Local => std::fs::remove_file(edge.dir.path().join("lake")).expect("unblock"),
            Lake::S3 {
                server, root, port, ..
            } => *server = Some(S3Server::start(root.path(), *port, &[]).expect("restart s3")),
        }
    }
}

/// Downloads every object of the sink's bucket under `dir`, by key.
pub fn mirror_bucket(sink: &S3Sink, dir: &Path) -> Vec<String> {
    sink.block_on(async {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = sink
                .client()
                .list_objects_v2()
                .bucket(sink.bucket())
                .set_continuation_token(token.take())
                .send()
                .await
                .expect("list");
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        for k in &keys {
            let path = dir.join(k);
            if path.exists() {
                continue;
            }
            let o = sink
                .client()
                .get_object()
                .bucket(sink.bucket())
                .key(k)
                .send()
                .await
                .expect("get");
            let body = o.body.collect().await.expect("body").into_bytes();
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &body).expect("write");
        }
        keys.sort();
        keys
    })
}

/// Polls a lake directory until its `events` table holds at least `n` rows.
pub fn wait_lake_rows(lake: &Path, n: usize) -> Vec<LakeRow> {
    poll("lake rows", || {
        Some(lake_rows(lake).0).filter(|r| r.len() >= n)
    })
}

/// The same, for a lake of either kind.
pub fn wait_rows_in(lake: &Lake, edge: &Edge, n: usize) -> Vec<LakeRow> {
    poll("lake rows", || {
        Some(lake_rows(&lake.sync(edge)).0).filter(|r| r.len() >= n)
    })
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
