//! `siqctl edges`: every edge's last health report as the plane holds it (the dashboard's
//! Regions page in a terminal), from the plane's HTTP face (`/admin/regions.json`) with the
//! admin token. `--check` is for scripts and probes: exit 0 when every edge is healthy, 1 when
//! any has a problem or none has reported, 2 when the plane could not be asked.
//!
//! `--forget EDGE_ID` drops one edge's last report (a decommissioned or renamed edge, which would
//! otherwise stay listed, stale, until the plane restarts): only a stale one unless `--force`
//! (a fresh report means a running edge, which would be back with its next report). Exit 0 when
//! forgotten; 1 when refused: an id outside the rule (by siqctl, before asking), or by the plane
//! (no such report, e.g. already forgotten; not stale; a wrong token); 2 when the plane could
//! not be asked or failed (no answer, or a 5xx). `--check` counts a refused token as "could not
//! be asked" (2): a probe cares only that it learned nothing. The edge's open alerts, lake files
//! and usage counts stay.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use crate::http::{PlaneHttp, exchange, refused, request};
use sentientiq_control::web::pages::ago;
// A cell as the terminal gets it: what edges send, control characters shown as `?` (a plane
// does so on receipt; an older one did not).
use sentientiq_proto::shown_plain as cell;

#[derive(Debug, Args)]
pub struct EdgesArgs {
    #[command(flatten)]
    http: PlaneHttp,
    /// Exit with status 1 when any edge has a problem (stale, not following, behind, a spool
    /// not writable, a tenant refused, …) or none has reported, 2 when the plane could not be
    /// asked.
    #[arg(long)]
    check: bool,
    /// Forget one edge's last report (decommissioned or renamed): no longer listed or stale,
    /// until it reports again. Only a stale report unless --force. Its open alerts, lake files
    /// and usage counts stay. Exit 1 when refused (404: nothing held, e.g. already forgotten),
    /// 2 when the plane could not be asked or failed.
    #[arg(long, value_name = "EDGE_ID", conflicts_with = "check")]
    forget: Option<String>,
    /// With --forget: forget the report even if it is not stale (the edge may be running).
    #[arg(long, requires = "forget")]
    force: bool,
}

pub async fn run(args: &EdgesArgs, token: &str, json: bool) -> Result<()> {
    if let Some(edge) = &args.forget {
        return forget(args, edge, token, json).await;
    }
    let (v, table, problems) = match ask(args, token).await {
        Ok(x) => x,
        Err(e) if args.check => {
            eprintln!("Error: {e:#}");
            std::process::exit(2)
        }
        Err(e) => return Err(e),
    };
    let text = if json {
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        table
    };
    let mut out = std::io::stdout();
    std::io::Write::write_all(&mut out, text.as_bytes())?;
    std::io::Write::flush(&mut out)?;
    let edges = v["edges"].as_array().map_or(0, Vec::len);
    if args.check && (problems > 0 || edges == 0) {
        match problems {
            0 => eprintln!("Error: no edge has reported"),
            n => eprintln!("Error: {n} problem(s) across the edges"),
        }
        std::process::exit(1)
    }
    Ok(())
}

/// `--forget EDGE_ID`: exits 2 itself when the plane could not be asked or failed.
async fn forget(args: &EdgesArgs, edge: &str, token: &str, json: bool) -> Result<()> {
    if !sentientiq_proto::grpc::valid_edge_name(edge) {
        anyhow::bail!(
            "--forget: an edge id is {}",
            sentientiq_proto::grpc::EDGE_NAME_RULE
        );
    }
    let path = format!("/admin/edges/{edge}/forget?force={}", args.force);
    let (status, v) = match exchange(&args.http.http, "POST", &path, token).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::exit(2)
        }
    };
    if status >= 500 {
        eprintln!("Error: {:#}", refused(status, &v));
        std::process::exit(2)
    }
    if status != 200 {
        return Err(refused(status, &v));
    }
    let text = match json {
        true => serde_json::to_string_pretty(&v)? + "\n",
        false => format!(
            "forgot edge {edge} ({}, last report {}): listed again if it reports again\n",
            cell(v["region"].as_str().unwrap_or("?")),
            ago(v["age_ms"].as_i64().unwrap_or(0))
        ),
    };
    std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes())?;
    Ok(())
}

