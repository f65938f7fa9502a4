//! The dashboard's pages as HTML, pure: each takes what the handler read from the store and
//! returns the document. Everything a tenant, an edge or a visitor wrote is escaped
//! ([`esc`]); data for the scripts travels as JSON in a non-executed `<script
//! type="application/json">` with `<` escaped, so no value can close the element. Pages need
//! no inline script or style (the server's CSP forbids both): charts and bars are SVG
//! elements whose geometry is in attributes.

use std::fmt::Write;

use sentientiq_experiments::{ArmReport, Estimate, Report};
use sentientiq_proto::grpc::{AlertRecord, EviPoint, WindowAggregate};

use super::labels::{EmotionLabels, MIN_LABELS};
use crate::forensics::{Failures, TenantForensics, claim_text, srm_text};
use crate::store::alerts::MAX_ANALYZED_ALERTS;

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// JSON for a `<script type="application/json">` element.
pub fn json_script(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn utc_ms(ms: i64) -> String {
    if ms <= 0 {
        return "—".into();
    }
    let secs = ms.div_euclid(1000);
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = sentientiq_proto::civil_date(days);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Cents as dollars with thousands separators: `$1,234.50`.
pub fn dollars_cents(c: i64) -> String {
    let (sign, c) = if c < 0 {
        ("-", c.unsigned_abs())
    } else {
        ("", c as u64)
    };
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", c % 100)
}

/// Which page the navigation marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Live,
    Alerts,
    Experiments,
    Forensics,
}

/// What every signed-in page shows in its header.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    pub tenant: &'a str,
    /// The session's CSRF token (for the logout form and the page's own forms).
    pub csrf: &'a str,
    /// Shown as who is signed in.
    pub who: &'a str,
    /// The admin sees the list of tenants.
    pub admin: bool,
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · SentientIQ</title>\
         <link rel=\"stylesheet\" href=\"/static/dashboard.css\">\
         <script src=\"/static/dashboard.js\" defer></script></head><body>",
        esc(title)
    )
}

fn page(f: &Frame<'_>, tab: Tab, title: &str, body: &str) -> String {
    let t = esc(f.tenant);
    let link = |tb: Tab, href: String, name: &str| {
        format!(
            "<a href=\"{href}\"{}>{name}</a>",
            if tb == tab {
                " class=\"on\" aria-current=\"page\""
            } else {
                ""
            }
        )
    };
    let mut s = head(&format!("{title} — {}", f.tenant));
    let _ = write!(
        s,
        "<header><span class=\"brand\">SentientIQ</span><span class=\"tenant\">{t}</span><nav>{}{}{}{}\
         <a href=\"/public/{t}/failures\">Public failures</a>{}</nav>\
         <form method=\"post\" action=\"/logout\" class=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><span class=\"who\">{}</span>\
         <button type=\"submit\">Sign out</button></form></header><main>{body}</main></body></html>",
        link(Tab::Live, format!("/t/{t}"), "Live"),
        link(Tab::Alerts, format!("/t/{t}/alerts"), "Alerts"),
        link(
            Tab::Experiments,
            format!("/t/{t}/experiments"),
            "Experiments"
        ),
        link(Tab::Forensics, format!("/t/{t}/forensics"), "Forensics"),
        if f.admin {
            "<a href=\"/t\">All tenants</a><a href=\"/setup\">Set up a tenant</a><a href=\"/regions\">Regions</a>"
        } else {
            ""
        },
        esc(f.csrf),
        esc(f.who),
    );
    s
}

/// The login page; `error` is shown above the form.
pub fn login(error: Option<&str>) -> String {
    let mut s = head("Sign in");
    let _ = write!(
        s,
        "<main class=\"login\"><h1>SentientIQ dashboard</h1>{}\
         <form method=\"post\" action=\"/login\">\
         <label for=\"token\">Dashboard token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus>\
         <button type=\"submit\">Sign in</button></form>\
         <p class=\"hint\">Ask your operator for a token: <code>siqctl dashboard token TENANT</code>.</p>\
         </main></body></html>",
        error.map_or(String::new(), |e| format!(
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(e)
        )),
    );
    s
}

/// A plain message page (not found, refused, ...).
pub fn message(title: &str, text: &str) -> String {
    let mut s = head(title);
    let _ = write!(
        s,
        "<main class=\"login\"><h1>{}</h1><p>{}</p><p><a href=\"/\">Dashboard</a></p></main></body></html>",
        esc(title),
        esc(text)
    );
    s
}

/// The admin's list of tenants.
pub fn tenants(ids: &[String], csrf: &str) -> String {
    let f = Frame {
        tenant: "all tenants",
        csrf,
        who: "admin",
        admin: true,
    };
    let mut body = String::from("<h1>Tenants</h1><ul class=\"tenants\">");
    for id in ids {
        let _ = write!(
            body,
            "<li><a href=\"/t/{0}\">{0}</a> · <a href=\"/t/{0}/alerts\">alerts</a> · \
             <a href=\"/t/{0}/experiments\">experiments</a> · \
             <a href=\"/t/{0}/forensics\">forensics</a> · \
             <a href=\"/setup/{0}/key\">setup</a></li>",
            esc(id)
        );
    }
    if ids.is_empty() {
        body += "<li>No tenants yet.</li>";
    }
    body += "</ul><p><a class=\"button primary\" href=\"/setup\">Set up a new tenant</a> \
             <span class=\"small\">(or <code>siqctl tenant create ID</code>)</span></p>";
    let mut s = head("Tenants");
    let _ = write!(
        s,
        "<header><span class=\"brand\">SentientIQ</span><span class=\"tenant\">{}</span>{}\
         <form method=\"post\" action=\"/logout\" class=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><span class=\"who\">admin</span>\
         <button type=\"submit\">Sign out</button></form></header><main>{body}</main></body></html>",
        esc(f.tenant),
        admin_nav("/t"),
        esc(f.csrf)
    );
    s
}

fn admin_nav(on: &str) -> String {
    let link = |href: &str, name: &str| {
        format!(
            "<a href=\"{href}\"{}>{name}</a>",
            if href == on {
                " class=\"on\" aria-current=\"page\""
            } else {
                ""
            }
        )
    };
    format!(
        "<nav>{}{}{}</nav>",
        link("/t", "All tenants"),
        link("/setup", "Set up a tenant"),
        link("/regions", "Regions")
    )
}

// ------------------------------------------------------------------ regions

use crate::store::fleet::{STALE_REPORTS, stale_after_ms};

