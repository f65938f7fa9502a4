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
        let mut chunk = [0u8; 2048];
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

/// Reads a body of `len` bytes (after `rest`) within `deadline`.
pub async fn read_body<S: futures_lite::AsyncRead + Unpin>(
    s: &mut S,
    mut rest: Vec<u8>,
    len: usize,
    deadline: Duration,
) -> Result<Vec<u8>, HeadError> {
    rest.truncate(len);
    let fut = async {
        let mut chunk = [0u8; 8192];
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
        let mut chunk = [0u8; 8192];
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
        self.headers
            .push(("access-control-expose-headers", "x-siq-region".into()));
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
