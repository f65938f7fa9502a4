//! Typed frames of PROTOCOL.md §3–§5, with validated newtype ids.

use std::fmt;

use crate::error::{DecodeError, ErrorCode};

/// A session id: 16–64 characters of `[A-Za-z0-9_-]` (PROTOCOL.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    pub const MIN_LEN: usize = 16;
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Result<Sid, DecodeError> {
        if s.len() < Self::MIN_LEN || s.len() > Self::MAX_LEN {
            return Err(DecodeError::Invalid {
                field: "sid",
                problem: "must be 16 to 64 characters",
            });
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(DecodeError::Invalid {
                field: "sid",
                problem: "may only contain A-Z a-z 0-9 _ -",
            });
        }
        Ok(Sid(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A publishable write key (`siq_pk_…`). Secret keys (`siq_sk_…`) never parse.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WriteKey(String);

impl WriteKey {
    pub const PREFIX: &'static str = "siq_pk_";
    pub const SECRET_PREFIX: &'static str = "siq_sk_";
    pub const MAX_LEN: usize = 128;

    pub fn parse(s: &str) -> Result<WriteKey, DecodeError> {
        if s.starts_with(Self::SECRET_PREFIX) {
            return Err(DecodeError::SecretKey);
        }
        let Some(rest) = s.strip_prefix(Self::PREFIX) else {
            return Err(DecodeError::BadKey("not a publishable key (siq_pk_…)"));
        };
        if rest.is_empty() || s.len() > Self::MAX_LEN {
            return Err(DecodeError::BadKey("publishable key has the wrong length"));
        }
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(DecodeError::BadKey(
                "publishable key has invalid characters",
            ));
        }
        Ok(WriteKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WriteKey {
    // Keys are credentials: never print one whole in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.0.get(..Self::PREFIX.len() + 4).unwrap_or(&self.0);
        write!(f, "WriteKey({shown}…)")
    }
}

/// A client frame's sequence number: 1, 2, 3, … per session (PROTOCOL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A value inside `traits`, `props` or an intervention `payload`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Map(Vec<(String, Value)>),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Look a key up in a decoded map.
pub fn get<'a>(map: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// `hello` (PROTOCOL.md §3).
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    pub key: WriteKey,
    pub sid: Sid,
    pub aid: Option<String>,
    pub url: String,
    pub referrer: Option<String>,
    pub title: Option<String>,
    pub vw: u32,
    pub vh: u32,
    pub dpr: Option<f64>,
    pub tz: Option<i32>,
    pub ptr: Option<String>,
    pub sdk: String,
    pub ack: Option<Seq>,
    pub dnt: Option<bool>,
    /// The user the SDK believes is signed in (from an earlier `identify` or the site's auth
    /// library): a hint the edge uses to know a session's value at admission, before its `id`
    /// frame. An extension within v1 (unknown keys are ignored by older edges; see
    /// docs/DELIVERY.md); it binds nothing: only an `id` frame identifies a session.
    pub uid: Option<String>,
}

/// The protocol version this crate speaks.
pub const VERSION: u64 = 1;

/// Sample kinds of a `b` frame (PROTOCOL.md §4 table).
pub mod kind {
    pub const MOVE: u8 = 0;
    pub const DOWN: u8 = 1;
    pub const UP: u8 = 2;
    pub const CLICK: u8 = 3;
    pub const SCROLL: u8 = 4;
    pub const KEY: u8 = 5;
    pub const VISIBILITY: u8 = 6;
    pub const SECTION: u8 = 7;
    pub const PAGE: u8 = 8;
    pub const RESIZE: u8 = 9;
    pub const DEAD: u8 = 10;
    pub const ERROR: u8 = 11;
    pub const FORM: u8 = 12;
    pub const COPY: u8 = 13;
    pub const LEAVE: u8 = 14;

    /// Kinds whose `a` indexes the frame's string table.
    pub fn carries_string(k: u8) -> bool {
        matches!(k, CLICK | SECTION | PAGE | DEAD | ERROR | FORM)
    }
}

/// A frame's string table (`s`): one buffer plus end offsets, so decoding into a reused table
/// allocates nothing once its capacity has grown to the session's usual size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrTable {
    buf: String,
    ends: Vec<u32>,
}

impl StrTable {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    pub fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        // The buffer is bounded by the frame limit, far below u32::MAX.
        self.ends
            .push(u32::try_from(self.buf.len()).unwrap_or(u32::MAX));
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.buf.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// `b`: a columnar batch of samples (PROTOCOL.md §4). All columns have the same length; `a` is
/// empty when the frame had no `a` column (meaning all zeros).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub seq: Seq,
    /// Client epoch ms of the first sample.
    pub t0: u64,
    pub k: Vec<u8>,
    /// Microseconds since the previous sample (sample 0: since `t0`).
    pub dt: Vec<u32>,
    pub x: Vec<i32>,
    pub y: Vec<i32>,
    pub a: Vec<u32>,
    pub s: StrTable,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.k.len()
    }

    pub fn is_empty(&self) -> bool {
        self.k.is_empty()
    }

    /// The `a` column's value for sample `i` (0 when the column was absent).
    #[inline]
    pub fn a(&self, i: usize) -> u32 {
        self.a.get(i).copied().unwrap_or(0)
    }

    /// The string a sample refers to, for kinds that carry one.
    #[inline]
    pub fn label(&self, i: usize) -> Option<&str> {
        self.s.get(self.a(i) as usize)
    }

    pub fn clear(&mut self) {
        self.k.clear();
        self.dt.clear();
        self.x.clear();
        self.y.clear();
        self.a.clear();
        self.s.clear();
    }

    /// Appends one sample (for encoders: SDK ports, loadgen, tests).
    pub fn push(&mut self, k: u8, dt_us: u32, x: i32, y: i32, a: u32) {
        if a != 0 && self.a.len() < self.k.len() {
            self.a.resize(self.k.len(), 0);
        }
        self.k.push(k);
        self.dt.push(dt_us);
        self.x.push(x);
        self.y.push(y);
        if !self.a.is_empty() || a != 0 {
            self.a.push(a);
        }
    }

    /// Interns `s` into the string table and returns its index.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.s.iter().position(|e| e == s) {
            return i as u32;
        }
        self.s.push(s);
        (self.s.len() - 1) as u32
    }
}

