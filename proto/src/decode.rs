//! Decoding and validation of frames (PROTOCOL.md §1, §3–§7).
//!
//! Keys may come in any order and unknown keys are skipped. When `t` is the first key (as every
//! encoder of ours writes it) the frame is decoded in one pass; otherwise the top-level map is
//! scanned once for `t` first. Every allocation is bounded by [`Limits`] and by the input length.

use crate::error::DecodeError;
use crate::frame::{
    Batch, ClientFrame, Det, EdgeFrame, Err, Hello, HttpBatch, Identify, Iv, Outcome, OutcomeKind,
    Seq, Sid, Track, VERSION, Value, Welcome, WriteKey, kind,
};
use crate::limits::Limits;
use crate::read::Reader;

type R<T> = Result<T, DecodeError>;

/// Longest map key we read as a key; longer keys are still skipped correctly as unknown.
const MAX_KEY: usize = 64;

/// Decodes one client frame.
pub fn decode_client(bytes: &[u8], limits: &Limits) -> R<ClientFrame> {
    let mut out = ClientFrame::Bye { seq: Seq(0) };
    decode_client_into(bytes, limits, &mut out)?;
    Ok(out)
}

/// Decodes one client frame into `out`. When the frame is a batch and `out` already holds one,
/// its columns are reused, so a stream of batches decodes without heap allocation once the
/// buffers have grown. On error `out` is left in an unspecified but valid state.
pub fn decode_client_into(bytes: &[u8], limits: &Limits, out: &mut ClientFrame) -> R<()> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooBig {
            len: bytes.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    client_frame(&mut r, limits, out)?;
    if !r.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes after the frame"));
    }
    Ok(())
}

/// Reads the frame type of the map at the reader's position without consuming anything.
fn frame_type<'a>(r: &Reader<'a>, limits: &Limits) -> R<&'a str> {
    let mut p = r.clone();
    let n = p.map_len("frame", usize::MAX)?;
    for _ in 0..n {
        if p.str("frame key", limits.max_string_bytes)? == "t" {
            return p.str("t", MAX_KEY);
        }
        p.skip()?;
    }
    Err(DecodeError::Missing("t"))
}

