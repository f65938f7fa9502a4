//! A minimal HTTP/1.1 layer: request heads parsed with `httparse` under a size cap and a
//! deadline (slowloris), bodies by `Content-Length` under the tenant-independent cap, and
//! responses with CORS headers.

use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sentientiq_proto::ErrorCode;

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Headers parsed at most.
pub const MAX_HEADERS: usize = 48;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// Bytes read past the head (the start of a body, or of WebSocket frames).
    pub rest: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("connection closed")]
    Closed,
    #[error("request head not complete in time")]
    Timeout,
    #[error("request head over {MAX_HEAD} bytes")]
    TooBig,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Parses a complete head from `buf`, if it holds one.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some((
            Request {
                method: req.method.unwrap_or("").to_string(),
                path: req.path.unwrap_or("").to_string(),
                headers: req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect(),
                rest: buf[n..].to_vec(),
            },
            n,
        ))),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

/// Reads one request head within `deadline` (the whole head, not per read: slowloris).
pub async fn read_head<S: futures_lite::AsyncRead + Unpin>(
    s: &mut S,
    deadline: Duration,
) -> Result<Request, HeadError> {
    let fut = async {
        let mut buf = Vec::with_capacity(1024);
        // On the heap, not in the future: every connection's task is as large as its
        // largest await state, so an array here made each one this much larger.
        let mut chunk = vec![0u8; 2048];
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(HeadError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some((r, _)) = parse_head(&buf)? {
                return Ok(r);
            }
            if buf.len() > MAX_HEAD {
                return Err(HeadError::TooBig);
            }
        }
    };
    futures_lite::future::or(fut, async {
        glommio::timer::sleep(deadline).await;
        Err(HeadError::Timeout)
    })
    .await
}

/// How a request's body is framed (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked` (browsers' `fetch` with a stream body).
    Chunked,
}

/// Why a body's framing was refused: the status and message to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFraming(pub u16, pub &'static str);

/// The framing of `req`'s body. Both `Transfer-Encoding` and `Content-Length` is refused: a
/// proxy in front may frame it by the other header (request smuggling; RFC 9112 §6.1 allows the
/// refusal). A transfer coding other than `chunked` is refused too (501 in RFC 9112 §6.1; 400
/// here: nothing but chunked is ever meant).
pub fn framing(req: &Request) -> Result<Framing, BadFraming> {
    let te = req.header("transfer-encoding");
    let cl = req.header("content-length");
    match (te, cl) {
        (Some(_), Some(_)) => Err(BadFraming(
            400,
            "both Transfer-Encoding and Content-Length: refused (request smuggling)",
        )),
        (Some(t), None) if t.trim().eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
        (Some(_), None) => Err(BadFraming(
            400,
            "only the chunked transfer coding is accepted",
        )),
        (None, Some(v)) => v
            .trim()
            .parse()
            .map(Framing::Length)
            .map_err(|_| BadFraming(400, "Content-Length is not a number")),
        (None, None) => Err(BadFraming(
            411,
            "Content-Length or chunked Transfer-Encoding required",
        )),
    }
}

/// Decodes a complete chunked body in `buf`: `Ok(Some(body))` once the last chunk (and any
/// trailers) is there, `Ok(None)` while more is needed, `Err` when it is malformed or would be
/// over `max` bytes.
pub fn dechunk(buf: &[u8], max: usize) -> Result<Option<Vec<u8>>, BadFraming> {
    let mut body = Vec::new();
    let mut p = 0;
    loop {
        let Some(eol) = buf[p..].windows(2).position(|w| w == b"\r\n") else {
            return if buf.len() - p > 1024 {
                Err(BadFraming(400, "chunk size line too long"))
            } else {
                Ok(None)
            };
        };
        let line = std::str::from_utf8(&buf[p..p + eol])
            .map_err(|_| BadFraming(400, "chunk size is not text"))?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .map_err(|_| BadFraming(400, "chunk size is not hexadecimal"))?;
        p += eol + 2;
        if size == 0 {
            // Trailers (ignored) end with an empty line.
            let rest = &buf[p..];
            if rest.starts_with(b"\r\n") {
                return Ok(Some(body));
            }
            return match rest.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(_) => Ok(Some(body)),
                None if rest.len() > 4096 => Err(BadFraming(431, "trailers too large")),
                None => Ok(None),
            };
        }
        if body.len() + size > max {
            return Err(BadFraming(413, "body over 256 KiB"));
        }
        if buf.len() < p + size + 2 {
            return Ok(None);
        }
        if &buf[p + size..p + size + 2] != b"\r\n" {
            return Err(BadFraming(400, "chunk data does not end with CRLF"));
        }
        body.extend_from_slice(&buf[p..p + size]);
        p += size + 2;
    }
}