/// `id`: binds the session to a user.
#[derive(Debug, Clone, PartialEq)]
pub struct Identify {
    pub seq: Seq,
    pub uid: String,
    pub email: Option<String>,
    pub traits: Vec<(String, Value)>,
}

/// `tr`: a custom event.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub seq: Seq,
    pub name: String,
    pub props: Vec<(String, Value)>,
}

/// What happened to an intervention on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Shown,
    Clicked,
    Dismissed,
    Converted,
}

impl OutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Shown => "shown",
            OutcomeKind::Clicked => "clicked",
            OutcomeKind::Dismissed => "dismissed",
            OutcomeKind::Converted => "converted",
        }
    }

    pub fn parse(s: &str) -> Option<OutcomeKind> {
        Some(match s {
            "shown" => OutcomeKind::Shown,
            "clicked" => OutcomeKind::Clicked,
            "dismissed" => OutcomeKind::Dismissed,
            "converted" => OutcomeKind::Converted,
            _ => return None,
        })
    }
}

/// `out`: an intervention outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub seq: Seq,
    pub iid: String,
    pub r: OutcomeKind,
}

/// Every frame a client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Hello(Hello),
    Batch(Batch),
    Identify(Identify),
    Track(Track),
    Outcome(Outcome),
    Bye { seq: Seq },
}

impl ClientFrame {
    /// The frame's seq; `hello` has none.
    pub fn seq(&self) -> Option<Seq> {
        match self {
            ClientFrame::Hello(_) => None,
            ClientFrame::Batch(b) => Some(b.seq),
            ClientFrame::Identify(f) => Some(f.seq),
            ClientFrame::Track(f) => Some(f.seq),
            ClientFrame::Outcome(f) => Some(f.seq),
            ClientFrame::Bye { seq } => Some(*seq),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Hello(_) => "hello",
            ClientFrame::Batch(_) => "b",
            ClientFrame::Identify(_) => "id",
            ClientFrame::Track(_) => "tr",
            ClientFrame::Outcome(_) => "out",
            ClientFrame::Bye { .. } => "bye",
        }
    }

