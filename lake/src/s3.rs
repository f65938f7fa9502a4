//! The S3 sink (feature `s3`): `aws-sdk-s3` on a tokio runtime of its own (one worker thread
//! beside the shards, never on their reactors); the caller's thread only blocks on the result.
//!
//! - Works with S3 and S3-compatible stores: endpoint override and path-style addressing.
//! - Credentials come from the standard AWS chain (environment, shared profile files, web
//!   identity, ECS and EC2 instance metadata), or from `static_keys` (the secret key a
//!   `Secret`, never printed), region from the configuration.
//! - Every request is retried by the SDK's standard strategy: exponential backoff with full
//!   jitter, up to `max_attempts`, with per-attempt and connect timeouts so an endpoint that
//!   hangs cannot stall the shipper for long; a put that still fails is reported and the caller
//!   (the shipper) retries it on its next pass.
//! - Files of at least `multipart_threshold_bytes` go up as multipart uploads of `part_bytes`
//!   parts (an upload that fails part-way is aborted, so no orphaned parts accrue charges). A
//!   file written as it is encoded ([`Sink::stage`]) sends each part as soon as it is full, so
//!   the sink holds at most `multipart_threshold_bytes` of it.
//! - Every put and every multipart completion carries `If-None-Match: *`. Keys are deterministic,
//!   so a repeat upload of a key (after a crash or a lost response) is answered `412
//!   Precondition Failed` and recognised as already stored. Stores that ignore the header simply
//!   overwrite the key with the same rows.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
/// The type of [`S3Options::static_keys`]' secret key, here so that callers building options
/// need no dependency of their own.
pub use sentientiq_secret::Secret;

use crate::sink::{Sink, SinkError, Staged, put_staged};

/// The smallest part S3 accepts (every part but the last).
pub const MIN_PART_BYTES: usize = 5 << 20;
/// The most parts one upload may have: S3's documented limit (AWS, "Amazon S3 multipart upload
/// limits"), which MinIO and R2 share.
pub const MAX_PARTS: usize = 10_000;

/// How to reach the store. Defaults suit AWS S3; set `endpoint` and `path_style` for MinIO,
/// Ceph, R2 and the like.
#[derive(Clone)]
pub struct S3Options {
    pub bucket: String,
    pub region: String,
    /// e.g. `http://127.0.0.1:9000`; `None` is AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`.
    pub path_style: bool,
    /// Files at least this large are uploaded in parts.
    pub multipart_threshold_bytes: usize,
    /// Size of each part but the last; at least [`MIN_PART_BYTES`].
    pub part_bytes: usize,
    /// The most parts of one upload: [`MAX_PARTS`], or lower (1 to [`MAX_PARTS`]) for a caller
    /// of this library whose store has a lower limit; the edge's config does not offer it, and
    /// the tests set 3 to reach it with small files. A file that would need more fails with an
    /// error naming the limit, and its upload is aborted.
    pub max_parts: usize,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Time allowed for one attempt of one request.
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
    /// Static keys `(access key id, secret access key)`, for S3-compatible stores configured
    /// with fixed keys. `None` (the default, and the right choice on AWS) uses the standard
    /// credential chain.
    pub static_keys: Option<(String, Secret)>,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            bucket: String::new(),
            region: "us-east-1".into(),
            endpoint: None,
            path_style: false,
            multipart_threshold_bytes: 16 << 20,
            part_bytes: 8 << 20,
            max_parts: MAX_PARTS,
            max_attempts: 4,
            attempt_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            static_keys: None,
        }
    }
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field(
                "endpoint",
                &self.endpoint.as_deref().map(sentientiq_url::shown),
            )
            .field("path_style", &self.path_style)
            .field("multipart_threshold_bytes", &self.multipart_threshold_bytes)
            .field("part_bytes", &self.part_bytes)
            .field("max_parts", &self.max_parts)
            .field("max_attempts", &self.max_attempts)
            .field("static_keys", &self.static_keys)
            .finish_non_exhaustive()
    }
}

/// The most [`S3Options::max_attempts`]. A bound of sense, not of measurement: with the
/// standard strategy's backoff (100 ms doubling, capped at 5 s, see [`S3Sink::new`]) ten
/// attempts may wait up to 21.3 s between them, on top of ten attempt timeouts, before the
/// shipper hears of the failure and moves on (it retries the file on a later pass).
pub const MAX_ATTEMPTS: u32 = 10;

pub use sentientiq_url::{Refused, UrlError};

