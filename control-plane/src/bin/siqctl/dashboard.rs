//! `siqctl dashboard token|revoke|publish` (issue 18): a tenant's dashboard sign-in token
//! (shown once; the plane stores only its SHA-256) and whether its failures page is public.
//! These go to the plane's HTTP face (`http_listen`, plain HTTP like `/metrics`) with the admin
//! token: `--http` or `SIQ_HTTP_ENDPOINT`.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::http::{PlaneHttp, request};

#[derive(Debug, Args)]
pub struct DashboardArgs {
    #[command(flatten)]
    http: PlaneHttp,
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
    let v = request(&args.http.http, "POST", &path, token).await?;
    let text = if json {
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        match &args.cmd {
            DashboardCmd::Token { .. } => format!(
                "dashboard token of {tenant} (shown once; sign in at {}/login):\n{}\n",
                args.http.http.trim_end_matches('/'),
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
                        args.http.http.trim_end_matches('/')
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
    fn tenants_are_checked() {
        assert!(check_tenant("acme-1").is_ok());
        assert!(check_tenant("a/b").is_err());
        assert!(check_tenant("").is_err());
    }
}
