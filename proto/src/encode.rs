//! Encoding of frames. `t` is always written first so that a decoder of ours reads a frame in
//! one pass; integers take the smallest MessagePack encoding that fits (PROTOCOL.md §1).

use std::convert::Infallible;

use rmp::encode::{self as enc, ByteBuf, ValueWriteError};

use crate::frame::{Batch, ClientFrame, EdgeFrame, Hello, HttpBatch, Seq, VERSION, Value};

/// A MessagePack writer over a `Vec<u8>` that cannot fail.
struct W(ByteBuf);

fn ok<T>(r: Result<T, ValueWriteError<Infallible>>) -> T {
    match r {
        Ok(v) => v,
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            match e {}
        }
    }
}

impl W {
    fn map(&mut self, n: usize) {
        ok(enc::write_map_len(&mut self.0, n as u32));
    }
    fn arr(&mut self, n: usize) {
        ok(enc::write_array_len(&mut self.0, n as u32));
    }
    fn str(&mut self, s: &str) {
        ok(enc::write_str(&mut self.0, s));
    }
    fn uint(&mut self, v: u64) {
        ok(enc::write_uint(&mut self.0, v));
    }
    fn sint(&mut self, v: i64) {
        ok(enc::write_sint(&mut self.0, v));
    }
    fn f64(&mut self, v: f64) {
        ok(enc::write_f64(&mut self.0, v));
    }
    fn bool(&mut self, v: bool) {
        match enc::write_bool(&mut self.0, v) {
            Ok(()) => {}
            Err(e) => match e {},
        }
    }
    fn nil(&mut self) {
        match enc::write_nil(&mut self.0) {
            Ok(()) => {}
            Err(e) => match e {},
        }
    }
    fn kv_str(&mut self, k: &str, v: &str) {
        self.str(k);
        self.str(v);
    }
    fn kv_uint(&mut self, k: &str, v: u64) {
        self.str(k);
        self.uint(v);
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.nil(),
            Value::Bool(b) => self.bool(*b),
            Value::Int(i) => self.sint(*i),
            Value::Float(f) => self.f64(*f),
            Value::Str(s) => self.str(s),
            Value::Array(a) => {
                self.arr(a.len());
                for v in a {
                    self.value(v);
                }
            }
            Value::Map(m) => self.value_map(m),
        }
    }
    fn value_map(&mut self, m: &[(String, Value)]) {
        self.map(m.len());
        for (k, v) in m {
            self.str(k);
            self.value(v);
        }
    }
}

fn with_writer(out: &mut Vec<u8>, f: impl FnOnce(&mut W)) {
    let mut w = W(ByteBuf::from_vec(std::mem::take(out)));
    f(&mut w);
    *out = w.0.into_vec();
}

/// Appends the encoding of a client frame to `out`.
pub fn encode_client(frame: &ClientFrame, out: &mut Vec<u8>) {
    with_writer(out, |w| client(w, frame));
}

/// Encodes a client frame into a new buffer.
pub fn client_to_vec(frame: &ClientFrame) -> Vec<u8> {
    let mut v = Vec::new();
    encode_client(frame, &mut v);
    v
}

fn client(w: &mut W, frame: &ClientFrame) {
    match frame {
        ClientFrame::Hello(h) => hello(w, h),
        ClientFrame::Batch(b) => batch(w, b),
        ClientFrame::Identify(f) => {
            let n = 3 + usize::from(f.email.is_some()) + usize::from(!f.traits.is_empty());
            w.map(n);
            w.kv_str("t", "id");
            w.kv_uint("seq", f.seq.0);
            w.kv_str("uid", &f.uid);
            if let Some(e) = &f.email {
                w.kv_str("email", e);
            }
            if !f.traits.is_empty() {
                w.str("traits");
                w.value_map(&f.traits);
            }
        }
        ClientFrame::Track(f) => {
            w.map(3 + usize::from(!f.props.is_empty()));
            w.kv_str("t", "tr");
            w.kv_uint("seq", f.seq.0);
            w.kv_str("name", &f.name);
            if !f.props.is_empty() {
                w.str("props");
                w.value_map(&f.props);
            }
        }
        ClientFrame::Outcome(f) => {
            w.map(4);
            w.kv_str("t", "out");
            w.kv_uint("seq", f.seq.0);
            w.kv_str("iid", &f.iid);
            w.kv_str("r", f.r.as_str());
        }
        ClientFrame::Bye { seq } => {
            w.map(2);
            w.kv_str("t", "bye");
            w.kv_uint("seq", seq.0);
        }
    }
}