/// Why [`S3Options`] were refused; each names the field, and the value where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3OptionsError {
    #[error(
        "bucket `{0}` is not a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)"
    )]
    Bucket(String),
    #[error("region must not be empty")]
    EmptyRegion,
    /// Not an http(s) URL that may be shown and have paths appended
    /// ([`sentientiq_url::check_base`]): the setting `endpoint`, shown with credentials hidden
    /// (set static keys for those instead).
    #[error(transparent)]
    Endpoint(Refused),
    #[error("part_bytes {0} is below S3's minimum part size of {MIN_PART_BYTES}")]
    PartBytes(usize),
    #[error("multipart_threshold_bytes {threshold} must be at least part_bytes {part_bytes}")]
    Threshold { threshold: usize, part_bytes: usize },
    #[error("max_parts {0} must be within 1..={MAX_PARTS}")]
    MaxParts(usize),
    #[error("max_attempts {0} must be within 1..={MAX_ATTEMPTS}")]
    MaxAttempts(u32),
    #[error("attempt_timeout must be positive")]
    ZeroAttemptTimeout,
    #[error("connect_timeout must be positive")]
    ZeroConnectTimeout,
}

/// Why an [`S3Sink`] could not be built. The message says it all: neither variant has a
/// `source`, so a cause chain (anyhow's `{:#}`) does not print the inner error twice.
#[derive(Debug, thiserror::Error)]
pub enum S3SetupError {
    #[error("S3 options: {0}")]
    Options(S3OptionsError),
    #[error("starting the S3 runtime: {0}")]
    Runtime(std::io::Error),
}

impl From<S3OptionsError> for S3SetupError {
    fn from(e: S3OptionsError) -> Self {
        S3SetupError::Options(e)
    }
}

impl S3Options {
    /// Checks every limit; the first one broken is the error.
    pub fn validate(&self) -> Result<(), S3OptionsError> {
        if !valid_bucket(&self.bucket) {
            return Err(S3OptionsError::Bucket(self.bucket.clone()));
        }
        if self.region.is_empty() {
            return Err(S3OptionsError::EmptyRegion);
        }
        if let Some(e) = &self.endpoint {
            sentientiq_url::setting("endpoint", e, sentientiq_url::check_base)
                .map_err(S3OptionsError::Endpoint)?;
        }
        if self.part_bytes < MIN_PART_BYTES {
            return Err(S3OptionsError::PartBytes(self.part_bytes));
        }
        if self.multipart_threshold_bytes < self.part_bytes {
            return Err(S3OptionsError::Threshold {
                threshold: self.multipart_threshold_bytes,
                part_bytes: self.part_bytes,
            });
        }
        if !(1..=MAX_PARTS).contains(&self.max_parts) {
            return Err(S3OptionsError::MaxParts(self.max_parts));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(S3OptionsError::MaxAttempts(self.max_attempts));
        }
        if self.attempt_timeout.is_zero() {
            return Err(S3OptionsError::ZeroAttemptTimeout);
        }
        if self.connect_timeout.is_zero() {
            return Err(S3OptionsError::ZeroConnectTimeout);
        }
        Ok(())
    }
}

/// S3's bucket naming rules (the subset that matters for addressing).
pub fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
        && !b.contains("..")
}

/// An S3 bucket as a [`Sink`]. Cheap to clone; clones share the client and its runtime.
#[derive(Clone)]
pub struct S3Sink {
    rt: Arc<tokio::runtime::Runtime>,
    client: Client,
    bucket: String,
    opts: Arc<S3Options>,
}

impl std::fmt::Debug for S3Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Sink")
            .field("bucket", &self.bucket)
            .field(
                "endpoint",
                &self.opts.endpoint.as_deref().map(sentientiq_url::shown),
            )
            .finish_non_exhaustive()
    }
}

fn remote(key: &str, what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Remote(format!("{key}: {what}: {e}"))
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Whether a failed request was refused because the key already exists.
fn already_exists<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            s.raw().status().as_u16() == 412 || s.err().code() == Some("PreconditionFailed")
        }
        _ => false,
    }
}

/// The error with its service code and message, which the SDK's `Display` leaves out.
fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> String {
    match e {
        SdkError::ServiceError(s) => format!(
            "{} ({})",
            s.err().code().unwrap_or("service error"),
            s.err().message().unwrap_or("no message")
        ),
        other => {
            // The source chain says what went wrong on the wire (refused, timed out, ...).
            let mut out = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                out.push_str(": ");
                out.push_str(&s.to_string());
                src = s.source();
            }
            out
        }
    }
}

