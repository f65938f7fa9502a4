//! `[lake]`: where accepted frames are shipped as Parquet, and how much spool may wait for it.

use std::path::PathBuf;

use sentientiq_tenant::{LakeSpec, Tenant};
use serde::Deserialize;

use super::{Error, invalid};

/// Where accepted frames are shipped as Parquet, and how much spool may wait for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSection {
    /// `local` (a directory) or `s3` (see `[lake.s3]`).
    #[serde(default = "d_lake_sink")]
    pub sink: String,
    /// The local sink's directory.
    #[serde(default = "d_lake_dir")]
    pub dir: PathBuf,
    /// Key prefix inside the sink.
    #[serde(default)]
    pub prefix: String,
    /// A spool segment is sealed (and shipped) at the latest this long after it was opened.
    #[serde(default = "d_lake_age")]
    pub max_age_s: u64,
    /// How often the shipper looks for sealed segments.
    #[serde(default = "d_lake_poll")]
    pub poll_ms: u64,
    /// Spool bytes per shard that may wait for shipping. Past 90 % of it, new frames from
    /// sessions below the tenant's high-value mark get `overloaded`; past 100 %, all do.
    /// Nothing already accepted is ever dropped.
    #[serde(default = "d_spool_max")]
    pub spool_max_bytes: u64,
    /// The S3 sink's destination (required when `sink = "s3"`).
    #[serde(default)]
    pub s3: Option<S3Section>,
}

/// An S3 (or S3-compatible) bucket. Credentials come from the standard AWS chain
/// (environment, profile files, web identity, ECS/EC2 metadata) unless both static keys are
/// given, which suits S3-compatible stores configured with fixed keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    pub bucket: String,
    #[serde(default = "d_s3_region")]
    pub region: String,
    /// e.g. `http://127.0.0.1:9000` for MinIO; absent for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    #[serde(default = "d_s3_threshold")]
    pub multipart_threshold_bytes: usize,
    #[serde(default = "d_s3_part")]
    pub part_bytes: usize,
    #[serde(default = "d_s3_attempts")]
    pub max_attempts: u32,
    #[serde(default = "d_s3_attempt_timeout")]
    pub attempt_timeout_ms: u64,
    #[serde(default = "d_s3_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// `Debug` shows it redacted.
    #[serde(default)]
    pub secret_access_key: Option<sentientiq_secret::Secret>,
}

fn d_s3_region() -> String {
    "us-east-1".into()
}
fn d_s3_threshold() -> usize {
    16 << 20
}
fn d_s3_part() -> usize {
    8 << 20
}
fn d_s3_attempts() -> u32 {
    4
}
fn d_s3_attempt_timeout() -> u64 {
    60_000
}
fn d_s3_connect_timeout() -> u64 {
    3_000
}

impl S3Section {
    /// The sink's options, checked.
    pub fn options(&self) -> Result<sentientiq_lake::S3Options, Error> {
        let static_keys = match (&self.access_key_id, &self.secret_access_key) {
            (Some(a), Some(s)) => Some((a.clone(), s.clone())),
            (None, None) => None,
            _ => {
                return invalid(
                    "lake.s3: access_key_id and secret_access_key go together (or neither, for the standard credential chain)",
                );
            }
        };
        let o = sentientiq_lake::S3Options {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
            path_style: self.path_style,
            multipart_threshold_bytes: self.multipart_threshold_bytes,
            part_bytes: self.part_bytes,
            max_parts: sentientiq_lake::s3::MAX_PARTS,
            max_attempts: self.max_attempts,
            attempt_timeout: std::time::Duration::from_millis(self.attempt_timeout_ms),
            connect_timeout: std::time::Duration::from_millis(self.connect_timeout_ms),
            static_keys,
        };
        o.validate()
            .map_err(|e| Error::Invalid(format!("lake.s3: {e}")))?;
        Ok(o)
    }
}

impl Default for LakeSection {
    fn default() -> Self {
        LakeSection {
            sink: d_lake_sink(),
            dir: d_lake_dir(),
            prefix: String::new(),
            max_age_s: d_lake_age(),
            poll_ms: d_lake_poll(),
            spool_max_bytes: d_spool_max(),
            s3: None,
        }
    }
}

fn d_lake_sink() -> String {
    "local".into()
}
fn d_lake_dir() -> PathBuf {
    PathBuf::from("data/lake")
}
fn d_lake_age() -> u64 {
    60
}
fn d_lake_poll() -> u64 {
    1000
}
fn d_spool_max() -> u64 {
    1 << 30
}

impl LakeSection {
    /// Whether this edge can ship a tenant's files where the tenant says: a bucket needs an S3
    /// sink, and a valid bucket name. `Err` says why not.
    pub fn usable_for(&self, t: &LakeSpec) -> Result<(), String> {
        match &t.bucket {
            Some(_) if self.sink != "s3" => {
                Err("its own lake bucket needs this edge's lake.sink = \"s3\"".into())
            }
            Some(b) if !sentientiq_lake::s3::valid_bucket(b) => {
                Err(format!("lake bucket `{b}` is not a valid S3 bucket name"))
            }
            _ => Ok(()),
        }
    }

    /// Checks the section, and that every tenant's own destination is one this edge can use.
    pub fn validate(&self, tenants: &[Tenant]) -> Result<(), Error> {
        match (self.sink.as_str(), &self.s3) {
            ("local", _) | ("s3", Some(_)) => {
                if let Some(s3) = &self.s3
                    && self.sink == "s3"
                {
                    s3.options()?;
                }
                for t in tenants {
                    self.usable_for(&t.lake)
                        .map_err(|why| Error::Invalid(format!("tenant `{}`: {why}", t.id)))?;
                }
            }
            ("s3", None) => return invalid("lake.sink = \"s3\" needs a [lake.s3] section"),
            (other, _) => {
                return invalid(format!(
                    "lake.sink `{other}` is unknown (use \"local\" or \"s3\")"
                ));
            }
        }
        if self.max_age_s == 0 || self.poll_ms == 0 || self.spool_max_bytes < 1 << 20 {
            return invalid(
                "lake.max_age_s and lake.poll_ms must be positive, lake.spool_max_bytes at least 1 MiB",
            );
        }
        Ok(())
    }
}