/// How long ago an edge's last report came, in the unit that reads best: tenths of a second
/// under a minute (cut, never rounded up to the next unit), then whole minutes, then hours.
/// The Regions page and `siqctl edges` both say it this way.
pub fn ago(ms: i64) -> String {
    match ms.max(0) {
        ms if ms < 60_000 => format!("{}.{} s ago", ms / 1000, ms % 1000 / 100),
        ms if ms < 3_600_000 => format!("{} min ago", ms / 60_000),
        ms => format!("{} h ago", ms / 3_600_000),
    }
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// The admin's regions page: each edge's last health report (`fleet`), as of `now_ms`, against
/// the plane's config version `current`.
pub fn regions(
    csrf: &str,
    fleet: &[crate::store::fleet::Seen],
    now_ms: i64,
    current: u64,
) -> String {
    let mut body =
        String::from("<h1>Regions <span class=\"small\">each edge's last report</span></h1>");
    if fleet.is_empty() {
        body += "<p>No edge has reported yet. Edges report every <code>report_interval_ms</code> once their \
                 <code>[control]</code> section names this plane.</p>";
    }
    let mut regions: Vec<&str> = fleet.iter().map(|x| x.health.region.as_str()).collect();
    regions.dedup();
    for r in regions {
        let edges: Vec<&crate::store::fleet::Seen> =
            fleet.iter().filter(|x| x.health.region == r).collect();
        let problems: Vec<String> = edges
            .iter()
            .flat_map(|x| edge_problems(x, now_ms, current))
            .collect();
        let _ = write!(
            body,
            "<section class=\"card\"><h2>{} <span class=\"badge {}\">{}</span></h2>\
             <table class=\"regions\"><thead><tr><th>Edge</th><th>Last report</th><th>Config</th>\
             <th class=\"num\">Sessions</th><th class=\"num\">Frames</th><th class=\"num\">Errors</th>\
             <th class=\"num\">Spool backlog</th><th class=\"num\">Lake lag</th>\
             <th class=\"num\">Lake files / errors</th><th class=\"num\">Windows pending</th>\
             <th>Build</th></tr></thead><tbody>",
            esc(r),
            if problems.is_empty() { "ok" } else { "warn" },
            if problems.is_empty() {
                "healthy".to_string()
            } else {
                format!("{} problem(s)", problems.len())
            }
        );
        for x in &edges {
            let h = &x.health;
            let age = now_ms.saturating_sub(x.received_ms).max(0);
            let stale = age > stale_after_ms(h);
            let config = edge_config(h, current);
            let _ = write!(
                body,
                "<tr data-edge=\"{}\"><td>{}<div class=\"small\">{}</div></td><td{}>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}{}</td><td class=\"num\">{} s</td><td class=\"num\">{} / {}</td>\
                 <td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&h.edge_id),
                esc(&h.edge_id),
                esc(&h.report_id),
                if stale { " class=\"bad\"" } else { "" },
                if stale {
                    // A decommissioned edge stays until forgotten (a stale report only).
                    format!(
                        "{} (stale)<form method=\"post\" action=\"/regions/{}/forget\" class=\"inline\">\
                         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                         <button type=\"submit\" title=\"Decommissioned? Drop its report; it is listed again if it reports\">Forget</button></form>",
                        ago(age),
                        esc(&h.edge_id),
                        esc(csrf)
                    )
                } else {
                    ago(age)
                },
                esc(&config),
                h.live_sessions,
                h.frames,
                h.errors,
                mib(h.spool_backlog_bytes),
                if h.spool_writable {
                    ""
                } else {
                    " <b class=\"bad\">not writable</b>"
                },
                h.lake_backlog_age_s,
                h.lake_files,
                h.lake_errors,
                h.windows_pending,
                esc(&h.build),
            );
        }
        body += "</tbody></table>";
        if !problems.is_empty() {
            body += "<ul class=\"problems\">";
            for p in &problems {
                let _ = write!(body, "<li>{}</li>", esc(p));
            }
            body += "</ul>";
        }
        body += "</section>";
    }
    let _ = write!(
        body,
        "<p class=\"small\">Plane config version v{current}. Counters (frames, errors, lake files) are since \
         each edge's boot. An edge is stale after {STALE_REPORTS} of its report intervals \
         (<code>[control] report_interval_ms</code>) without a report. A decommissioned edge \
         stays listed, stale, until forgotten (its Forget button, or \
         <code>siqctl edges --forget EDGE_ID</code>).</p>"
    );
    let mut s = head("Regions");
    let _ = write!(
        s,
        "<header><span class=\"brand\">SentientIQ</span><span class=\"tenant\">fleet</span>{}\
         <form method=\"post\" action=\"/logout\" class=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><span class=\"who\">admin</span>\
         <button type=\"submit\">Sign out</button></form></header><main>{body}</main></body></html>",
        admin_nav("/regions"),
        esc(csrf)
    );
    s
}

/// The config an edge serves against the plane's `current` version, as the Regions page and
/// `siqctl edges` show it: `v5 current`, `v3 (2 behind)` or `v5 (not following the plane)`,
/// with `, N tenant(s) refused` when it refuses any.
pub fn edge_config(h: &sentientiq_proto::grpc::EdgeHealth, current: u64) -> String {
    let mut config = if !h.following {
        format!("v{} (not following the plane)", h.config_version)
    } else if h.config_version >= current {
        format!("v{} current", h.config_version)
    } else {
        format!(
            "v{} ({} behind)",
            h.config_version,
            current - h.config_version
        )
    };
    if let Some(n) = h.refused_tenant_count.filter(|n| *n > 0) {
        let _ = write!(config, ", {n} tenant(s) refused");
    }
    config
}

/// What is wrong with one edge, in words (nothing: healthy).
pub fn edge_problems(x: &crate::store::fleet::Seen, now_ms: i64, current: u64) -> Vec<String> {
    let h = &x.health;
    let mut p = Vec::new();
    let age = now_ms.saturating_sub(x.received_ms);
    if age > stale_after_ms(h) {
        p.push(format!("{}: last report {}", h.edge_id, ago(age)));
    }
    if !h.following {
        p.push(format!(
            "{}: not following the plane's config stream",
            h.edge_id
        ));
    } else if h.config_version < current {
        p.push(format!(
            "{}: serves config v{}, {} behind",
            h.edge_id,
            h.config_version,
            current - h.config_version
        ));
    }
    if !h.spool_writable {
        p.push(format!(
            "{}: cannot write its spool (disk full or failing)",
            h.edge_id
        ));
    }
    if h.lake_errors > 0 {
        p.push(format!(
            "{}: {} lake shipping errors since boot",
            h.edge_id, h.lake_errors
        ));
    }
    // What it refuses of the config it serves: that version is only partly in force there.
    for r in &h.refused_tenants {
        p.push(format!(
            "{}: refuses tenant {}: {} ({})",
            h.edge_id,
            r.tenant_id,
            r.reason,
            match r.kept {
                true => "its previous version stays",
                false => "not served there",
            }
        ));
    }
    match h.refused_tenant_count {
        Some(n) => {
            let more = (n as usize).saturating_sub(h.refused_tenants.len());
            if more > 0 {
                p.push(format!(
                    "{}: refuses {more} more tenant(s) (its log names them)",
                    h.edge_id
                ));
            }
        }
        None => p.push(format!(
            "{}: too old to report the tenants it refuses (upgrade edges before the plane; \
             its log names them)",
            h.edge_id
        )),
    }
    p
}

// ------------------------------------------------------------------ the setup wizard

/// What the first step's form held (kept when refused).
#[derive(Debug, Clone, Default)]
pub struct TenantForm {
    pub id: String,
    pub name: String,
    pub origins: String,
}

/// What the alerting step's form held (kept when refused).
#[derive(Debug, Clone, Default)]
pub struct AlertsForm {
    pub contact_id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: String,
    pub chain: String,
    /// The advanced form: a whole alerting TOML (used instead of the simple form when set).
    pub toml: String,
}

/// What the last step shows: the first session, if one arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstSession {
    pub region: String,
    pub minute: i64,
    pub sessions: u64,
}

/// The first session as the last step's script reads it.
pub fn first_json(first: Option<&FirstSession>) -> serde_json::Value {
    match first {
        None => serde_json::json!({ "arrived": false }),
        Some(f) => serde_json::json!({
            "arrived": true,
            "region": f.region,
            "minute": f.minute,
            "at": format!("{} UTC", &utc_ms(f.minute * 60_000)[..16]),
            "sessions": f.sessions,
            "text": first_text(f),
        }),
    }
}

fn first_text(f: &FirstSession) -> String {
    format!(
        "First session arrived from {} at {} UTC",
        f.region,
        &utc_ms(f.minute * 60_000)[..16]
    )
}

/// A wizard page: the steps (the current one marked, later ones linked once a tenant exists),
/// then `body`.
fn setup_page(csrf: &str, step: usize, tenant: Option<&str>, body: &str) -> String {
    let mut steps = String::from("<ol class=\"steps\">");
    for (i, (seg, title)) in super::wizard::STEPS.iter().enumerate() {
        let cls = match i.cmp(&step) {
            std::cmp::Ordering::Less => "done",
            std::cmp::Ordering::Equal => "on",
            std::cmp::Ordering::Greater => "todo",
        };
        // Step 3 (the tag) needs a key issued now: its link is step 2's.
        let href = match (tenant, i) {
            (None, _) | (_, 0) => None,
            (Some(t), 2) => Some(format!("/setup/{}/key", esc(t))),
            (Some(t), _) => Some(format!("/setup/{}/{seg}", esc(t))),
        };
        let label = format!("<span class=\"n\">{}</span> {}", i + 1, title);
        let _ = match href {
            Some(h) if i != step => write!(
                steps,
                "<li class=\"{cls}\"><a href=\"{h}\">{label}</a></li>"
            ),
            _ => write!(
                steps,
                "<li class=\"{cls}\"{}>{label}</li>",
                if i == step {
                    " aria-current=\"step\""
                } else {
                    ""
                }
            ),
        };
    }
    steps += "</ol>";
    let mut s = head("Set up a tenant");
    let _ = write!(
        s,
        "<header><span class=\"brand\">SentientIQ</span><span class=\"tenant\">{}</span>{}\
         <form method=\"post\" action=\"/logout\" class=\"logout\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><span class=\"who\">admin</span>\
         <button type=\"submit\">Sign out</button></form></header>\
         <main class=\"setup\"><h1>Set up a tenant{}</h1>{steps}{body}</main></body></html>",
        esc(tenant.unwrap_or("new tenant")),
        admin_nav("/setup"),
        esc(csrf),
        tenant.map_or(String::new(), |t| format!(" <small>{}</small>", esc(t))),
    );
    s
}

