//! The browser SDK, served by every edge: built into the binary from `sdk/js/dist/` (committed,
//! checked against its sources by the SDK's `npm run check`), so serving needs no file and no
//! Node.
//!
//! - `GET /v1/sdk.js`: the loader (`dist/loader.js`, a few hundred bytes), cached 5 minutes: a
//!   new SDK version reaches pages within that.
//! - `GET /v1/sdk/<version>-<8 hex of sha256>.js`: the SDK (`dist/siq.js`), immutable (a year),
//!   with `Access-Control-Allow-Origin: *` (the loader loads it with Subresource Integrity and
//!   `crossorigin`).
//! - `GET /v1/edges`: this edge and its configured peers, for pages that give no edge list.
//!
//! Both scripts carry a strong `ETag` (their SHA-256) and answer `If-None-Match` with 304; with
//! `Accept-Encoding: gzip` they are sent gzipped (compressed once, at first use, level 9).
//! Brotli is not offered (no Brotli encoder among this build's crates; gzip is within 6 % of it
//! on this bundle's size class).

use std::sync::LazyLock;

use super::http::{Request, Response};
use crate::config::EdgeSection;

const SDK: &[u8] = include_bytes!("../../../../sdk/js/dist/siq.js");
const LOADER: &[u8] = include_bytes!("../../../../sdk/js/dist/loader.js");
const MANIFEST: &str = include_str!("../../../../sdk/js/dist/manifest.json");

/// One servable file.
#[derive(Debug)]
pub struct Asset {
    pub path: String,
    pub body: &'static [u8],
    pub gzip: Vec<u8>,
    pub etag: String,
    pub cache: &'static str,
}

#[derive(Debug)]
pub struct Assets {
    pub sdk: Asset,
    pub loader: Asset,
    pub version: String,
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// `bytes` as a gzip member (RFC 1952): header (no name, mtime 0: the same bytes every time),
/// raw DEFLATE, CRC-32 and size.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255];
    out.extend(miniz_oxide::deflate::compress_to_vec(bytes, 9));
    out.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out
}

fn asset(path: String, body: &'static [u8], cache: &'static str) -> Asset {
    Asset {
        path,
        body,
        gzip: gzip(body),
        etag: format!("\"{}\"", sha256_hex(body)),
        cache,
    }
}

/// The embedded SDK (built once).
pub static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let m: serde_json::Value = serde_json::from_str(MANIFEST).unwrap_or_default();
    let path = m["path"].as_str().unwrap_or("/v1/sdk/siq.js").to_string();
    Assets {
        sdk: asset(path, SDK, "public, max-age=31536000, immutable"),
        loader: asset("/v1/sdk.js".into(), LOADER, "public, max-age=300"),
        version: m["version"].as_str().unwrap_or("").to_string(),
    }
});

fn accepts_gzip(req: &Request) -> bool {
    req.header("accept-encoding").is_some_and(|v| {
        v.split(',').any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
    })
}

/// The answer for `GET path`, if `path` is the SDK or its loader.
pub fn serve(req: &Request, path: &str) -> Option<Response> {
    let a = &*ASSETS;
    let asset = if path == a.loader.path {
        &a.loader
    } else if path == a.sdk.path {
        &a.sdk
    } else {
        return None;
    };
    let common = |r: Response| {
        r.header("etag", asset.etag.clone())
            .header("cache-control", asset.cache)
            .header("vary", "Accept-Encoding")
            .header("access-control-allow-origin", "*")
            .header("x-content-type-options", "nosniff")
            .header("x-siq-sdk-version", a.version.clone())
    };
    let matches = req.header("if-none-match").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().trim_start_matches("W/") == asset.etag || t.trim() == "*")
    });
    if matches {
        return Some(common(Response::new(304)));
    }
    let mut r = Response::new(200);
    r.headers.push((
        "content-type",
        "application/javascript; charset=utf-8".into(),
    ));
    if accepts_gzip(req) {
        r.body = asset.gzip.clone();
        r = r.header("content-encoding", "gzip");
    } else {
        r.body = asset.body.to_vec();
    }
    Some(common(r))
}

/// `GET /v1/edges`: `{"edges": [{"region", "url"}, …]}`, this edge first.
pub fn edges(e: &EdgeSection) -> Response {
    let mut list = vec![serde_json::json!({
        "region": e.region,
        "url": e.public_url.clone().unwrap_or_else(|| format!("http://{}", e.listen)),
    })];
    for p in &e.peers {
        list.push(serde_json::json!({"region": p.region, "url": p.url}));
    }
    Response::json(200, &serde_json::json!({ "edges": list }))
        .header("cache-control", "public, max-age=300")
        .header("access-control-allow-origin", "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/v1/sdk.js".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            rest: Vec::new(),
        }
    }

    #[test]
    fn the_embedded_sdk_is_the_manifests_and_within_budget() {
        let a = &*ASSETS;
        let m: serde_json::Value = serde_json::from_str(MANIFEST).expect("manifest");
        assert_eq!(
            a.sdk.etag,
            format!("\"{}\"", m["sha256"].as_str().expect("sha"))
        );
        assert_eq!(a.sdk.path, m["path"].as_str().expect("path"));
        assert!(a.sdk.path.starts_with("/v1/sdk/") && a.sdk.path.ends_with(".js"));
        // The budget: 8 KB gzipped (8192 bytes), with our own gzip too.
        assert!(
            a.sdk.gzip.len() <= 8192,
            "{} bytes gzipped",
            a.sdk.gzip.len()
        );
    }

    #[test]
    fn gzip_is_a_valid_member_that_inflates_to_the_input() {
        let g = gzip(SDK);
        assert_eq!(&g[..3], &[0x1f, 0x8b, 8]);
        let body = &g[10..g.len() - 8];
        let back = miniz_oxide::inflate::decompress_to_vec(body).expect("inflate");
        assert_eq!(back, SDK);
        let n = g.len();
        assert_eq!(g[n - 8..n - 4], crc32fast::hash(SDK).to_le_bytes());
        assert_eq!(gzip(SDK), g, "deterministic");
    }

    #[test]
    fn encoding_and_revalidation_follow_the_request() {
        let plain = serve(&req(&[]), "/v1/sdk.js").expect("loader");
        assert_eq!(plain.status, 200);
        assert_eq!(plain.body, LOADER);
        let gz = serve(&req(&[("accept-encoding", "br, gzip;q=0.8")]), "/v1/sdk.js").expect("gz");
        assert!(
            gz.headers
                .iter()
                .any(|(k, v)| *k == "content-encoding" && v == "gzip")
        );
        let no = serve(&req(&[("accept-encoding", "gzip;q=0")]), "/v1/sdk.js").expect("q0");
        assert!(!no.headers.iter().any(|(k, _)| *k == "content-encoding"));
        let etag = ASSETS.loader.etag.clone();
        let nm = serve(&req(&[("if-none-match", &etag)]), "/v1/sdk.js").expect("304");
        assert_eq!((nm.status, nm.body.len()), (304, 0));
        let sdk = serve(&req(&[]), &ASSETS.sdk.path).expect("sdk");
        assert!(
            sdk.headers
                .iter()
                .any(|(k, v)| *k == "cache-control" && v.contains("immutable"))
        );
        assert!(
            serve(&req(&[]), "/v1/sdk/0.0.0-00000000.js").is_none(),
            "other versions: 404"
        );
    }
}
