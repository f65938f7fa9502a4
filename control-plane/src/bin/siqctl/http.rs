//! One request to the plane's HTTP face (`http_listen`, plain HTTP like `/metrics`) with the
//! admin token, for the commands the gRPC API does not carry (`siqctl dashboard`, `siqctl
//! edges`): `--http` or `SIQ_HTTP_ENDPOINT`.

use anyhow::{Context, Result};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `--http`: where the plane's HTTP face is.
#[derive(Debug, Args)]
pub struct PlaneHttp {
    /// The plane's HTTP address (`http_listen`).
    #[arg(
        long,
        env = "SIQ_HTTP_ENDPOINT",
        default_value = "http://127.0.0.1:7510"
    )]
    pub http: String,
}

/// The most of an answer read: the most `/admin/regions.json`, the largest answer, can be
/// (measured at the plane's limits there).
const MAX_ANSWER: u64 = sentientiq_control::web::MAX_REGIONS_JSON_BYTES;

/// `host:port` of an `http://host:port` address.
fn authority(url: &str) -> Result<&str> {
    let want = "http://HOST:PORT (the plane's http_listen)";
    sentientiq_url::setting("--http", url, sentientiq_url::check_root)
        .map_err(|e| anyhow::anyhow!("{e}: {want}"))?;
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--http `{}`: {want}", sentientiq_url::shown(url)))?;
    Ok(rest.trim_end_matches('/'))
}

/// One `method path` with the admin token and no body; the JSON answer of a 200, else the
/// plane's refusal (its status and `error`) as the error.
pub async fn request(
    http: &str,
    method: &str,
    path: &str,
    token: &str,
) -> Result<serde_json::Value> {
    let (status, v) = exchange(http, method, path, token).await?;
    if status != 200 {
        return Err(refused(status, &v));
    }
    Ok(v)
}

/// A non-200 answer as the error: its status and the plane's `error`.
pub fn refused(status: u16, v: &serde_json::Value) -> anyhow::Error {
    let why = v["error"].as_str().unwrap_or("no reason given");
    anyhow::anyhow!("the plane refused ({status}): {why}")
}

/// The exchange itself: the status and the JSON answer (`null` when an error answer is not
/// JSON; a successful one that is not is an error).
pub async fn exchange(
    http: &str,
    method: &str,
    path: &str,
    token: &str,
) -> Result<(u16, serde_json::Value)> {
    let host = authority(http)?;
    let mut s = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(host),
    )
    .await
    .with_context(|| format!("connecting to {host}: timed out"))?
    .with_context(|| format!("connecting to {host}"))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        s.take(MAX_ANSWER).read_to_end(&mut buf),
    )
    .await
    .context("the plane did not answer in 60 s")??;
    if buf.len() as u64 >= MAX_ANSWER {
        anyhow::bail!(
            "the plane's answer is {} MiB or more (not read)",
            MAX_ANSWER >> 20
        );
    }
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the plane's answer is not HTTP")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the plane's answer has no status")?;
    // An error answer may be text; a successful one must be JSON.
    let json = match serde_json::from_str(body.trim()) {
        Ok(v) => v,
        Err(e) if (200..300).contains(&status) => {
            anyhow::bail!("the plane's answer ({status}) is not JSON: {e}")
        }
        Err(_) => serde_json::Value::Null,
    };
    Ok((status, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            authority("http://127.0.0.1:7510/").expect("ok"),
            "127.0.0.1:7510"
        );
        assert!(authority("https://x:1").is_err());
        assert!(authority("http://x:1/path").is_err());
        assert!(authority("http://x:1?q").is_err());
        let e = authority("http://admin:hunter2@x:1")
            .expect_err("credentials")
            .to_string();
        assert!(e.contains("`http://<credentials>@x:1` holds an @"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    fn ask(answer: Vec<u8>) -> Result<(u16, serde_json::Value)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (url, _) = sentientiq_testkit::net::answer_once(answer);
        rt.block_on(exchange(&url, "GET", "/x", "t"))
    }

    fn http(status: &str, body: &[u8]) -> Vec<u8> {
        let mut a = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        a.extend_from_slice(body);
        a
    }

    #[test]
    fn answers_are_json_within_the_cap_or_a_clear_error() {
        let (st, v) = ask(http("200 OK", b"{\"a\":1}")).expect("json");
        assert_eq!((st, v["a"].as_u64()), (200, Some(1)));
        // An error answer may be text; a successful one that is not JSON is an error.
        let (st, v) = ask(http("502 Bad Gateway", b"upstream down")).expect("text");
        assert_eq!((st, v), (502, serde_json::Value::Null));
        let e = ask(http("200 OK", b"{\"a\":"))
            .expect_err("cut")
            .to_string();
        assert!(e.contains("is not JSON"), "{e}");
        // Valid JSON padded to a length: read whole one byte below the cap; at the cap and
        // one byte past it, refused as too large rather than read cut.
        let sized = |len: usize| {
            let mut a = http("200 OK", b"{\"a\":2}");
            a.resize(len, b' ');
            a
        };
        let cap = MAX_ANSWER as usize;
        let (_, v) = ask(sized(cap - 1)).expect("below the cap");
        assert_eq!(v["a"].as_u64(), Some(2));
        for len in [cap, cap + 1] {
            let e = ask(sized(len)).expect_err("too large").to_string();
            assert!(e.contains("64 MiB or more"), "{len}: {e}");
        }
    }
}