impl S3Sink {
    /// Builds the client (credentials are resolved lazily, at the first request).
    pub fn new(opts: S3Options) -> Result<S3Sink, S3SetupError> {
        opts.validate()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("siq-s3")
            .enable_all()
            .build()
            .map_err(S3SetupError::Runtime)?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let region = aws_config::Region::new(opts.region.clone());
        let shared = rt.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .http_client(http)
                .region(region)
                .load(),
        );
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(opts.path_style)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(opts.max_attempts)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(opts.connect_timeout)
                    .operation_attempt_timeout(opts.attempt_timeout)
                    .build(),
            );
        if let Some(e) = &opts.endpoint {
            b = b.endpoint_url(e.clone());
        }
        if let Some((id, secret)) = &opts.static_keys {
            b = b.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id.clone(),
                secret.expose(),
                None,
                None,
                "sentientiq-config",
            ));
        }
        Ok(S3Sink {
            rt: Arc::new(rt),
            client: Client::from_conf(b.build()),
            bucket: opts.bucket.clone(),
            opts: Arc::new(opts),
        })
    }

    /// The same store and client, another bucket (a tenant's own destination).
    pub fn with_bucket(&self, bucket: &str) -> Result<S3Sink, SinkError> {
        if !valid_bucket(bucket) {
            return Err(SinkError::Remote(format!(
                "bucket `{bucket}` is not a valid S3 bucket name"
            )));
        }
        Ok(S3Sink {
            bucket: bucket.to_string(),
            ..self.clone()
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The client, for callers that read back (tests, tools).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs a future on the sink's runtime from a thread outside it.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    async fn put_single(
        &self,
        key: &str,
        bytes: Vec<u8>,
        create_only: bool,
    ) -> Result<(), SinkError> {
        let r = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(create_only.then(|| "*".to_string()))
            .content_type("application/vnd.apache.parquet")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if already_exists(&e) => Ok(()),
            Err(e) => Err(remote(key, "PutObject", describe(&e))),
        }
    }
}

/// A multipart upload in progress: its id and the parts sent so far.
struct Upload {
    id: String,
    parts: Vec<CompletedPart>,
}

/// An S3 file being written ([`Sink::stage`]). Its bytes are held until they reach
/// `multipart_threshold_bytes`; a file that ends below that is one `PutObject` at commit. Past
/// it, a multipart upload starts and every `part_bytes` go up as a part as soon as they are
/// written, the rest as the last part at commit. So at most `multipart_threshold_bytes` are
/// held, whatever the file's size, and the parts are the same as `put` of the whole file makes.
/// Once a request fails, bytes it was given are gone: every later write and the commit fail
/// too, so a file with a hole is never completed.
struct S3Staged {
    sink: S3Sink,
    key: String,
    create_only: bool,
    buf: Vec<u8>,
    /// `Some` from the first part until the upload completes; aborted when dropped `Some`.
    upload: Option<Upload>,
    len: u64,
    failed: bool,
}

impl S3Staged {
    fn refused(&self) -> SinkError {
        remote(
            &self.key,
            "multipart",
            "an earlier request of this upload failed",
        )
    }

    /// How many bytes may be held before some must go up.
    fn hold(&self) -> usize {
        if self.upload.is_some() {
            self.sink.opts.part_bytes
        } else {
            self.sink.opts.multipart_threshold_bytes
        }
    }

    /// Starts the upload if needed and sends every full part held; with `last`, what remains
    /// too.
    async fn send_parts(&mut self, last: bool) -> Result<(), SinkError> {
        let key = self.key.as_str();
        let part = self.sink.opts.part_bytes;
        let s = &self.sink;
        let up = match self.upload.take() {
            Some(up) => up,
            None => {
                let created = s
                    .client
                    .create_multipart_upload()
                    .bucket(&s.bucket)
                    .key(key)
                    .content_type("application/vnd.apache.parquet")
                    .send()
                    .await
                    .map_err(|e| remote(key, "CreateMultipartUpload", describe(&e)))?;
                let Some(id) = created.upload_id().map(str::to_string) else {
                    return Err(remote(key, "CreateMultipartUpload", "no upload id"));
                };
                Upload {
                    id,
                    parts: Vec::new(),
                }
            }
        };
        let up = self.upload.insert(up);
        while self.buf.len() >= part || (last && !self.buf.is_empty()) {
            let number = up.parts.len() + 1;
            let max = s.opts.max_parts;
            if number > max {
                return Err(remote(
                    key,
                    "multipart",
                    format!("the file needs more than {max} parts of {part} bytes"),
                ));
            }
            let n = self.buf.len().min(part);
            let mut rest = Vec::with_capacity(part);
            rest.extend_from_slice(&self.buf[n..]);
            self.buf.truncate(n);
            let body = std::mem::replace(&mut self.buf, rest);
            let r = s
                .client
                .upload_part()
                .bucket(&s.bucket)
                .key(key)
                .upload_id(&up.id)
                .part_number(number as i32)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| remote(key, "UploadPart", describe(&e)))?;
            up.parts.push(
                CompletedPart::builder()
                    .part_number(number as i32)
                    .set_e_tag(r.e_tag().map(str::to_string))
                    .build(),
            );
        }
        Ok(())
    }

    async fn store(&mut self) -> Result<(), SinkError> {
        if self.upload.is_none() && self.buf.len() < self.sink.opts.multipart_threshold_bytes {
            let body = std::mem::take(&mut self.buf);
            return self
                .sink
                .put_single(&self.key, body, self.create_only)
                .await;
        }
        self.send_parts(true).await?;
        let key = self.key.as_str();
        let Some(up) = self.upload.as_mut() else {
            return Err(remote(key, "multipart", "no upload"));
        };
        let s = &self.sink;
        let r = s
            .client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(key)
            .upload_id(&up.id)
            .set_if_none_match(self.create_only.then(|| "*".to_string()))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut up.parts)))
                    .build(),
            )
            .send()
            .await;
        match r {
            Ok(_) => {
                self.upload = None;
                Ok(())
            }
            // The key was already complete: this upload is aborted (on drop) and the object
            // stands.
            Err(e) if already_exists(&e) => Ok(()),
            Err(e) => Err(remote(key, "CompleteMultipartUpload", describe(&e))),
        }
    }
}