/// Reads a chunked body (after `rest`) within `deadline`, at most `max` bytes of data.
pub async fn read_chunked<S: futures_lite::AsyncRead + Unpin>(
    s: &mut S,
    mut buf: Vec<u8>,
    max: usize,
    deadline: Duration,
) -> Result<Vec<u8>, ChunkError> {
    let fut = async {
        // On the heap, not in the future: every connection's task is as large as its
        // largest await state, so an array here made each one this much larger.
        let mut chunk = vec![0u8; 8192];
        loop {
            if let Some(body) = dechunk(&buf, max).map_err(ChunkError::Bad)? {
                return Ok(body);
            }
            // Framing overhead is bounded too: a body of many tiny chunks.
            if buf.len() > max * 2 + 64 * 1024 {
                return Err(ChunkError::Bad(BadFraming(413, "body over 256 KiB")));
            }
            let n = s.read(&mut chunk).await.map_err(|_| ChunkError::Closed)?;
            if n == 0 {
                return Err(ChunkError::Closed);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    futures_lite::future::or(fut, async {
        glommio::timer::sleep(deadline).await;
        Err(ChunkError::Timeout)
    })
    .await
}

/// Why a chunked body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    Bad(BadFraming),
    Timeout,
    Closed,
}

/// Reads a body of `len` bytes (after `rest`) within `deadline`.
pub async fn read_body<S: futures_lite::AsyncRead + Unpin>(
    s: &mut S,
    mut rest: Vec<u8>,
    len: usize,
    deadline: Duration,
) -> Result<Vec<u8>, HeadError> {
    rest.truncate(len);
    let fut = async {
        // On the heap, not in the future: every connection's task is as large as its
        // largest await state, so an array here made each one this much larger.
        let mut chunk = vec![0u8; 8192];
        while rest.len() < len {
            let want = (len - rest.len()).min(chunk.len());
            let n = s.read(&mut chunk[..want]).await?;
            if n == 0 {
                return Err(HeadError::Closed);
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        Ok(rest)
    };
    futures_lite::future::or(fut, async {
        glommio::timer::sleep(deadline).await;
        Err(HeadError::Timeout)
    })
    .await
}

/// Most bytes of a refused body read and discarded, so that the client sees the answer
/// instead of a reset (closing with unread input makes the kernel send RST).
pub const MAX_DRAIN: usize = 1024 * 1024;

/// Reads and discards up to `min(len, MAX_DRAIN)` body bytes within `deadline`.
pub async fn drain<S: futures_lite::AsyncRead + Unpin>(
    s: &mut S,
    already: usize,
    len: usize,
    deadline: Duration,
) {
    let want = len.min(MAX_DRAIN).saturating_sub(already);
    let fut = async {
        // On the heap, not in the future: every connection's task is as large as its
        // largest await state, so an array here made each one this much larger.
        let mut chunk = vec![0u8; 8192];
        let mut got = 0;
        while got < want {
            match s.read(&mut chunk[..(want - got).min(8192)]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    };
    futures_lite::future::or(fut, glommio::timer::sleep(deadline)).await;
}

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        501 => "Not Implemented",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut r = Response::new(status);
        r.headers
            .push(("content-type", "text/plain; charset=utf-8".into()));
        r.body = body.into().into_bytes();
        r
    }

    pub fn json(status: u16, v: &serde_json::Value) -> Response {
        let mut r = Response::new(status);
        r.headers.push(("content-type", "application/json".into()));
        r.body = v.to_string().into_bytes();
        r
    }

    /// The error body of PROTOCOL.md §6: `{code, msg}`, with the status of the code.
    pub fn error(code: ErrorCode, msg: &str) -> Response {
        Response::error_retry(code, msg, None)
    }

    /// An HTTP-level refusal (a head or body the protocol never got to: 400, 408, 411, 431,
    /// 413) with the same `{code, msg}` body every error has: `too_big` for sizes, `bad_frame`
    /// for the rest.
    pub fn refusal(status: u16, msg: &str) -> Response {
        let code = match status {
            413 | 431 => ErrorCode::TooBig,
            _ => ErrorCode::BadFrame,
        };
        let mut r = Response::json(
            status,
            &serde_json::json!({"code": code.as_str(), "msg": msg}),
        );
        r.status = status;
        r
    }

    /// An error answer; `overloaded` and `rate_limited` carry `Retry-After` (whole seconds,
    /// rounded up from `retry_ms`, 5 s when the refusal named no wait).
    pub fn error_retry(code: ErrorCode, msg: &str, retry_ms: Option<u32>) -> Response {
        let mut r = Response::json(
            code.http_status(),
            &serde_json::json!({"code": code.as_str(), "msg": msg}),
        );
        if matches!(code, ErrorCode::Overloaded | ErrorCode::RateLimited) {
            let secs = retry_ms.map_or(5, |ms| ms.div_ceil(1000).max(1));
            r.headers.push(("retry-after", secs.to_string()));
        }
        r
    }

    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Response {
        self.headers.push((k, v.into()));
        self
    }

    /// CORS for browsers: the request's origin is echoed (the tenant check happens on the key).
    pub fn cors(mut self, origin: Option<&str>) -> Response {
        self.headers.push((
            "access-control-allow-origin",
            origin.unwrap_or("*").to_string(),
        ));
        self.headers.push(("vary", "Origin".into()));
        self.headers
            .push(("access-control-allow-methods", "GET, POST, OPTIONS".into()));
        self.headers
            .push(("access-control-allow-headers", "content-type".into()));
        self.headers.push((
            "access-control-expose-headers",
            "x-siq-region, retry-after".into(),
        ));
        self.headers
            .push(("access-control-max-age", "86400".into()));
        self
    }

    pub fn to_bytes(&self, close: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        if self.status != 101 {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
            if close {
                out.extend_from_slice(b"connection: close\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

pub async fn write<S: futures_lite::AsyncWrite + Unpin>(
    s: &mut S,
    r: &Response,
    close: bool,
) -> std::io::Result<()> {
    s.write_all(&r.to_bytes(close)).await?;
    s.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_partial_complete_and_malformed() {
        assert!(
            parse_head(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n")
                .expect("ok")
                .is_none()
        );
        let (r, n) = parse_head(
            b"POST /v1/batch HTTP/1.1\r\nContent-Length: 3\r\nOrigin: https://a.example\r\n\r\nabc",
        )
        .expect("ok")
        .expect("complete");
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/batch"));
        assert_eq!(r.header("content-length"), Some("3"));
        assert_eq!(r.rest, b"abc");
        assert_eq!(n, 73); // 25 + 19 + 27 + 2
        assert!(parse_head(b"\x00\x01 garbage\r\n\r\n").is_err());
    }

    #[test]
    fn framing_refuses_smuggling_and_accepts_chunked() {
        let req = |hs: &[(&str, &str)]| Request {
            method: "POST".into(),
            path: "/v1/batch".into(),
            headers: hs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rest: Vec::new(),
        };
        assert_eq!(
            framing(&req(&[("Content-Length", "3")])),
            Ok(Framing::Length(3))
        );
        assert_eq!(
            framing(&req(&[("Transfer-Encoding", "chunked")])),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&req(&[
                ("Transfer-Encoding", "chunked"),
                ("Content-Length", "4")
            ]))
            .map_err(|e| e.0),
            Err(400)
        );
        assert_eq!(
            framing(&req(&[("Transfer-Encoding", "gzip")])).map_err(|e| e.0),
            Err(400)
        );
        assert_eq!(framing(&req(&[])).map_err(|e| e.0), Err(411));
    }

    #[test]
    fn chunked_bodies_decode_within_the_cap() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n", 16),
            Ok(Some(b"abcde".to_vec()))
        );
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 16),
            Ok(Some(b"abc".to_vec()))
        );
        assert_eq!(dechunk(b"3\r\nab", 16), Ok(None), "more to come");
        assert_eq!(dechunk(b"3\r\nabc\r\n", 16), Ok(None));
        assert_eq!(dechunk(b"zz\r\n", 16).map_err(|e| e.0), Err(400));
        assert_eq!(
            dechunk(b"3\r\nabcXY0\r\n\r\n", 16).map_err(|e| e.0),
            Err(400)
        );
        // The cap: cap − 1, cap and cap + 1 bytes of data.
        let body = |n: usize| format!("{n:x}\r\n{}\r\n0\r\n\r\n", "a".repeat(n)).into_bytes();
        assert!(matches!(dechunk(&body(15), 16), Ok(Some(b)) if b.len() == 15));
        assert!(matches!(dechunk(&body(16), 16), Ok(Some(b)) if b.len() == 16));
        assert_eq!(dechunk(&body(17), 16).map_err(|e| e.0), Err(413));
    }

    #[test]
    fn refusals_have_the_protocols_error_body() {
        for (status, code) in [
            (400, "bad_frame"),
            (408, "bad_frame"),
            (411, "bad_frame"),
            (431, "too_big"),
        ] {
            let r = Response::refusal(status, "why");
            assert_eq!(r.status, status);
            let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            assert_eq!(
                (v["code"].as_str(), v["msg"].as_str()),
                (Some(code), Some("why"))
            );
        }
    }

    #[test]
    fn error_bodies_and_statuses_follow_the_protocol() {
        let r = Response::error(ErrorCode::Overloaded, "busy");
        assert_eq!(r.status, 503);
        assert!(r.headers.iter().any(|(k, _)| *k == "retry-after"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(v["code"], "overloaded");
        let bytes = Response::text(200, "ok").to_bytes(true);
        assert!(bytes.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
}