fn error_box(error: Option<&str>) -> String {
    error.map_or(String::new(), |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))
    })
}

fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// Step 1: the tenant's id, name and allowed origins.
pub fn setup_tenant(csrf: &str, form: &TenantForm, error: Option<&str>) -> String {
    let body = format!(
        "<section class=\"card\"><h2>1. Create the tenant</h2>{}\
         <p>A tenant is one customer: its pages, its people, its numbers. Everything below can be \
         changed later.</p>\
         <form method=\"post\" action=\"/setup\" class=\"wizard\" id=\"tenant-form\">{}\
         <label for=\"id\">Tenant id</label>\
         <input id=\"id\" name=\"id\" value=\"{}\" required autocomplete=\"off\" spellcheck=\"false\">\
         <p class=\"hint\">Lowercase letters, digits, <code>-</code> and <code>_</code>, e.g. <code>acme-shop</code>. \
         It appears in URLs and cannot be changed.</p>\
         <label for=\"name\">Display name</label>\
         <input id=\"name\" name=\"name\" value=\"{}\" autocomplete=\"off\" placeholder=\"Acme Shop\">\
         <label for=\"origins\">Websites and apps allowed to send sessions</label>\
         <textarea id=\"origins\" name=\"origins\" rows=\"3\" spellcheck=\"false\" \
         placeholder=\"https://shop.acme.example\">{}</textarea>\
         <p class=\"hint\">One origin per line (scheme, host and port, no path), e.g. \
         <code>https://www.acme.example</code>; an app's or extension's as it sends it, e.g. \
         <code>capacitor://localhost</code>. Pages elsewhere are refused. <code>*</code> allows any site.</p>\
         <button type=\"submit\" class=\"primary\">Create tenant</button></form></section>",
        error_box(error),
        csrf_field(csrf),
        esc(&form.id),
        esc(&form.name),
        esc(&form.origins),
    );
    setup_page(csrf, 0, None, &body)
}

/// Step 2: the edges' addresses, and the button issuing a key.
pub fn setup_key(
    csrf: &str,
    tenant: &sentientiq_proto::grpc::Tenant,
    edges: &str,
    error: Option<&str>,
) -> String {
    let t = esc(&tenant.id);
    let origins = if tenant.allowed_origins.is_empty() {
        "none yet (no page may send sessions)".to_string()
    } else {
        tenant
            .allowed_origins
            .iter()
            .map(|o| format!("<code>{}</code>", esc(o)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let body = format!(
        "<section class=\"card\"><h2>2. Issue a publishable key</h2>{}\
         <p class=\"notice\" role=\"status\">Tenant <strong id=\"tenant-id\">{t}</strong>{} is set up. \
         Allowed websites and apps: {origins}. Keys issued so far: <span id=\"key-count\">{}</span>.</p>\
         <p>The publishable key identifies {t}'s pages to the edges. It is safe in a web page, \
         but it will be <strong>shown only once</strong>: the plane keeps only a fingerprint of it.</p>\
         <form method=\"post\" action=\"/setup/{t}/key\" class=\"wizard\" id=\"key-form\">{}\
         <label for=\"edges\">Your edges' addresses</label>\
         <input id=\"edges\" name=\"edges\" value=\"{}\" autocomplete=\"off\" spellcheck=\"false\" \
         placeholder=\"https://use1.edge.example, https://euw1.edge.example\">\
         <p class=\"hint\">The public addresses of the regional edges that receive sessions, separated by \
         commas (your operator has them). The script is loaded from the first; the browser picks the \
         nearest. You can leave this empty and fill it in on the next step.</p>\
         <button type=\"submit\" class=\"primary\">Issue key</button></form></section>",
        error_box(error),
        if tenant.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&tenant.name))
        },
        tenant.key_hashes.len(),
        csrf_field(csrf),
        esc(edges),
    );
    setup_page(csrf, 1, Some(&tenant.id), &body)
}

/// Step 3: the key, once, and the script tag to copy (rebuilt in the page as the edges are
/// edited).
pub fn setup_tag(csrf: &str, tenant: &str, key: &str, edges: &[String]) -> String {
    let t = esc(tenant);
    let tag = super::wizard::script_tag(key, edges);
    let body = format!(
        "<section class=\"card\"><h2>3. Copy the script tag</h2>\
         <p class=\"notice\" role=\"status\">Key issued: <code id=\"key\">{}</code></p>\
         <p class=\"warn\"><strong>This is the only time the key is shown.</strong> The tag below contains \
         it; copy the tag now. Lost keys are not recovered: issue another.</p>\
         <p>Paste this one line into every page of the site, just before <code>&lt;/head&gt;</code>:</p>\
         <div class=\"tagbox\" data-key=\"{}\"><textarea id=\"tag\" rows=\"3\" readonly spellcheck=\"false\">{}</textarea>\
         <button type=\"button\" id=\"copy-tag\" class=\"primary\">Copy</button> <span id=\"copied\" class=\"small\" role=\"status\"></span></div>\
         <label for=\"tag-edges\">Edges' addresses</label>\
         <input id=\"tag-edges\" value=\"{}\" autocomplete=\"off\" spellcheck=\"false\" \
         placeholder=\"https://use1.edge.example, https://euw1.edge.example\">\
         <p class=\"hint\">Editing the addresses rewrites the tag above; nothing is sent.{}</p>\
         <p><a class=\"button primary\" href=\"/setup/{t}/alerts\" id=\"next\">Next: who is told</a></p></section>",
        esc(key),
        esc(key),
        esc(&tag),
        esc(&edges.join(", ")),
        if edges.is_empty() {
            " Until you give one, <code>https://EDGE</code> stands for your edge's address."
        } else {
            ""
        },
    );
    setup_page(csrf, 2, Some(tenant), &body)
}

/// Step 4: contacts and an escalation chain, the simple form or the whole TOML. `done`: the
/// config as stored, redacted, and a signing secret generated for the webhook (shown once).
pub fn setup_alerts(
    csrf: &str,
    tenant: &str,
    form: &AlertsForm,
    error: Option<&str>,
    done: Option<(&str, Option<&str>)>,
) -> String {
    let t = esc(tenant);
    let mut body = String::from("<section class=\"card\"><h2>4. Who is told, and when</h2>");
    if let Some((redacted, secret)) = done {
        let _ = write!(
            body,
            "<p class=\"notice\" role=\"status\" id=\"alerts-saved\">Saved: every edge has it within seconds.</p>{}\
             <p>The configuration as stored (secrets hidden):</p><pre class=\"toml\" id=\"alerts-redacted\">{}</pre>\
             <p>Nobody is paged until a rule says when, e.g. \
             <code>siqctl tenant rule {t} page --emotion rage --min-value-cents 10000000 --escalate-chain {}</code>.</p>\
             <p><a class=\"button primary\" href=\"/setup/{t}/first\" id=\"next\">Next: see the first session</a></p></section>",
            secret.map_or(String::new(), |s| format!(
                "<p class=\"warn\">The webhook's signing secret, <strong>shown only now</strong> (give it to whoever \
                 receives the webhook, to check the signatures): <code id=\"webhook-secret\">{}</code></p>",
                esc(s)
            )),
            esc(redacted),
            esc(if form.chain.is_empty() { "oncall" } else { &form.chain }),
        );
        return setup_page(csrf, 3, Some(tenant), &body);
    }
    let kind = if form.kind.is_empty() {
        "webhook"
    } else {
        form.kind.as_str()
    };
    let opt = |v: &str, label: &str| {
        format!(
            "<option value=\"{v}\"{}>{label}</option>",
            if kind == v { " selected" } else { "" }
        )
    };
    let _ = write!(
        body,
        "{}<p>When a valuable customer struggles, SentientIQ pages a person. Name the first person to tell \
         and how to reach them; they form a one-step escalation chain.</p>\
         <form method=\"post\" action=\"/setup/{t}/alerts\" class=\"wizard\" id=\"alerts-form\">{}\
         <div class=\"row\"><div><label for=\"contact_id\">Contact id</label>\
         <input id=\"contact_id\" name=\"contact_id\" value=\"{}\" placeholder=\"csm-oncall\" spellcheck=\"false\"></div>\
         <div><label for=\"cname\">Name</label>\
         <input id=\"cname\" name=\"name\" value=\"{}\" placeholder=\"Customer success on call\"></div></div>\
         <label for=\"kind\">How to reach them</label>\
         <select id=\"kind\" name=\"kind\">{}{}</select>\
         <label for=\"url\">Address</label>\
         <input id=\"url\" name=\"url\" value=\"{}\" placeholder=\"https://hooks.slack.com/services/…\" spellcheck=\"false\">\
         <p class=\"hint\">A Slack incoming webhook URL, or your system's HTTPS endpoint for a signed webhook.</p>\
         <label for=\"secret\">Webhook signing secret <span class=\"small\">(webhook only)</span></label>\
         <input id=\"secret\" name=\"secret\" value=\"{}\" placeholder=\"leave empty to generate one\" autocomplete=\"off\" spellcheck=\"false\">\
         <label for=\"chain\">Chain name</label>\
         <input id=\"chain\" name=\"chain\" value=\"{}\" spellcheck=\"false\">\
         <details{}><summary>Advanced: the whole alerting configuration</summary>\
         <p class=\"hint\">The TOML <code>siqctl alerts set {t} FILE</code> takes (contacts with several addresses, \
         quiet hours, chains of several steps; see <code>alerts/alerts.example.toml</code>). When filled in, it is \
         used instead of the fields above.</p>\
         <textarea id=\"toml\" name=\"toml\" rows=\"12\" spellcheck=\"false\">{}</textarea></details>\
         <button type=\"submit\" class=\"primary\">Save contacts and chain</button> \
         <a href=\"/setup/{t}/first\" class=\"small\">skip for now</a></form></section>",
        error_box(error),
        csrf_field(csrf),
        esc(&form.contact_id),
        esc(&form.name),
        opt("webhook", "Signed webhook"),
        opt("slack", "Slack (incoming webhook)"),
        esc(&form.url),
        esc(&form.secret),
        esc(if form.chain.is_empty() {
            "oncall"
        } else {
            &form.chain
        }),
        if form.toml.is_empty() { "" } else { " open" },
        esc(&form.toml),
    );
    setup_page(csrf, 3, Some(tenant), &body)
}