impl std::io::Write for S3Staged {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.failed {
            return Err(std::io::Error::other(self.refused()));
        }
        if b.is_empty() {
            return Ok(0);
        }
        if self.buf.len() >= self.hold() {
            let rt = self.sink.rt.clone();
            if let Err(e) = rt.block_on(self.send_parts(false)) {
                self.failed = true;
                return Err(std::io::Error::other(e));
            }
        }
        let n = b.len().min(self.hold() - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Staged for S3Staged {
    fn commit(mut self: Box<Self>) -> Result<u64, SinkError> {
        if self.failed {
            return Err(self.refused());
        }
        let rt = self.sink.rt.clone();
        rt.block_on(self.store())?;
        Ok(self.len)
    }
}

impl Drop for S3Staged {
    /// An upload that did not complete is aborted, so no orphaned parts accrue charges (best
    /// effort: the store also expires incomplete uploads by lifecycle rule).
    fn drop(&mut self) {
        let Some(up) = self.upload.take() else {
            return;
        };
        let s = &self.sink;
        let _ = s.rt.block_on(
            s.client
                .abort_multipart_upload()
                .bucket(&s.bucket)
                .key(&self.key)
                .upload_id(&up.id)
                .send(),
        );
    }
}

impl S3Sink {
    fn stage_with(&self, key: &str, create_only: bool) -> Result<Box<dyn Staged>, SinkError> {
        crate::sink::check_key(key)?;
        Ok(Box::new(S3Staged {
            sink: self.clone(),
            key: key.to_string(),
            create_only,
            buf: Vec::new(),
            upload: None,
            len: 0,
            failed: false,
        }))
    }

    fn put_with(&self, key: &str, bytes: &[u8], create_only: bool) -> Result<(), SinkError> {
        put_staged(self.stage_with(key, create_only)?, key, bytes)
    }

    /// Stores `bytes` under `key` whatever is there (no `If-None-Match`): for objects that
    /// are rewritten on purpose (a compacted file whose inputs changed). One PUT (or one
    /// multipart completion) replaces the object atomically for readers.
    pub fn put_replacing(&self, key: &str, bytes: &[u8]) -> Result<(), SinkError> {
        self.put_with(key, bytes, false)
    }

    /// The keys under `prefix`, every page of the listing, sorted.
    pub fn list_keys(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        self.rt.block_on(async {
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| remote(prefix, "ListObjectsV2", describe(&e)))?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
                match page.next_continuation_token() {
                    Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
            keys.sort();
            Ok(keys)
        })
    }

    /// The object's bytes; `None` if there is no such key.
    pub fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, SinkError> {
        crate::sink::check_key(key)?;
        self.rt.block_on(async {
            let r = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await;
            match r {
                Ok(o) => {
                    let body = o
                        .body
                        .collect()
                        .await
                        .map_err(|e| remote(key, "GetObject body", e))?;
                    Ok(Some(body.into_bytes().to_vec()))
                }
                Err(SdkError::ServiceError(s))
                    if s.raw().status().as_u16() == 404 || s.err().is_no_such_key() =>
                {
                    Ok(None)
                }
                Err(e) => Err(remote(key, "GetObject", describe(&e))),
            }
        })
    }
}

impl Sink for S3Sink {
    fn stage(&self, key: &str) -> Result<Box<dyn Staged>, SinkError> {
        self.stage_with(key, true)
    }
}
