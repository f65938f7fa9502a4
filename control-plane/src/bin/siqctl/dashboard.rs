//! `siqctl dashboard token|revoke|publish` (issue 18): a tenant's dashboard sign-in token
//! (shown once; the plane stores only its SHA-256) and whether its failures page is public.
//! These go to the plane's HTTP face (`http_listen`, plain HTTP like `/metrics`) with the admin
//! token: `--http` or `SIQ_HTTP_ENDPOINT`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// The plane's HTTP address (`http_listen`).
    #[arg(
        long,
        env = "SIQ_HTTP_ENDPOINT",
        default_value = "http://127.0.0.1:7510"
    )]
    http: String,
    #[command(subcommand)]
    cmd: DashboardCmd,
}

#[derive(Debug, Subcommand)]
pub enum DashboardCmd {
    /// Issues the tenant's dashboard token (replacing its earlier one, whose sessions end);
    /// prints it once.
    Token { tenant: String },
    /// Revokes the tenant's dashboard token; its sessions end.
    Revoke { tenant: String },
    /// Publishes (`on`) or withdraws (`off`) the tenant's failures page
    /// (`/public/TENANT/failures`, no sign-in needed while published).
    Publish { tenant: String, on_off: String },
}

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

/// One `POST` with the admin token; the status and the JSON answer.
async fn post(http: &str, path: &str, token: &str) -> Result<(u16, serde_json::Value)> {
    let host = authority(http)?;
    let mut s = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(host),
    )
    .await
    .with_context(|| format!("connecting to {host}: timed out"))?
    .with_context(|| format!("connecting to {host}"))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        s.take(1 << 20).read_to_end(&mut buf),
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

fn check_tenant(t: &str) -> Result<()> {
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("tenant `{t}`: letters, digits, - and _");
    }
    Ok(())
}

pub async fn run(args: &DashboardArgs, token: &str, json: bool) -> Result<()> {
    let (tenant, path) = match &args.cmd {
        DashboardCmd::Token { tenant } => (tenant, format!("/admin/dashboard/{tenant}/token")),
        DashboardCmd::Revoke { tenant } => (tenant, format!("/admin/dashboard/{tenant}/revoke")),
        DashboardCmd::Publish { tenant, on_off } => {
            let on = match on_off.as_str() {
                "on" => true,
                "off" => false,
                _ => bail!("publish TENANT on|off"),
            };
            (tenant, format!("/admin/dashboard/{tenant}/publish?on={on}"))
        }
    };
    check_tenant(tenant)?;
    let (status, v) = post(&args.http, &path, token).await?;
    if status != 200 {
        let why = v["error"].as_str().unwrap_or("no reason given");
        bail!("the plane refused ({status}): {why}");
    }
    let text = if json {
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        match &args.cmd {
            DashboardCmd::Token { .. } => format!(
                "dashboard token of {tenant} (shown once; sign in at {}/login):\n{}\n",
                args.http.trim_end_matches('/'),
                v["token"].as_str().unwrap_or_default()
            ),
            DashboardCmd::Revoke { .. } => {
                if v["revoked"].as_bool() == Some(true) {
                    format!("revoked the dashboard token of {tenant}; its sessions ended\n")
                } else {
                    format!("{tenant} had no dashboard token\n")
                }
            }
            DashboardCmd::Publish { .. } => {
                if v["public_failures"].as_bool() == Some(true) {
                    format!(
                        "published: {}/public/{tenant}/failures (no sign-in needed)\n",
                        args.http.trim_end_matches('/')
                    )
                } else {
                    format!("the failures page of {tenant} is no longer public\n")
                }
            }
        }
    };
    std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_tenants_are_checked() {
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
        assert!(check_tenant("acme-1").is_ok());
        assert!(check_tenant("a/b").is_err());
        assert!(check_tenant("").is_err());
    }
}
