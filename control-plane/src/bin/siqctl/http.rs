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

/// The most of an answer read.
const MAX_ANSWER: u64 = 1 << 20;

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

/// One `method path` with the admin token and no body; the status and the JSON answer
/// (`null` when the answer is not JSON).
pub async fn request(
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
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the plane's answer is not HTTP")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("the plane's answer has no status")?;
    let json = serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
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
}