/// Step 5: waits for the first session (the script polls `first.json`).
pub fn setup_first(csrf: &str, tenant: &str, first: Option<&FirstSession>) -> String {
    let t = esc(tenant);
    let status = match first {
        Some(f) => format!(
            "<p id=\"first-status\" class=\"arrived\" data-src=\"/setup/{t}/first.json\">{}</p>",
            esc(&first_text(f))
        ),
        None => format!(
            "<p id=\"first-status\" class=\"waiting\" data-src=\"/setup/{t}/first.json\">\
             <span class=\"spinner\" aria-hidden=\"true\"></span>Waiting for the first session…</p>"
        ),
    };
    let body = format!(
        "<section class=\"card\"><h2>5. The first session</h2>\
         <p>Open a page of the site with the tag in it, and move the mouse. Edges report every minute's \
         sessions to the plane; this page looks at the last {} minutes and updates by itself.</p>\
         {status}\
         <p class=\"small\">Then: <a href=\"/t/{t}\">{t}'s live dashboard</a> · \
         <a href=\"/t/{t}/alerts\">alerts</a> · <a href=\"/t/{t}/experiments\">experiments</a></p></section>",
        super::wizard::FIRST_SESSION_MINUTES
    );
    setup_page(csrf, 4, Some(tenant), &body)
}

/// The EVI points as the chart script reads them: `{region, minute, evi, active}`; the global
/// index has region `""`.
pub fn evi_json(points: &[EviPoint]) -> serde_json::Value {
    serde_json::Value::Array(
        points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "region": p.region,
                    "minute": p.minute,
                    "evi": p.evi,
                    "active": p.active_sessions,
                })
            })
            .collect(),
    )
}

/// A detection as the live feed shows it.
pub fn detection_json(d: &sentientiq_proto::grpc::DetectionEvent) -> serde_json::Value {
    serde_json::json!({
        "sid": d.sid,
        "uid": d.uid,
        "account": if d.company.is_empty() { &d.account } else { &d.company },
        "value_cents": d.value_cents,
        "emotion": d.emotion,
        "confidence": d.confidence,
        "section": d.section,
        "region": d.region,
        "at_ms": d.at_ms,
        "done": d.done,
    })
}

/// An alert as the live feed shows it.
pub fn alert_json(a: &AlertRecord) -> serde_json::Value {
    serde_json::json!({
        "id": a.alert_id,
        "account": a.account,
        "value_cents": a.value_cents,
        "emotion": a.emotion,
        "confidence": a.confidence,
        "section": a.section,
        "state": a.state,
        "region": a.region,
        "opened_ms": a.opened_ms,
        "updated_ms": a.updated_ms,
        "acked_by": a.acked_by,
    })
}

/// The live page: the EVI chart (drawn by the script from the embedded points, refreshed from
/// `evi.json`) and the feed of alerts (server-sent events from `events`).
/// Minutes of the Live page's traffic table.
pub const TRAFFIC_MINUTES: i64 = 10;

/// Sessions, detections and events per minute and region, newest minute first, from the
/// windows edges reported (every edge of a region summed).
pub fn traffic(windows: &[WindowAggregate]) -> String {
    // (minute, region) → (active sessions, detections, events, new sessions)
    let mut rows: std::collections::BTreeMap<(i64, &str), (u64, u64, u64, u64)> =
        std::collections::BTreeMap::new();
    for w in windows {
        let r = rows.entry((w.minute, w.region.as_str())).or_default();
        r.0 += w.active_sessions;
        r.1 += w.detections.iter().sum::<u64>();
        r.2 += w.events;
        r.3 += w.new_sessions;
    }
    if rows.is_empty() {
        return "<p class=\"small\">No windows reported in the last minutes yet (edges report each \
                minute as it goes).</p>"
            .into();
    }
    let mut s = String::from(
        "<table class=\"traffic\"><thead><tr><th>minute (UTC)</th><th>region</th>\
         <th>active sessions</th><th>new sessions</th><th>detections</th><th>events</th></tr></thead><tbody>",
    );
    for ((minute, region), (active, dets, events, new)) in rows.iter().rev() {
        let (h, m) = (minute.rem_euclid(1440) / 60, minute.rem_euclid(60));
        let _ = write!(
            s,
            "<tr><td>{h:02}:{m:02}</td><td>{}</td><td class=\"n\">{active}</td>\
             <td class=\"n\">{new}</td><td class=\"n\">{dets}</td><td class=\"n\">{events}</td></tr>",
            esc(region)
        );
    }
    s + "</tbody></table>"
}

pub fn live(
    f: &Frame<'_>,
    points: &[EviPoint],
    minutes: i64,
    recent: &[WindowAggregate],
) -> String {
    let t = esc(f.tenant);
    let latest = points
        .iter()
        .filter(|p| p.region.is_empty())
        .max_by_key(|p| p.minute)
        .map_or("no data yet".to_string(), |p| format!("{:.1}", p.evi));
    let regions: std::collections::BTreeSet<&str> = points
        .iter()
        .filter(|p| !p.region.is_empty())
        .map(|p| p.region.as_str())
        .collect();
    let body = format!(
        "<h1>Live</h1>\
         <section class=\"card\"><h2>Emotional Volatility Index <small>last {minutes} minutes, per region and global</small></h2>\
         <p class=\"big\">Global now: <strong id=\"evi-global\">{latest}</strong> <small>(0 calm … 100 volatile)</small></p>\
         <p class=\"small\">{} point(s) from {} region(s)</p>\
         <svg id=\"evi-chart\" class=\"chart\" viewBox=\"0 0 800 260\" role=\"img\" aria-label=\"EVI over time\" data-src=\"/t/{t}/evi.json\"></svg>\
         <div id=\"evi-legend\" class=\"legend\"></div>\
         <script type=\"application/json\" id=\"evi-data\">{}</script></section>\
         <section class=\"card\"><h2>Live alerts <small id=\"feed-status\">connecting…</small></h2>\
         <table class=\"feed\"><thead><tr><th>time (UTC)</th><th>account</th><th>value</th><th>emotion</th>\
         <th>confidence</th><th>section</th><th>state</th></tr></thead>\
         <tbody id=\"feed\" data-events=\"/t/{t}/events\"></tbody></table>\
         <p class=\"small\" id=\"feed-empty\">No alerts yet. New and changed alerts appear here within a second.</p></section>\
         <section class=\"card\"><h2>Live detections <small>the newest 200, as edges report them (every <code>report_interval_ms</code>)</small></h2>\
         <div class=\"scroll\"><table class=\"feed\"><thead><tr><th>time (UTC)</th><th>account</th><th>value</th><th>emotion</th>\
         <th>confidence</th><th>section</th><th>region</th><th>what was done</th></tr></thead>\
         <tbody id=\"detections\"></tbody></table></div>\
         <p class=\"small\" id=\"detections-empty\">No detections yet.</p></section>\
         <section class=\"card\"><h2>Traffic <small>per minute and region, last {TRAFFIC_MINUTES} minutes (reload to refresh)</small></h2>{}</section>",
        points.len(),
        regions.len(),
        json_script(&evi_json(points)),
        traffic(recent),
    );
    page(f, Tab::Live, "Live", &body)
}