fn client_frame(r: &mut Reader<'_>, limits: &Limits, out: &mut ClientFrame) -> R<()> {
    let t = frame_type(r, limits)?;
    match t {
        "b" => {
            if !matches!(out, ClientFrame::Batch(_)) {
                *out = ClientFrame::Batch(Batch::default());
            }
            let ClientFrame::Batch(b) = out else {
                unreachable!("just set to a batch")
            };
            batch(r, limits, b)
        }
        "hello" => {
            *out = ClientFrame::Hello(hello(r, limits)?);
            Ok(())
        }
        "id" => {
            *out = ClientFrame::Identify(identify(r, limits)?);
            Ok(())
        }
        "tr" => {
            *out = ClientFrame::Track(track(r, limits)?);
            Ok(())
        }
        "out" => {
            *out = ClientFrame::Outcome(outcome(r, limits)?);
            Ok(())
        }
        "bye" => {
            let mut seq = None;
            fields(r, limits, |key, r| {
                match key {
                    "seq" => seq = Some(read_seq(r)?),
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            *out = ClientFrame::Bye {
                seq: seq.ok_or(DecodeError::Missing("seq"))?,
            };
            Ok(())
        }
        other => {
            // Consume it so the caller's trailing-bytes check holds, then refuse (not fatal).
            r.skip()?;
            Err(DecodeError::UnknownType(other.chars().take(32).collect()))
        }
    }
}

/// Iterates a map's entries, handing each key and the reader (positioned on the value) to `f`.
fn fields<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
    mut f: impl FnMut(&'a str, &mut Reader<'a>) -> R<()>,
) -> R<()> {
    let n = r.map_len("frame", usize::MAX)?;
    for _ in 0..n {
        let key = r.str("frame key", limits.max_string_bytes)?;
        f(key, r)?;
    }
    Ok(())
}

fn read_seq(r: &mut Reader<'_>) -> R<Seq> {
    let s = r.u64("seq")?;
    if s == 0 {
        return Err(DecodeError::Invalid {
            field: "seq",
            problem: "seq starts at 1",
        });
    }
    Ok(Seq(s))
}

fn string(r: &mut Reader<'_>, field: &'static str, limits: &Limits) -> R<String> {
    r.str(field, limits.max_string_bytes).map(str::to_owned)
}

/// Optional fields accept `nil` as absent (JS encoders write `undefined` as nil).
fn opt<'a, T>(r: &mut Reader<'a>, f: impl FnOnce(&mut Reader<'a>) -> R<T>) -> R<Option<T>> {
    if r.try_nil()? {
        Ok(None)
    } else {
        f(r).map(Some)
    }
}

fn hello(r: &mut Reader<'_>, limits: &Limits) -> R<Hello> {
    let (mut v, mut key, mut sid, mut url, mut sdk, mut vw, mut vh) =
        (None, None, None, None, None, None, None);
    let (mut aid, mut referrer, mut title, mut dpr, mut tz, mut ptr, mut ack, mut dnt) =
        (None, None, None, None, None, None, None, None);
    let mut uid = None;
    fields(r, limits, |k, r| {
        match k {
            "v" => v = Some(r.u64("v")?),
            "key" => key = Some(r.str("key", limits.max_string_bytes)?),
            "sid" => sid = Some(r.str("sid", limits.max_string_bytes)?),
            "aid" => aid = opt(r, |r| string(r, "aid", limits))?,
            "url" => url = Some(string(r, "url", limits)?),
            "ref" => referrer = opt(r, |r| string(r, "ref", limits))?,
            "title" => title = opt(r, |r| string(r, "title", limits))?,
            "vw" => vw = Some(r.u32("vw")?),
            "vh" => vh = Some(r.u32("vh")?),
            "dpr" => dpr = opt(r, |r| r.number("dpr"))?,
            "tz" => tz = opt(r, |r| r.i32("tz"))?,
            "ptr" => ptr = opt(r, |r| string(r, "ptr", limits))?,
            "sdk" => sdk = Some(string(r, "sdk", limits)?),
            "ack" => ack = opt(r, |r| r.u64("ack").map(Seq))?,
            "dnt" => dnt = opt(r, |r| r.bool("dnt"))?,
            "uid" => uid = opt(r, |r| string(r, "uid", limits))?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    // Version first: a client of another version gets `version`, whatever else it sent.
    match v {
        Some(VERSION) => {}
        Some(other) => return Err(DecodeError::Version(other)),
        None => return Err(DecodeError::Missing("v")),
    }
    Ok(Hello {
        key: WriteKey::parse(key.ok_or(DecodeError::Missing("key"))?)?,
        sid: Sid::parse(sid.ok_or(DecodeError::Missing("sid"))?)?,
        aid,
        url: url.ok_or(DecodeError::Missing("url"))?,
        referrer,
        title,
        vw: vw.ok_or(DecodeError::Missing("vw"))?,
        vh: vh.ok_or(DecodeError::Missing("vh"))?,
        dpr,
        tz,
        ptr,
        sdk: sdk.ok_or(DecodeError::Missing("sdk"))?,
        ack,
        dnt,
        uid,
    })
}

fn batch(r: &mut Reader<'_>, limits: &Limits, b: &mut Batch) -> R<()> {
    b.clear();
    let (mut seq, mut t0) = (None, None);
    let (mut has_k, mut has_dt, mut has_x, mut has_y, mut has_a) =
        (false, false, false, false, false);
    let max = limits.max_samples;
    fields(r, limits, |key, r| {
        match key {
            "seq" => seq = Some(read_seq(r)?),
            "t0" => {
                let t = r.number("t0")?;
                if !(0.0..=9.0e15).contains(&t) {
                    return Err(DecodeError::Invalid {
                        field: "t0",
                        problem: "must be epoch milliseconds",
                    });
                }
                t0 = Some(t as u64);
            }
            "k" => {
                has_k = true;
                b.k.clear();
                if let Some(bin) = r.try_bin("k", max)? {
                    b.k.extend_from_slice(bin);
                } else {
                    let n = r.array_len("k", max)?;
                    b.k.reserve(n);
                    for _ in 0..n {
                        b.k.push(r.u8("k")?);
                    }
                }
            }
            "dt" => {
                has_dt = true;
                let n = r.array_len("dt", max)?;
                b.dt.clear();
                b.dt.reserve(n);
                for _ in 0..n {
                    b.dt.push(r.u32("dt")?);
                }
            }
            "x" => {
                has_x = true;
                let n = r.array_len("x", max)?;
                b.x.clear();
                b.x.reserve(n);
                for _ in 0..n {
                    b.x.push(r.i32("x")?);
                }
            }
            "y" => {
                has_y = true;
                let n = r.array_len("y", max)?;
                b.y.clear();
                b.y.reserve(n);
                for _ in 0..n {
                    b.y.push(r.i32("y")?);
                }
            }
            "a" => {
                if r.try_nil()? {
                    return Ok(());
                }
                has_a = true;
                let n = r.array_len("a", max)?;
                b.a.clear();
                b.a.reserve(n);
                for _ in 0..n {
                    b.a.push(r.u32("a")?);
                }
            }
            "s" => {
                if r.try_nil()? {
                    return Ok(());
                }
                let n = r.array_len("s", limits.max_string_table)?;
                b.s.clear();
                for _ in 0..n {
                    b.s.push(r.str("s", limits.max_string_bytes)?);
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    b.seq = seq.ok_or(DecodeError::Missing("seq"))?;
    b.t0 = t0.ok_or(DecodeError::Missing("t0"))?;
    for (has, name) in [(has_k, "k"), (has_dt, "dt"), (has_x, "x"), (has_y, "y")] {
        if !has {
            return Err(DecodeError::Missing(name));
        }
    }
    let n = b.k.len();
    if n == 0 {
        return Err(DecodeError::Invalid {
            field: "k",
            problem: "a batch holds 1 to 4096 samples",
        });
    }
    if b.dt.len() != n || b.x.len() != n || b.y.len() != n || (has_a && b.a.len() != n) {
        return Err(DecodeError::Invalid {
            field: "b",
            problem: "columns k, dt, x, y (and a) must have the same length",
        });
    }
    if has_a {
        let strings = b.s.len();
        for (k, a) in b.k.iter().zip(&b.a) {
            if kind::carries_string(*k) && *a as usize >= strings {
                return Err(DecodeError::Invalid {
                    field: "a",
                    problem: "index past the end of the string table `s`",
                });
            }
        }
    }
    Ok(())
}

/// A flat-ish map (`traits`, `props`, `payload`) nested at most `limits.max_depth` deep.
fn value_map(r: &mut Reader<'_>, field: &'static str, limits: &Limits) -> R<Vec<(String, Value)>> {
    match value(r, field, limits, 1)? {
        Value::Map(m) => Ok(m),
        _ => Err(DecodeError::Invalid {
            field,
            problem: "expected a map",
        }),
    }
}

fn value(r: &mut Reader<'_>, field: &'static str, limits: &Limits, depth: usize) -> R<Value> {
    use rmp::Marker as M;
    let m = r.peek_marker()?;
    Ok(match m {
        M::Null => {
            r.skip()?;
            Value::Nil
        }
        M::True | M::False => Value::Bool(r.bool(field)?),
        M::F32 | M::F64 => Value::Float(r.number(field)?),
        M::FixStr(_) | M::Str8 | M::Str16 | M::Str32 => Value::Str(string(r, field, limits)?),
        M::FixArray(_) | M::Array16 | M::Array32 => {
            if depth > limits.max_depth {
                return Err(DecodeError::TooDeep {
                    field,
                    limit: limits.max_depth,
                });
            }
            let n = r.array_len(field, limits.max_map_entries)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(value(r, field, limits, depth + 1)?);
            }
            Value::Array(v)
        }
        M::FixMap(_) | M::Map16 | M::Map32 => {
            if depth > limits.max_depth {
                return Err(DecodeError::TooDeep {
                    field,
                    limit: limits.max_depth,
                });
            }
            let n = r.map_len(field, limits.max_map_entries)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let k = string(r, field, limits)?;
                v.push((k, value(r, field, limits, depth + 1)?));
            }
            Value::Map(v)
        }
        _ => {
            let i = r.int(field)?;
            Value::Int(i64::try_from(i).map_err(|_| DecodeError::Invalid {
                field,
                problem: "integer out of range",
            })?)
        }
    })
}

fn identify(r: &mut Reader<'_>, limits: &Limits) -> R<Identify> {
    let (mut seq, mut uid, mut email, mut traits) = (None, None, None, Vec::new());
    fields(r, limits, |k, r| {
        match k {
            "seq" => seq = Some(read_seq(r)?),
            "uid" => uid = Some(string(r, "uid", limits)?),
            "email" => email = opt(r, |r| string(r, "email", limits))?,
            "traits" => traits = opt(r, |r| value_map(r, "traits", limits))?.unwrap_or_default(),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    let uid = uid.ok_or(DecodeError::Missing("uid"))?;
    if uid.is_empty() {
        return Err(DecodeError::Invalid {
            field: "uid",
            problem: "must not be empty",
        });
    }
    Ok(Identify {
        seq: seq.ok_or(DecodeError::Missing("seq"))?,
        uid,
        email,
        traits,
    })
}

fn track(r: &mut Reader<'_>, limits: &Limits) -> R<Track> {
    let (mut seq, mut name, mut props) = (None, None, Vec::new());
    fields(r, limits, |k, r| {
        match k {
            "seq" => seq = Some(read_seq(r)?),
            "name" => name = Some(string(r, "name", limits)?),
            "props" => props = opt(r, |r| value_map(r, "props", limits))?.unwrap_or_default(),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Track {
        seq: seq.ok_or(DecodeError::Missing("seq"))?,
        name: name.ok_or(DecodeError::Missing("name"))?,
        props,
    })
}

fn outcome(r: &mut Reader<'_>, limits: &Limits) -> R<Outcome> {
    let (mut seq, mut iid, mut res) = (None, None, None);
    fields(r, limits, |k, r| {
        match k {
            "seq" => seq = Some(read_seq(r)?),
            "iid" => iid = Some(string(r, "iid", limits)?),
            "r" => {
                let s = r.str("r", MAX_KEY)?;
                res = Some(OutcomeKind::parse(s).ok_or(DecodeError::Invalid {
                    field: "r",
                    problem: "must be shown, clicked, dismissed or converted",
                })?);
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(Outcome {
        seq: seq.ok_or(DecodeError::Missing("seq"))?,
        iid: iid.ok_or(DecodeError::Missing("iid"))?,
        r: res.ok_or(DecodeError::Missing("r"))?,
    })
}

/// Decodes the body of `POST /v1/batch`: `{key, sid, hello?, frames:[frame...]}`.
/// Each embedded frame is held to the per-frame limit as well as the body limit.
pub fn decode_http_batch(bytes: &[u8], limits: &Limits) -> R<HttpBatch> {
    if bytes.len() > limits.max_http_body_bytes {
        return Err(DecodeError::FrameTooBig {
            len: bytes.len(),
            limit: limits.max_http_body_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let (mut key, mut sid, mut hello_f, mut frames) = (None, None, None, Vec::new());
    fields(&mut r, limits, |k, r| {
        match k {
            "key" => key = Some(WriteKey::parse(r.str("key", limits.max_string_bytes)?)?),
            "sid" => sid = Some(Sid::parse(r.str("sid", limits.max_string_bytes)?)?),
            "hello" => {
                hello_f = opt(r, |r| {
                    let start = r.pos();
                    let mut f = ClientFrame::Bye { seq: Seq(0) };
                    client_frame(r, limits, &mut f)?;
                    check_embedded_size(r.pos() - start, limits)?;
                    match f {
                        ClientFrame::Hello(h) => Ok(h),
                        _ => Err(DecodeError::Invalid {
                            field: "hello",
                            problem: "must be a hello frame",
                        }),
                    }
                })?;
            }
            "frames" => {
                let n = r.array_len("frames", limits.max_http_frames)?;
                frames.reserve(n);
                for _ in 0..n {
                    let start = r.pos();
                    let mut f = ClientFrame::Bye { seq: Seq(0) };
                    client_frame(r, limits, &mut f)?;
                    check_embedded_size(r.pos() - start, limits)?;
                    if matches!(f, ClientFrame::Hello(_)) {
                        return Err(DecodeError::Invalid {
                            field: "frames",
                            problem: "hello goes in the `hello` field, not in `frames`",
                        });
                    }
                    frames.push(f);
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    if !r.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes after the body"));
    }
    let key = key.ok_or(DecodeError::Missing("key"))?;
    let sid = sid.ok_or(DecodeError::Missing("sid"))?;
    if let Some(h) = &hello_f
        && (h.sid != sid || h.key != key)
    {
        return Err(DecodeError::Invalid {
            field: "hello",
            problem: "key and sid must match the body's",
        });
    }
    Ok(HttpBatch {
        key,
        sid,
        hello: hello_f,
        frames,
    })
}

fn check_embedded_size(len: usize, limits: &Limits) -> R<()> {
    if len > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooBig {
            len,
            limit: limits.max_frame_bytes,
        });
    }
    Ok(())
}

/// Decodes one edge frame (for clients: SDK ports, loadgen, tests).
pub fn decode_edge(bytes: &[u8], limits: &Limits) -> R<EdgeFrame> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(DecodeError::FrameTooBig {
            len: bytes.len(),
            limit: limits.max_frame_bytes,
        });
    }
    let mut r = Reader::new(bytes);
    let t = frame_type(&r, limits)?;
    let l = limits;
    let f = match t {
        "welcome" => {
            let mut w = Welcome {
                edge: String::new(),
                region: String::new(),
                ack: Seq(0),
                flush_ms: 0,
                max_batch: 0,
                emit: false,
            };
            let mut v = None;
            fields(&mut r, l, |k, r| {
                match k {
                    "v" => v = Some(r.u64("v")?),
                    "edge" => w.edge = string(r, "edge", l)?,
                    "region" => w.region = string(r, "region", l)?,
                    "ack" => w.ack = Seq(r.u64("ack")?),
                    "flush_ms" => w.flush_ms = r.u32("flush_ms")?,
                    "max_batch" => w.max_batch = r.u32("max_batch")?,
                    "emit" => w.emit = r.bool("emit")?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            match v {
                Some(VERSION) => EdgeFrame::Welcome(w),
                Some(o) => return Err(DecodeError::Version(o)),
                None => return Err(DecodeError::Missing("v")),
            }
        }
        "ack" => {
            let mut seq = None;
            fields(&mut r, l, |k, r| {
                match k {
                    "seq" => seq = Some(Seq(r.u64("seq")?)),
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            EdgeFrame::Ack {
                seq: seq.ok_or(DecodeError::Missing("seq"))?,
            }
        }
        "det" => {
            let (mut id, mut e, mut c, mut sec, mut at) = (None, None, None, None, None);
            fields(&mut r, l, |k, r| {
                match k {
                    "id" => id = Some(string(r, "id", l)?),
                    "e" => e = Some(string(r, "e", l)?),
                    "c" => c = Some(r.number("c")?),
                    "sec" => sec = opt(r, |r| string(r, "sec", l))?,
                    "at" => at = Some(Seq(r.u64("at")?)),
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            EdgeFrame::Det(Det {
                id: id.ok_or(DecodeError::Missing("id"))?,
                e: e.ok_or(DecodeError::Missing("e"))?,
                c: c.ok_or(DecodeError::Missing("c"))?,
                sec,
                at: at.ok_or(DecodeError::Missing("at"))?,
            })
        }
        "iv" => {
            let (mut id, mut kind, mut variant, mut e) = (None, None, None, None);
            let mut payload = Value::Nil;
            fields(&mut r, l, |k, r| {
                match k {
                    "id" => id = Some(string(r, "id", l)?),
                    "kind" => kind = Some(string(r, "kind", l)?),
                    "variant" => variant = Some(string(r, "variant", l)?),
                    "e" => e = Some(string(r, "e", l)?),
                    "payload" => payload = value(r, "payload", l, 1)?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            EdgeFrame::Iv(Iv {
                id: id.ok_or(DecodeError::Missing("id"))?,
                kind: kind.ok_or(DecodeError::Missing("kind"))?,
                variant: variant.ok_or(DecodeError::Missing("variant"))?,
                e: e.ok_or(DecodeError::Missing("e"))?,
                payload,
            })
        }
        "err" => {
            let (mut code, mut msg, mut fatal, mut retry_ms) = (None, None, None, None);
            fields(&mut r, l, |k, r| {
                match k {
                    "code" => {
                        let s = r.str("code", MAX_KEY)?;
                        // An unknown code from a newer edge is treated as internal.
                        code =
                            Some(crate::ErrorCode::parse(s).unwrap_or(crate::ErrorCode::Internal));
                    }
                    "msg" => msg = Some(string(r, "msg", l)?),
                    "fatal" => fatal = Some(r.bool("fatal")?),
                    "retry_ms" => retry_ms = opt(r, |r| r.u32("retry_ms"))?,
                    _ => r.skip()?,
                }
                Ok(())
            })?;
            EdgeFrame::Err(Err {
                code: code.ok_or(DecodeError::Missing("code"))?,
                msg: msg.unwrap_or_default(),
                fatal: fatal.ok_or(DecodeError::Missing("fatal"))?,
                retry_ms,
            })
        }
        other => {
            r.skip()?;
            return Err(DecodeError::UnknownType(other.chars().take(32).collect()));
        }
    };
    if !r.is_empty() {
        return Err(DecodeError::Malformed("trailing bytes after the frame"));
    }
    Ok(f)
}
