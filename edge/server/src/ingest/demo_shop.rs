//! The demo shop (issue 18: `make demo` a person can touch): `GET /demo/shop` and its
//! stylesheet and script, built into the binary, served only with `[edge] demo_shop = true`
//! (404 otherwise). A small static shop that loads this edge's SDK (`/v1/sdk.js`) from the same
//! origin with the write key (and the user to identify as) from its URL fragment,
//! `/demo/shop#key=siq_pk_…&uid=…`, never from the server. Its Checkout button does nothing
//! (rage on it is rage on a dead button); the SDK's own widget shows the edge's `iv`.
//!
//! The page is held to a strict Content-Security-Policy: no inline script or style (the script
//! and stylesheet are files of their own), scripts only from this origin (the loader and the
//! versioned SDK it injects), and connections to http(s)/ws(s) (the SDK pings and connects to
//! this edge and any peer `/v1/edges` lists).

use super::http::Response;

const PAGE: &str = include_str!("demo_shop.html");
const CSS: &str = include_str!("demo_shop.css");
const JS: &str = include_str!("demo_shop.js");

/// The page's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The answer for `GET path` when the demo shop is on (`None`: not one of its paths).
pub fn serve(path: &str) -> Option<Response> {
    let (body, kind) = match path {
        "/demo/shop" | "/demo/shop/" => (PAGE, "text/html; charset=utf-8"),
        "/demo/shop.css" => (CSS, "text/css; charset=utf-8"),
        "/demo/shop.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return None,
    };
    let mut r = Response::new(200);
    r.headers.push(("content-type", kind.into()));
    r.body = body.as_bytes().to_vec();
    Some(
        r.header("cache-control", "no-cache")
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header("content-security-policy", CSP),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a Response, k: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_page_its_stylesheet_and_script_under_a_strict_csp() {
        let page = serve("/demo/shop").expect("page");
        assert_eq!(page.status, 200);
        assert_eq!(
            header(&page, "content-type"),
            Some("text/html; charset=utf-8")
        );
        let csp = header(&page, "content-security-policy").expect("csp");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"));
        let html = String::from_utf8(page.body).expect("utf-8");
        // No inline script or style: every <script> has a src, and no style attribute or element.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=").count()
        );
        assert!(!html.contains("<style") && !html.contains(" style="));
        assert!(html.contains("id=\"checkout\"") && html.contains("data-siq-section=\"checkout\""));
        // The key is never in the page: the script reads it from the fragment.
        assert!(!html.contains("siq_pk_"));
        assert!(JS.contains("location.hash") && JS.contains("/v1/sdk.js"));
        let css = serve("/demo/shop.css").expect("css");
        assert_eq!(
            header(&css, "content-type"),
            Some("text/css; charset=utf-8")
        );
        let js = serve("/demo/shop.js").expect("js");
        assert_eq!(
            header(&js, "content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert!(serve("/demo/other").is_none());
    }
}