fn hello(w: &mut W, h: &Hello) {
    let opt = [
        h.aid.is_some(),
        h.referrer.is_some(),
        h.title.is_some(),
        h.dpr.is_some(),
        h.tz.is_some(),
        h.ptr.is_some(),
        h.ack.is_some(),
        h.dnt.is_some(),
        h.uid.is_some(),
    ];
    w.map(8 + opt.iter().filter(|b| **b).count());
    w.kv_str("t", "hello");
    w.kv_uint("v", VERSION);
    w.kv_str("key", h.key.as_str());
    w.kv_str("sid", h.sid.as_str());
    if let Some(v) = &h.aid {
        w.kv_str("aid", v);
    }
    w.kv_str("url", &h.url);
    if let Some(v) = &h.referrer {
        w.kv_str("ref", v);
    }
    if let Some(v) = &h.title {
        w.kv_str("title", v);
    }
    w.kv_uint("vw", u64::from(h.vw));
    w.kv_uint("vh", u64::from(h.vh));
    if let Some(v) = h.dpr {
        w.str("dpr");
        w.f64(v);
    }
    if let Some(v) = h.tz {
        w.str("tz");
        w.sint(i64::from(v));
    }
    if let Some(v) = &h.ptr {
        w.kv_str("ptr", v);
    }
    w.kv_str("sdk", &h.sdk);
    if let Some(Seq(v)) = h.ack {
        w.kv_uint("ack", v);
    }
    if let Some(v) = h.dnt {
        w.str("dnt");
        w.bool(v);
    }
    if let Some(v) = &h.uid {
        w.kv_str("uid", v);
    }
}

fn batch(w: &mut W, b: &Batch) {
    w.map(7 + usize::from(!b.a.is_empty()) + usize::from(!b.s.is_empty()));
    w.kv_str("t", "b");
    w.kv_uint("seq", b.seq.0);
    w.kv_uint("t0", b.t0);
    w.str("k");
    w.arr(b.k.len());
    for v in &b.k {
        w.uint(u64::from(*v));
    }
    w.str("dt");
    w.arr(b.dt.len());
    for v in &b.dt {
        w.uint(u64::from(*v));
    }
    w.str("x");
    w.arr(b.x.len());
    for v in &b.x {
        w.sint(i64::from(*v));
    }
    w.str("y");
    w.arr(b.y.len());
    for v in &b.y {
        w.sint(i64::from(*v));
    }
    if !b.a.is_empty() {
        w.str("a");
        w.arr(b.a.len());
        for v in &b.a {
            w.uint(u64::from(*v));
        }
    }
    if !b.s.is_empty() {
        w.str("s");
        w.arr(b.s.len());
        for s in b.s.iter() {
            w.str(s);
        }
    }
}

/// Appends the encoding of an edge frame to `out`.
pub fn encode_edge(frame: &EdgeFrame, out: &mut Vec<u8>) {
    with_writer(out, |w| match frame {
        EdgeFrame::Welcome(f) => {
            w.map(8);
            w.kv_str("t", "welcome");
            w.kv_uint("v", VERSION);
            w.kv_str("edge", &f.edge);
            w.kv_str("region", &f.region);
            w.kv_uint("ack", f.ack.0);
            w.kv_uint("flush_ms", u64::from(f.flush_ms));
            w.kv_uint("max_batch", u64::from(f.max_batch));
            w.str("emit");
            w.bool(f.emit);
        }
        EdgeFrame::Ack { seq } => {
            w.map(2);
            w.kv_str("t", "ack");
            w.kv_uint("seq", seq.0);
        }
        EdgeFrame::Det(f) => {
            w.map(5 + usize::from(f.sec.is_some()));
            w.kv_str("t", "det");
            w.kv_str("id", &f.id);
            w.kv_str("e", &f.e);
            w.str("c");
            w.f64(f.c);
            if let Some(s) = &f.sec {
                w.kv_str("sec", s);
            }
            w.kv_uint("at", f.at.0);
        }
        EdgeFrame::Iv(f) => {
            w.map(6);
            w.kv_str("t", "iv");
            w.kv_str("id", &f.id);
            w.kv_str("kind", &f.kind);
            w.kv_str("variant", &f.variant);
            w.kv_str("e", &f.e);
            w.str("payload");
            w.value(&f.payload);
        }
        EdgeFrame::Err(f) => {
            w.map(4 + usize::from(f.retry_ms.is_some()));
            w.kv_str("t", "err");
            w.kv_str("code", f.code.as_str());
            w.kv_str("msg", &f.msg);
            w.str("fatal");
            w.bool(f.fatal);
            if let Some(r) = f.retry_ms {
                w.kv_uint("retry_ms", u64::from(r));
            }
        }
    });
}

/// Encodes an edge frame into a new buffer.
pub fn edge_to_vec(frame: &EdgeFrame) -> Vec<u8> {
    let mut v = Vec::new();
    encode_edge(frame, &mut v);
    v
}

/// Encodes the body of `POST /v1/batch`.
pub fn http_batch_to_vec(b: &HttpBatch) -> Vec<u8> {
    let mut out = Vec::new();
    with_writer(&mut out, |w| {
        w.map(3 + usize::from(b.hello.is_some()));
        w.kv_str("key", b.key.as_str());
        w.kv_str("sid", b.sid.as_str());
        if let Some(h) = &b.hello {
            w.str("hello");
            hello(w, h);
        }
        w.str("frames");
        w.arr(b.frames.len());
        for f in &b.frames {
            client(w, f);
        }
    });
    out
}