    /// A 64-bit digest of the frame's content (not its bytes), used by the dedup of
    /// PROTOCOL.md §6 to tell a retransmission (same content) from a conflict (different
    /// content under a held seq). Deterministic across processes and versions of this crate's
    /// encoder, since it hashes decoded values.
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fp::new(self.type_name().as_bytes()[0] as u64);
        match self {
            ClientFrame::Hello(f) => {
                h.str(f.sid.as_str());
                h.str(&f.url);
            }
            ClientFrame::Batch(b) => {
                h.u64(b.seq.0);
                h.u64(b.t0);
                for i in 0..b.len() {
                    h.u64(u64::from(b.k[i]) << 32 | u64::from(b.dt[i]));
                    h.u64((b.x[i] as u32 as u64) << 32 | b.y[i] as u32 as u64);
                }
                for a in &b.a {
                    h.u64(u64::from(*a));
                }
                for s in b.s.iter() {
                    h.str(s);
                }
            }
            ClientFrame::Identify(f) => {
                h.u64(f.seq.0);
                h.str(&f.uid);
                h.str(f.email.as_deref().unwrap_or(""));
                h.map(&f.traits);
            }
            ClientFrame::Track(f) => {
                h.u64(f.seq.0);
                h.str(&f.name);
                h.map(&f.props);
            }
            ClientFrame::Outcome(f) => {
                h.u64(f.seq.0);
                h.str(&f.iid);
                h.str(f.r.as_str());
            }
            ClientFrame::Bye { seq } => h.u64(seq.0),
        }
        h.finish()
    }
}

/// A small, fast, deterministic 64-bit hasher (multiply-xorshift over words).
struct Fp(u64);

impl Fp {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;

    fn new(seed: u64) -> Fp {
        Fp(seed ^ 0x243F_6A88_85A3_08D3)
    }

    #[inline]
    fn u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(Self::K).rotate_left(29);
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        for c in s.as_bytes().chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.u64(u64::from_le_bytes(w));
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.u64(1),
            Value::Bool(b) => self.u64(2 + u64::from(*b)),
            Value::Int(i) => {
                self.u64(4);
                self.u64(*i as u64);
            }
            Value::Float(f) => {
                self.u64(5);
                self.u64(f.to_bits());
            }
            Value::Str(s) => {
                self.u64(6);
                self.str(s);
            }
            Value::Array(a) => {
                self.u64(7 + ((a.len() as u64) << 8));
                for v in a {
                    self.value(v);
                }
            }
            Value::Map(m) => self.map(m),
        }
    }

    fn map(&mut self, m: &[(String, Value)]) {
        self.u64(8 + ((m.len() as u64) << 8));
        for (k, v) in m {
            self.str(k);
            self.value(v);
        }
    }

    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

/// `welcome` (PROTOCOL.md §3).
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    pub edge: String,
    pub region: String,
    pub ack: Seq,
    pub flush_ms: u32,
    pub max_batch: u32,
    pub emit: bool,
}

/// `det`: a detection sent to the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Det {
    pub id: String,
    pub e: String,
    pub c: f64,
    pub sec: Option<String>,
    pub at: Seq,
}

/// `iv`: an intervention for the page to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Iv {
    pub id: String,
    pub kind: String,
    pub variant: String,
    pub e: String,
    pub payload: Value,
}

/// `err`.
#[derive(Debug, Clone, PartialEq)]
pub struct Err {
    pub code: ErrorCode,
    pub msg: String,
    pub fatal: bool,
    pub retry_ms: Option<u32>,
}

impl From<&DecodeError> for Err {
    fn from(e: &DecodeError) -> Err {
        Err {
            code: e.code(),
            msg: e.to_string(),
            fatal: e.fatal(),
            retry_ms: None,
        }
    }
}

/// Every frame an edge sends.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeFrame {
    Welcome(Welcome),
    Ack { seq: Seq },
    Det(Det),
    Iv(Iv),
    Err(Err),
}

/// The body of `POST /v1/batch` (PROTOCOL.md §2).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpBatch {
    pub key: WriteKey,
    pub sid: Sid,
    pub hello: Option<Hello>,
    pub frames: Vec<ClientFrame>,
}