fn delivery_rows(a: &AlertRecord) -> String {
    if a.deliveries.is_empty() {
        return "<span class=\"small\">nobody told yet</span>".into();
    }
    let mut s = String::from("<ul class=\"deliveries\">");
    for d in &a.deliveries {
        let _ = write!(
            s,
            "<li><span class=\"st st-{}\">{}</span> {} via {} <span class=\"small\">step {}{}{}</span></li>",
            esc(&d.status),
            esc(&d.status.replace('_', " ")),
            esc(&d.contact),
            esc(&d.channel),
            d.step,
            if d.latency_ms > 0 {
                format!(", in {} ms", d.latency_ms)
            } else {
                String::new()
            },
            if d.attempts > 1 {
                format!(", {} attempts", d.attempts)
            } else {
                String::new()
            }
        );
    }
    s + "</ul>"
}

/// The alerts page: open alerts first, then recent ones, each with its chain and the actions.
/// `notice` is shown on top (what the last action did).
pub fn alerts(
    f: &Frame<'_>,
    list: &[AlertRecord],
    pending: &[(String, String)],
    notice: Option<&str>,
) -> String {
    let t = esc(f.tenant);
    let mut body = String::from("<h1>Alerts</h1>");
    if let Some(n) = notice {
        let _ = write!(body, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    let is_pending = |id: &str, action: &str| {
        pending
            .iter()
            .any(|(a, act)| a.as_str() == id && act.as_str() == action)
    };
    let (open, rest): (Vec<&AlertRecord>, Vec<&AlertRecord>) =
        list.iter().partition(|a| a.state == "open");
    for (title, group) in [("Open", open), ("Recent", rest)] {
        let _ = write!(
            body,
            "<section class=\"card\"><h2>{title} <small>{}</small></h2>",
            group.len()
        );
        if group.is_empty() {
            body += "<p class=\"small\">None.</p></section>";
            continue;
        }
        body += "<table class=\"alerts\"><thead><tr><th>opened (UTC)</th><th>account · user</th><th>value</th>\
                 <th>emotion</th><th>section · region</th><th>state</th><th>who was told</th><th>actions</th></tr></thead><tbody>";
        for a in group {
            let id = esc(&a.alert_id);
            let mut actions = String::new();
            let form = |action: &str, label: &str| {
                format!(
                    "<form method=\"post\" action=\"/t/{t}/alerts/{id}\">\
                     <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                     <input type=\"hidden\" name=\"action\" value=\"{action}\">\
                     <button type=\"submit\" class=\"act-{action}\">{label}</button></form>",
                    esc(f.csrf)
                )
            };
            for (action, label, applies, waiting) in [
                (
                    "acknowledge",
                    "Acknowledge",
                    a.state == "open",
                    "acknowledgement sent, waiting for the edge",
                ),
                (
                    "false_alarm",
                    "False alarm",
                    a.state != "false_alarm",
                    "false alarm label sent, waiting for the edge",
                ),
            ] {
                if !applies {
                    continue;
                }
                if is_pending(&a.alert_id, action) {
                    let _ = write!(
                        actions,
                        "<div class=\"pending\" data-pending=\"{action}\">{waiting}</div>"
                    );
                } else {
                    actions += &form(action, label);
                }
            }
            let _ = write!(
                body,
                "<tr id=\"alert-{id}\" data-alert=\"{id}\" data-state=\"{}\"><td class=\"when\">{}</td>\
                 <td>{}<div class=\"small\">{}</div></td><td class=\"n\">{}</td>\
                 <td>{}<div class=\"small\">confidence {:.2}</div></td><td>{}<div class=\"small\">{}</div></td>\
                 <td><span class=\"state state-{}\">{}</span>{}\
                 <div class=\"small\">step {}{}</div></td><td class=\"told\">{}</td><td class=\"actions\">{actions}</td></tr>",
                esc(&a.state),
                utc_ms(a.opened_ms),
                esc(&a.account),
                esc(&a.user),
                dollars_cents(a.value_cents),
                esc(&a.emotion),
                a.confidence,
                esc(&a.section),
                esc(&a.region),
                esc(&a.state),
                esc(&a.state.replace('_', " ")),
                if a.acked_by.is_empty() {
                    String::new()
                } else {
                    format!(
                        "<div class=\"small\">by {} at {}</div>",
                        esc(&a.acked_by),
                        utc_ms(a.acked_ms)
                    )
                },
                a.step,
                if a.repeats > 0 {
                    format!(", repeated {}×", a.repeats)
                } else {
                    String::new()
                },
                delivery_rows(a),
            );
        }
        body += "</tbody></table></section>";
    }
    body += "<p class=\"small\">Acknowledge and False alarm are sent to the edge holding the alert; \
             its state here changes once that edge reports it applied.</p>";
    page(f, Tab::Alerts, "Alerts", &body)
}

/// An interval as an SVG bar on `[lo_axis, hi_axis]`: the interval's span and its point.
pub fn interval_bar(e: Option<Estimate>, lo_axis: f64, hi_axis: f64) -> String {
    const W: f64 = 220.0;
    let Some(e) = e.filter(|e| e.lo.is_finite() && e.hi.is_finite() && e.point.is_finite()) else {
        return "<span class=\"small\">—</span>".into();
    };
    let span = (hi_axis - lo_axis).max(f64::MIN_POSITIVE);
    let x = |v: f64| ((v - lo_axis) / span * W).clamp(0.0, W);
    let zero = if lo_axis < 0.0 && hi_axis > 0.0 {
        format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"16\" class=\"zero\"/>",
            x(0.0)
        )
    } else {
        String::new()
    };
    format!(
        "<svg class=\"bar\" width=\"{W}\" height=\"16\" viewBox=\"0 0 {W} 16\" role=\"img\" \
         aria-label=\"95 % interval {:.4} to {:.4}\"><rect x=\"0\" y=\"7\" width=\"{W}\" height=\"2\" class=\"axis\"/>{zero}\
         <rect x=\"{:.1}\" y=\"3\" width=\"{:.1}\" height=\"10\" rx=\"2\" class=\"ci\"/>\
         <rect x=\"{:.1}\" y=\"1\" width=\"2\" height=\"14\" class=\"pt\"/></svg>",
        e.lo,
        e.hi,
        x(e.lo),
        (x(e.hi) - x(e.lo)).max(1.0),
        x(e.point) - 1.0
    )
}

fn pct(e: Option<Estimate>) -> String {
    e.map_or("—".into(), |e| {
        format!(
            "{:.2} % [{:.2}, {:.2}]",
            100.0 * e.point,
            100.0 * e.lo,
            100.0 * e.hi
        )
    })
}

fn pts(e: Option<Estimate>) -> String {
    e.map_or("—".into(), |e| {
        format!(
            "{:+.2} pt [{:+.2}, {:+.2}]",
            100.0 * e.point,
            100.0 * e.lo,
            100.0 * e.hi
        )
    })
}

fn failures_table(fl: &Failures) -> String {
    let rate = |n: u64, of: u64| {
        if of == 0 {
            "—".to_string()
        } else {
            format!("{:.1} %", 100.0 * n as f64 / of as f64)
        }
    };
    let mut s = format!(
        "<table class=\"failures\"><tbody>\
         <tr><th>Alerts opened</th><td>{}</td><td></td></tr>\
         <tr><th>False alarms</th><td id=\"f-false-alarms\">{}</td><td>{} of alerts</td></tr>\
         <tr><th>Unanswered escalations</th><td id=\"f-unanswered\">{}</td><td>{} of alerts</td></tr>\
         <tr><th>Acknowledged</th><td>{}</td><td>{} of alerts</td></tr>\
         <tr><th>Failed deliveries</th><td id=\"f-failed\">{}</td><td></td></tr>\
         <tr><th>Interventions dismissed</th><td id=\"f-dismissed\">{}</td><td>of {} shown ({})</td></tr>\
         </tbody></table>",
        fl.alerts,
        fl.false_alarms,
        rate(fl.false_alarms, fl.alerts),
        fl.unanswered,
        rate(fl.unanswered, fl.alerts),
        fl.acknowledged,
        rate(fl.acknowledged, fl.alerts),
        fl.failed_deliveries,
        fl.interventions_dismissed,
        fl.interventions_shown,
        rate(fl.interventions_dismissed, fl.interventions_shown),
    );
    if fl.alerts_capped {
        s += &format!(
            "<p class=\"small\">Alert counts are of the newest {MAX_ANALYZED_ALERTS} alerts only.</p>"
        );
    }
    s
}

fn arm_row(
    name: &str,
    a: &ArmReport,
    up: Option<Estimate>,
    pb: String,
    axis: (f64, f64),
    up_axis: (f64, f64),
) -> String {
    format!(
        "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}<br>{}</td><td>{}</td><td>{}<br>{}</td><td class=\"n\">{}</td></tr>",
        esc(name),
        a.counts.sessions,
        a.counts.conversions,
        pct(a.conversion_rate),
        interval_bar(a.conversion_rate, axis.0, axis.1),
        a.revenue_per_session.map_or("—".into(), |t| format!(
            "${:.2} [{:.2}, {:.2}]",
            t.estimate.point / 100.0,
            t.estimate.lo / 100.0,
            t.estimate.hi / 100.0
        )),
        if up.is_some() {
            pts(up)
        } else {
            "(baseline)".into()
        },
        if up.is_some() {
            interval_bar(up, up_axis.0, up_axis.1)
        } else {
            String::new()
        },
        pb
    )
}

/// An experiment's arms with 95 % intervals drawn as bars (conversion on one axis for the
/// table, uplift on a symmetric axis around zero), and the note reading the bars. Shared by the
/// forensics and experiments pages.
pub fn arms_table(rep: &Report) -> String {
    let mut arms: Vec<(String, &ArmReport, Option<Estimate>, String)> =
        vec![("holdout".into(), &rep.holdout, None, String::new())];
    for v in &rep.variants {
        let name = if v.paused {
            format!("{} (paused)", v.id)
        } else {
            v.id.clone()
        };
        arms.push((
            name,
            &v.arm,
            v.uplift_vs_holdout.conversion,
            format!("{:.3}", v.prob_best),
        ));
    }
    arms.push((
        "all variants".into(),
        &rep.treated,
        rep.uplift.conversion,
        String::new(),
    ));
    let hi = arms
        .iter()
        .filter_map(|a| a.1.conversion_rate.map(|e| e.hi))
        .filter(|h| h.is_finite())
        .fold(0.0f64, f64::max)
        .max(0.01)
        * 1.1;
    let m = arms
        .iter()
        .filter_map(|a| a.2.map(|e| e.lo.abs().max(e.hi.abs())))
        .filter(|h| h.is_finite())
        .fold(0.0f64, f64::max)
        .max(0.01)
        * 1.1;
    let mut body = String::from(
        "<table class=\"forensics\"><thead><tr><th>arm</th><th>sessions</th><th>conversions</th>\
         <th>conversion (95 %)</th><th>revenue / session</th><th>uplift vs holdout (95 %)</th><th>P(best)</th></tr></thead><tbody>",
    );
    for (name, a, up, pb) in &arms {
        body += &arm_row(name, a, *up, pb.clone(), (0.0, hi), (-m, m));
    }
    let _ = write!(
        body,
        "</tbody></table><p class=\"small\">Bars: 95 % intervals (light) and estimates (dark \
         tick); conversion on 0 to {:.1} %, uplift on ±{:.1} pt with the grey line at no \
         change.</p>",
        100.0 * hi,
        100.0 * m
    );
    body
}

/// The forensics page: per experiment its arms ([`arms_table`]), the holdout check and the
/// claims; then the failures and the false-positive rates per emotion.
pub fn forensics(
    f: &Frame<'_>,
    r: &TenantForensics,
    labels: &[EmotionLabels],
    days: i64,
) -> String {
    let mut body = format!("<h1>Forensics <small>last {days} day(s)</small></h1>");
    if r.experiments.is_empty() {
        body += "<section class=\"card\"><p>No experiments in this range.</p></section>";
    }
    for x in &r.experiments {
        let _ = write!(
            body,
            "<section class=\"card experiment\"><h2>Rule {}",
            esc(&x.rule)
        );
        let Some(rep) = &x.report else {
            body += "</h2><p>No experiment runs on it now (its counts are kept).</p></section>";
            continue;
        };
        let _ = write!(
            body,
            " <small>reported by {} edge boot(s)</small></h2>",
            x.edges
        );
        body += &arms_table(rep);
        let _ = write!(
            body,
            "<p>Holdout check: {}</p><p>Prevented churn: {}; attributed revenue: {}</p>\
             <p class=\"small\">Per-variant uplifts are adaptively collected: shown, never claimed.</p></section>",
            esc(&srm_text(&rep.srm)),
            esc(&claim_text(&rep.prevented_churn, "sessions", 1.0)),
            esc(&claim_text(&rep.attributed_revenue_cents, "dollars", 100.0)),
        );
    }
    let _ = write!(
        body,
        "<section class=\"card\"><h2>Failures</h2>{}</section>{}",
        failures_table(&r.failures),
        false_positive_section(labels, r.failures.alerts_capped)
    );
    page(f, Tab::Forensics, "Forensics", &body)
}

/// The false-positive rate per emotion, from the alerts people labelled, with Wilson's 95 %
/// interval drawn on 0–100 %; "not enough labels" below [`MIN_LABELS`].
pub fn false_positive_section(rows: &[EmotionLabels], capped: bool) -> String {
    let mut s = format!(
        "<section class=\"card\" id=\"fp-rates\"><h2>False-positive rate per emotion</h2>\
         <p class=\"how\">Measured from the alerts people labelled: each alert someone \
         acknowledged counts as a true alarm and each one marked <em>False alarm</em> as a \
         false one, and the rate is false alarms divided by labelled alerts, with a 95 % \
         Wilson interval, shown once an emotion has at least {MIN_LABELS} labels.</p>\
         <table class=\"fp\"><thead><tr><th>emotion</th><th>alerts</th><th>labelled</th>\
         <th>true alarms</th><th>false alarms</th><th>false-positive rate (95 %)</th><th></th></tr></thead><tbody>"
    );
    for r in rows {
        let (rate, bar) = match r.rate {
            Some(e) => (pct(Some(e)), interval_bar(Some(e), 0.0, 1.0)),
            None => (
                format!(
                    "<span class=\"small\">not enough labels ({} of {MIN_LABELS})</span>",
                    r.labelled()
                ),
                String::new(),
            ),
        };
        let _ = write!(
            s,
            "<tr data-emotion=\"{0}\"><td>{0}</td><td class=\"n\">{1}</td><td class=\"n\">{2}</td>\
             <td class=\"n\">{3}</td><td class=\"n\">{4}</td><td class=\"rate\">{rate}</td><td>{bar}</td></tr>",
            esc(&r.emotion),
            r.alerts,
            r.labelled(),
            r.true_alarms,
            r.false_alarms,
        );
    }
    s += "</tbody></table><p class=\"small\">Bars: the rate's 95 % interval (light) and estimate \
          (dark tick) on 0 to 100 %.</p>";
    if capped {
        s += &format!(
            "<p class=\"small\">Counted over the newest {MAX_ANALYZED_ALERTS} alerts only.</p>"
        );
    }
    s + "</section>"
}

/// The experiments page: per rule with an experiment, what it tests (its trigger, holdout share,
/// variants and which are paused, from the stored tenant) and its arms with their counts and
/// intervals ([`arms_table`], over the last `days`).
pub fn experiments(
    f: &Frame<'_>,
    tenant: &sentientiq_proto::grpc::Tenant,
    r: &TenantForensics,
    days: i64,
) -> String {
    use sentientiq_proto::grpc::rule::Action;
    let mut body = format!("<h1>Experiments <small>counts of the last {days} day(s)</small></h1>");
    let mut shown = 0;
    for rule in &tenant.rules {
        let Some(Action::Experiment(x)) = &rule.action else {
            continue;
        };
        shown += 1;
        let trigger = if rule.emotions.is_empty() {
            "any emotion".to_string()
        } else {
            rule.emotions.join(", ")
        };
        let holdout = match x.holdout_share {
            Some(h) => format!("{:.0} %", 100.0 * h),
            None => format!(
                "{:.0} % (default)",
                100.0 * sentientiq_experiments::config::DEFAULT_HOLDOUT_SHARE
            ),
        };
        let _ = write!(
            body,
            "<section class=\"card experiment\" data-rule=\"{0}\"><h2>Rule {0} <small>on {1}{2}</small></h2>\
             <p>Holdout: <strong class=\"holdout\">{holdout}</strong> of qualifying sessions are shown nothing. \
             Variants: {3} ({4} paused).</p>\
             <table class=\"variants\"><thead><tr><th>variant</th><th>kind</th><th>state</th><th>payload</th></tr></thead><tbody>",
            esc(&rule.id),
            esc(&trigger),
            if rule.min_confidence > 0.0 {
                format!(", confidence ≥ {:.2}", rule.min_confidence)
            } else {
                String::new()
            },
            x.variants.len(),
            x.variants.iter().filter(|v| v.paused).count(),
        );
        for v in &x.variants {
            let payload: String = v.payload_json.chars().take(120).collect();
            let _ = write!(
                body,
                "<tr data-variant=\"{0}\"><td>{0}</td><td>{1}</td><td>{2}</td><td><code>{3}</code></td></tr>",
                esc(&v.id),
                esc(&v.kind),
                if v.paused {
                    "<span class=\"state state-false_alarm\">paused</span>"
                } else {
                    "<span class=\"state state-acknowledged\">running</span>"
                },
                esc(if payload.is_empty() { "{}" } else { &payload }),
            );
        }
        body += "</tbody></table>";
        let found = r.experiments.iter().find(|e| e.rule == rule.id);
        match found.and_then(|e| e.report.as_ref().map(|rep| (e, rep))) {
            Some((e, rep)) => {
                let _ = write!(
                    body,
                    "<h3>Arms <small>reported by {} edge boot(s)</small></h3>{}<p>Holdout check: {}</p>",
                    e.edges,
                    arms_table(rep),
                    esc(&srm_text(&rep.srm))
                );
            }
            None => {
                body += "<p class=\"small\">No counts yet: edges report each arm as sessions are assigned.</p>"
            }
        }
        body += "</section>";
    }
    if shown == 0 {
        body += "<section class=\"card\"><p>No experiments. A rule tests variants of its intervention with \
                 <code>siqctl experiment create TENANT RULE --variant ID:KIND --holdout 0.1</code>.</p></section>";
    }
    let _ = write!(
        body,
        "<p class=\"small\">Money and uplift claims, and the failures beside them: <a href=\"/t/{}/forensics\">Forensics</a>.</p>",
        esc(f.tenant)
    );
    page(f, Tab::Experiments, "Experiments", &body)
}

/// The public failures page (no login; only when the tenant published it), with the
/// false-positive rate per emotion.
pub fn public_failures(
    tenant: &str,
    r: &TenantForensics,
    labels: &[EmotionLabels],
    days: i64,
) -> String {
    let mut s = head(&format!("Failures — {tenant}"));
    let _ = write!(
        s,
        "<header><span class=\"brand\">SentientIQ</span><span class=\"tenant\">{}</span><nav></nav></header>\
         <main><h1>What went wrong <small>last {days} day(s)</small></h1>\
         <p>{} publishes its failures: every false alarm, unanswered escalation, failed delivery and \
         dismissed intervention, as measured, beside the wins.</p>\
         <section class=\"card\">{}</section>{}</main></body></html>",
        esc(tenant),
        esc(tenant),
        failures_table(&r.failures),
        false_positive_section(labels, r.failures.alerts_capped)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_ages_read_in_tenths_of_seconds_minutes_then_hours() {
        for (ms, want) in [
            (-5, "0.0 s ago"),
            (99, "0.0 s ago"),
            (1_250, "1.2 s ago"),
            (59_999, "59.9 s ago"),
            (60_000, "1 min ago"),
            (3_599_999, "59 min ago"),
            (3_600_000, "1 h ago"),
            (86_400_000, "24 h ago"),
        ] {
            assert_eq!(ago(ms), want, "{ms}");
        }
    }

    #[test]
    fn the_regions_page_names_each_problem_and_escapes_what_edges_send() {
        use crate::store::fleet::Seen;
        use sentientiq_proto::grpc::EdgeHealth;
        let seen = |edge: &str, region: &str, version: u64, received_ms: i64| Seen {
            health: EdgeHealth {
                edge_id: edge.into(),
                region: region.into(),
                report_id: format!("{edge}@1"),
                config_version: version,
                following: true,
                spool_writable: true,
                report_interval_ms: 1_000,
                refused_tenant_count: Some(0),
                ..EdgeHealth::default()
            },
            received_ms,
        };
        let now = 100_000;
        let ok = seen("use1", "us-east-1", 7, now - 500);
        assert!(edge_problems(&ok, now, 7).is_empty());
        // The stale limit, three of the edge's intervals (1 s here): at 3 s still fresh, one
        // ms past it stale; an edge that does not say its interval gets the default (60 s).
        assert!(edge_problems(&seen("a", "r", 7, now - 3_000), now, 7).is_empty());
        let stale = seen("a", "r", 7, now - 3_001);
        assert_eq!(edge_problems(&stale, now, 7), ["a: last report 3.0 s ago"]);
        let mut unsaid = seen("a", "r", 7, now - 3_001);
        unsaid.health.report_interval_ms = 0;
        assert_eq!(stale_after_ms(&unsaid.health), 180_000);
        assert!(edge_problems(&unsaid, now, 7).is_empty());
        let behind = seen("b", "r", 5, now);
        assert_eq!(
            edge_problems(&behind, now, 7),
            ["b: serves config v5, 2 behind"]
        );
        let mut bad = seen("<c>", "eu-west-1", 7, now);
        bad.health.spool_writable = false;
        bad.health.lake_errors = 3;
        bad.health.following = false;
        assert_eq!(edge_problems(&bad, now, 7).len(), 3);
        let html = regions("tok", &[bad, ok], now, 7);
        assert!(
            html.contains("&lt;c&gt;") && !html.contains("<c>"),
            "escaped"
        );
        assert!(html.contains("3 problem(s)"), "{html}");
        assert!(html.contains("us-east-1 <span class=\"badge ok\">healthy</span>"));
        assert!(html.contains("not writable"));
        // The last report's cell says it as `siqctl edges` does, and marks a stale one.
        assert!(html.contains("<td>0.5 s ago</td>"), "{html}");
        let long_gone = seen("d", "r", 7, now - 7_200_000);
        let html = regions("tok", &[long_gone], now + 1, 7);
        assert!(
            html.contains(
                "<td class=\"bad\">2 h ago (stale)<form method=\"post\" action=\"/regions/d/forget\" \
                 class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"tok\">"
            ),
            "{html}"
        );
        assert!(html.contains("d: last report 2 h ago"), "{html}");
        assert!(regions("tok", &[], now, 7).contains("No edge has reported yet"));
        // Tenants it refuses: each named with the edge's reason, the rest counted.
        let mut refusing = seen("usw2", "us-west-2", 7, now);
        refusing.health.refused_tenants = vec![sentientiq_proto::grpc::RefusedTenant {
            tenant_id: "acme".into(),
            reason: "origin `<x>` is bad".into(),
            kept: false,
        }];
        refusing.health.refused_tenant_count = Some(1);
        assert_eq!(
            edge_problems(&refusing, now, 7),
            ["usw2: refuses tenant acme: origin `<x>` is bad (not served there)"]
        );
        refusing.health.refused_tenants[0].kept = true;
        assert!(edge_problems(&refusing, now, 7)[0].ends_with("(its previous version stays)"));
        refusing.health.refused_tenant_count = Some(18);
        assert_eq!(
            edge_problems(&refusing, now, 7)[1],
            "usw2: refuses 17 more tenant(s) (its log names them)"
        );
        let html = regions("tok", &[refusing], now, 7);
        assert!(html.contains("2 problem(s)"), "{html}");
        assert!(html.contains("origin `&lt;x&gt;`"), "escaped: {html}");
        assert!(html.contains("v7 current, 18 tenant(s) refused"), "{html}");
        // An edge from before refusals were reported says nothing of them: that is said.
        let mut old = seen("old", "r", 7, now);
        old.health.refused_tenant_count = None;
        assert_eq!(
            edge_problems(&old, now, 7),
            [
                "old: too old to report the tenants it refuses (upgrade edges before the plane; \
              its log names them)"
            ]
        );
    }

    fn frame() -> Frame<'static> {
        Frame {
            tenant: "acme",
            csrf: "csrf123",
            who: "acme",
            admin: false,
        }
    }

    #[test]
    fn everything_written_by_others_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let a = AlertRecord {
            alert_id: "al_1".into(),
            tenant_id: "acme".into(),
            account: "<script>alert(1)</script>".into(),
            section: "\"><img src=x>".into(),
            state: "open".into(),
            ..AlertRecord::default()
        };
        let html = alerts(&frame(), &[a], &[], None);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x>"));
        // A value closing the data element cannot: `<` is escaped inside the JSON.
        let p = EviPoint {
            region: "</script><script>x()</script>".into(),
            ..EviPoint::default()
        };
        let live_html = live(&frame(), &[p], 60, &[]);
        assert!(!live_html.contains("</script><script>x()"));
        assert!(live_html.contains("\\u003c/script\\u003e"));
    }

    #[test]
    fn the_alerts_page_shows_the_chain_and_offers_only_what_applies() {
        use sentientiq_proto::grpc::AlertDelivery;
        let open = AlertRecord {
            alert_id: "al_open".into(),
            account: "Acme Corp".into(),
            value_cents: 12_000_000,
            emotion: "rage".into(),
            confidence: 0.91,
            section: "checkout".into(),
            state: "open".into(),
            deliveries: vec![AlertDelivery {
                contact: "csm".into(),
                channel: "slack".into(),
                status: "delivered".into(),
                latency_ms: 420,
                ..AlertDelivery::default()
            }],
            ..AlertRecord::default()
        };
        let acked = AlertRecord {
            alert_id: "al_acked".into(),
            state: "acknowledged".into(),
            acked_by: "ana".into(),
            ..AlertRecord::default()
        };
        let pending = [("al_acked".to_string(), "false_alarm".to_string())];
        let html = alerts(&frame(), &[open, acked], &pending, Some("queued"));
        for want in [
            "Acme Corp",
            "$120,000.00",
            "0.91",
            "checkout",
            "csm via slack",
            "in 420 ms",
            "by ana",
            "action=\"/t/acme/alerts/al_open\"",
            "name=\"csrf\" value=\"csrf123\"",
            "queued",
        ] {
            assert!(html.contains(want), "{want}");
        }
        // The open alert offers both actions; the acknowledged one only False alarm, which is
        // pending: shown as waiting instead of a button.
        assert_eq!(html.matches("value=\"acknowledge\"").count(), 1);
        assert_eq!(html.matches("value=\"false_alarm\"").count(), 1);
        assert!(html.contains("data-pending=\"false_alarm\""));
    }

    #[test]
    fn the_live_page_embeds_every_point_and_the_latest_global_value() {
        let pts: Vec<EviPoint> = [("", 1, 10.0), ("", 2, 42.5), ("us-east-1", 1, 5.0)]
            .iter()
            .map(|(r, m, v)| EviPoint {
                region: r.to_string(),
                minute: *m,
                evi: *v,
                active_sessions: 3,
                ..EviPoint::default()
            })
            .collect();
        let html = live(&frame(), &pts, 60, &[]);
        assert!(html.contains("<strong id=\"evi-global\">42.5</strong>"));
        assert!(html.contains("3 point(s) from 1 region(s)"));
        assert!(html.contains("data-events=\"/t/acme/events\""));
        let data = html
            .split("id=\"evi-data\">")
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .expect("data");
        let v: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(v.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn interval_bars_place_the_interval_on_the_axis() {
        let e = Estimate {
            point: 0.5,
            lo: 0.25,
            hi: 0.75,
        };
        let svg = interval_bar(Some(e), 0.0, 1.0);
        assert!(svg.contains("x=\"55.0\" y=\"3\" width=\"110.0\""), "{svg}");
        assert!(svg.contains("x=\"109.0\""), "{svg}");
        let neg = interval_bar(
            Some(Estimate {
                point: -0.1,
                lo: -0.2,
                hi: 0.1,
            }),
            -0.2,
            0.2,
        );
        assert!(neg.contains("class=\"zero\""), "{neg}");
        assert!(interval_bar(None, 0.0, 1.0).contains("—"));
        let inf = Estimate {
            point: 0.1,
            lo: f64::NEG_INFINITY,
            hi: 0.2,
        };
        assert!(interval_bar(Some(inf), 0.0, 1.0).contains("—"));
    }

    #[test]
    fn the_wizard_keeps_what_was_typed_escaped_and_shows_the_key_once_in_the_tag() {
        let form = TenantForm {
            id: "\"><script>x()</script>".into(),
            name: "A & B".into(),
            origins: "https://a.example</textarea><b>".into(),
        };
        let html = setup_tenant("csrf1", &form, Some("That was not <accepted>"));
        assert!(!html.contains("<script>x()"), "{html}");
        assert!(!html.contains("</textarea><b>"));
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;x()&lt;/script&gt;\""));
        assert!(html.contains("That was not &lt;accepted&gt;"));
        assert!(html.contains("name=\"csrf\" value=\"csrf1\""));
        let tag = setup_tag("c", "acme", "siq_pk_abc", &["https://e.example".into()]);
        assert!(tag.contains("<code id=\"key\">siq_pk_abc</code>"));
        assert!(tag.contains(
            "&lt;script src=&quot;https://e.example/v1/sdk.js&quot; data-key=&quot;siq_pk_abc&quot; \
             data-edges=&quot;https://e.example&quot; async&gt;&lt;/script&gt;"
        ));
        let first = FirstSession {
            region: "eu-west-1".into(),
            minute: 1440 + 61,
            sessions: 2,
        };
        assert!(
            setup_first("c", "acme", Some(&first))
                .contains("First session arrived from eu-west-1 at 1970-01-02 01:01 UTC")
        );
        assert_eq!(first_json(None), serde_json::json!({ "arrived": false }));
        assert_eq!(first_json(Some(&first))["region"], "eu-west-1");
    }

    #[test]
    fn false_positive_rates_say_how_and_refuse_below_the_minimum() {
        let rows = super::super::labels::by_emotion("acme", 0, 1, &[]);
        let html = false_positive_section(&rows, false);
        assert_eq!(html.matches("not enough labels (0 of 10)").count(), 5);
        assert!(html.contains("95 % Wilson interval"));
        let mut r = rows[0].clone();
        (r.true_alarms, r.false_alarms) = (9, 3);
        r.rate = sentientiq_experiments::stats::wilson(3, 12);
        let html = false_positive_section(&[r], true);
        assert!(html.contains("25.00 % [8.89, 53.23]"), "{html}");
        assert!(html.contains(&format!("newest {MAX_ANALYZED_ALERTS} alerts")));
    }

    #[test]
    fn money_has_thousands_separators() {
        assert_eq!(dollars_cents(0), "$0.00");
        assert_eq!(dollars_cents(99_999), "$999.99");
        assert_eq!(dollars_cents(100_000), "$1,000.00");
        assert_eq!(dollars_cents(50_000_000), "$500,000.00");
        assert_eq!(dollars_cents(-123_456_789), "-$1,234,567.89");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc_ms(0), "—");
        assert_eq!(utc_ms(86_400_000 + 3_723_000), "1970-01-02 01:02:03");
    }

    #[test]
    fn traffic_sums_edges_of_a_region_per_minute_newest_first() {
        let w = |minute: i64, region: &str, edge: &str, active: u64| WindowAggregate {
            minute,
            region: region.into(),
            edge_id: edge.into(),
            active_sessions: active,
            detections: vec![1, 1, 0, 0, 0],
            events: 100,
            new_sessions: 1,
            ..WindowAggregate::default()
        };
        let html = traffic(&[
            w(600, "us-east-1", "a@1", 3),
            w(600, "us-east-1", "b@1", 4),
            w(601, "eu-west-1<", "c@1", 5),
        ]);
        assert!(html.contains("<td>10:00</td><td>us-east-1</td><td class=\"n\">7</td><td class=\"n\">2</td><td class=\"n\">4</td><td class=\"n\">200</td>"), "{html}");
        assert!(html.find("10:01").expect("newest") < html.find("10:00").expect("older"));
        assert!(html.contains("eu-west-1&lt;"), "escaped: {html}");
        assert!(traffic(&[]).contains("No windows"));
    }
}