/// The answer, its table and its number of problems.
async fn ask(args: &EdgesArgs, token: &str) -> Result<(Value, String, usize)> {
    let v = request(&args.http.http, "GET", "/admin/regions.json", token).await?;
    let (table, problems) = render(&v)?;
    Ok((v, table, problems))
}

/// The table and the number of problems of a `/admin/regions.json` answer. Edges by region,
/// then id; each problem on its own line after the table.
fn render(v: &Value) -> Result<(String, usize)> {
    let version = v["config_version"]
        .as_u64()
        .context("the plane's answer has no config_version")?;
    let mut edges: Vec<&Value> = v["edges"]
        .as_array()
        .context("the plane's answer has no edges")?
        .iter()
        .collect();
    let text = |e: &Value, k: &str| cell(e["health"][k].as_str().unwrap_or_default());
    edges.sort_by_cached_key(|e| (text(e, "region"), text(e, "edge_id")));
    let problems: Vec<&str> = edges
        .iter()
        .flat_map(|e| e["problems"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let mut out = format!(
        "plane config v{version}: {} edge(s), {} problem(s)\n",
        edges.len(),
        problems.len()
    );
    if edges.is_empty() {
        out += "no edge has reported\n";
        return Ok((out, 0));
    }
    let mut rows = vec![[
        "REGION".to_string(),
        "EDGE".into(),
        "LAST REPORT".into(),
        "CONFIG".into(),
        "SESSIONS".into(),
        "BUILD".into(),
    ]];
    for e in &edges {
        let age_ms = e["age_ms"].as_i64().unwrap_or_default();
        rows.push([
            text(e, "region"),
            text(e, "edge_id"),
            ago(age_ms),
            cell(e["config"].as_str().unwrap_or_default()),
            e["health"]["live_sessions"]
                .as_u64()
                .unwrap_or_default()
                .to_string(),
            text(e, "build"),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out.push('\n');
    }
    for p in &problems {
        out += &format!("problem: {}\n", cell(p));
    }
    Ok((out, problems.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_listed_by_region_with_their_problems() {
        let v = serde_json::json!({
            "config_version": 7,
            "edges": [
                {
                    "health": { "edge_id": "edge-b", "region": "us-west-2", "live_sessions": 12,
                                "build": "0.1.0" },
                    "age_ms": 1500, "config": "v7 current, 1 tenant(s) refused",
                    "problems": ["edge-b: refuses tenant acme: a reason (its previous version stays)"]
                },
                {
                    "health": { "edge_id": "edge-a", "region": "eu-west-1", "build": "0.1.0" },
                    "age_ms": 200, "config": "v6 (1 behind)",
                    "problems": ["edge-a: config v6, the plane is at v7"]
                },
                {
                    "health": { "edge_id": "edge-c", "region": "us-west-2", "build": "0.1.0" },
                    "age_ms": 0, "config": "v7 current", "problems": []
                }
            ]
        });
        let (t, n) = render(&v).expect("render");
        assert_eq!(n, 2);
        assert_eq!(
            t,
            "plane config v7: 3 edge(s), 2 problem(s)\n\
             REGION     EDGE    LAST REPORT  CONFIG                           SESSIONS  BUILD\n\
             eu-west-1  edge-a  0.2 s ago    v6 (1 behind)                    0         0.1.0\n\
             us-west-2  edge-b  1.5 s ago    v7 current, 1 tenant(s) refused  12        0.1.0\n\
             us-west-2  edge-c  0.0 s ago    v7 current                       0         0.1.0\n\
             problem: edge-a: config v6, the plane is at v7\n\
             problem: edge-b: refuses tenant acme: a reason (its previous version stays)\n"
        );
        let none = serde_json::json!({ "config_version": 3, "edges": [] });
        assert_eq!(
            render(&none).expect("render"),
            (
                "plane config v3: 0 edge(s), 0 problem(s)\nno edge has reported\n".to_string(),
                0
            )
        );
        assert!(render(&serde_json::json!({ "error": "x" })).is_err());
        // What edges send reaches the terminal without its control characters.
        let odd = serde_json::json!({ "config_version": 1, "edges": [{
            "health": { "edge_id": "e\u{1b}[2J", "region": "r" }, "age_ms": 0,
            "config": "v1 current", "problems": ["e: refuses tenant t: a\u{7}b"]
        }]});
        let (t, _) = render(&odd).expect("render");
        assert!(
            t.contains("e?[2J") && t.contains("a?b") && !t.contains('\u{1b}'),
            "{t}"
        );
    }
}
