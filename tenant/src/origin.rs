//! What a tenant's allowed origin may be: the one check of an origin ([`not_an_origin`]), for
//! the plane's writes, and of an app's or extension's origin ([`app_origin`]), which the
//! tenant model also applies (it checks web origins by prefix only, so that a tenant stored
//! before the plane checked them stays readable).
//!
//! A web origin is `scheme://host[:port]` as browsers send it: an http(s) root URL
//! ([`sentientiq_url::check_root`], a trailing `/` tolerated), without the scheme's default
//! port (browsers leave it out) and without a wildcard (the edge compares whole origins).
//!
//! WebKit WebViews send their app scheme's origin: an iOS Capacitor or Ionic app
//! `capacitor://localhost` (or `ionic://localhost`), a Tauri app on macOS, iOS or Linux
//! `tauri://localhost` (Tauri 2 serves `http://tauri.localhost` on Windows and Android, a web
//! origin: `tauri/src/protocol/mod.rs`, `origin`). A Chrome extension's own pages send `chrome-extension://<id>` (32
//! letters a–p, the same for every install from one store listing). The edge compares whole
//! origins (any case), so a tenant allows one by listing it as the browser sends it:
//! `scheme://host[:port]`, no path or `@`. Such an origin is narrower than `*` but names the
//! framework, not the customer's app: every Capacitor app on iOS sends `capacitor://localhost`.
//!
//! Refused, each with its reason, because no browser sends them as a page's origin or they
//! would match nothing the customer meant: `null` (sandboxed frames and local files: any page
//! can send it), `file://`, WebSocket addresses (`wss://`: an edge's, pasted in the wrong
//! place), schemes whose pages have no origin (`data`, `blob`, `about`, …), the browser's own
//! pages (`chrome://`, `devtools://`, …), Firefox and Safari
//! extensions (`moz-extension://`, `safari-web-extension://`: their UUID differs in every
//! browser the extension is installed in) and near misses of `http`/`https` (`htps://`).
//! Web origins (`http`/`https`) are checked by the caller.

/// Why `o` is not an origin a browser can send (`*` aside), in an origin's terms; `None` if it
/// is one.
pub fn not_an_origin(o: &str) -> Option<&'static str> {
    use sentientiq_url::UrlError;
    if let Some(app) = app_origin(o) {
        return app.err();
    }
    if let Err(e) = sentientiq_url::check_root(o) {
        return Some(match e {
            UrlError::Path | UrlError::QueryOrFragment => {
                "has a path, query or fragment, which an origin never has"
            }
            UrlError::Credentials => "holds an @, which an origin never has",
            UrlError::Character => {
                "holds a space or a character an origin cannot (a non-ASCII host is written in \
                 punycode, xn--…)"
            }
            UrlError::Scheme => "must start with http:// or https://",
            UrlError::TooLong(_) => "is too long for an origin",
            UrlError::NoHost => "has no host",
            UrlError::Port => "has a port that is not a number within 1..=65535",
            UrlError::Malformed => "is not an origin an HTTP client accepts",
        });
    }
    // A root URL: `scheme://authority`, perhaps with one `/`.
    let (scheme, authority) = o.trim_end_matches('/').split_once("://")?;
    let port = authority
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.contains(']'));
    if authority.contains('*') {
        Some(WILDCARD)
    } else if port == Some("") {
        Some("has an empty port")
    } else if port == Some(if scheme == "https" { "443" } else { "80" }) {
        Some("names the default port, which browsers leave out")
    } else {
        None
    }
}

/// The origin a pasted page URL stands for (`https://shop.example/products?id=1` →
/// `https://shop.example`), when it has a well-formed one without credentials.
pub fn origin_of(o: &str) -> Option<String> {
    let (scheme, rest) = o.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let origin = format!("{scheme}://{authority}");
    (origin != o.trim_end_matches('/') && not_an_origin(&origin).is_none()).then_some(origin)
}

const WILDCARD: &str = "has a wildcard, which never matches (list each origin)";

/// The longest app origin taken, in bytes: room for a host of 253 (a DNS name's limit, RFC 1035
/// §2.3.4), `://` and a scheme of 64. Only the whole is capped. Real ones are far shorter:
/// `chrome-extension://` and a 32-letter id is 51 bytes.
pub const MAX_APP_ORIGIN_LEN: usize = 64 + 3 + 253;

/// Whether `o` is written as an app's or extension's origin and, if so, why it cannot be one.
/// `None`: `o` has no `scheme://`, or its scheme is `http`/`https` in any case (a web origin, or
/// not an origin at all: the caller's own check answers). `null` is `Some(Err(…))`.
pub fn app_origin(o: &str) -> Option<Result<(), &'static str>> {
    if o.eq_ignore_ascii_case("null") {
        return Some(Err(
            "is what sandboxed frames and local files send, and any page can make one: it \
             cannot tell a site apart (allow `*` for such pages)",
        ));
    }
    let (scheme, rest) = o.split_once("://")?;
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    Some(app_origin_parts(o, scheme, rest))
}

fn app_origin_parts(o: &str, scheme: &str, rest: &str) -> Result<(), &'static str> {
    if o.len() > MAX_APP_ORIGIN_LEN {
        return Err("is too long for an app's or extension's origin");
    }
    // RFC 3986 §3.1: a letter, then letters, digits, `+`, `-`, `.`; browsers send it lowercase.
    let mut chars = scheme.bytes();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(&c));
    if !scheme_ok {
        return Err(
            "has a scheme that is not a lowercase letter followed by lowercase \
             letters, digits, +, - or .",
        );
    }
    match scheme {
        "file" => {
            return Err(
                "is a local file's, which browsers send as `null` (some embedders as \
                 `file://`) and any local file can send (allow `*` for such pages)",
            );
        }
        "ws" | "wss" => {
            return Err(
                "is a WebSocket address (an edge's belongs in the SDK's edges), never \
                 a page's origin: write the page's https://host",
            );
        }
        "ftp" | "data" | "blob" | "about" | "javascript" | "view-source" | "mailto" | "tel"
        | "intent" => {
            return Err("has a scheme whose pages browsers send no origin of their own for");
        }
        "chrome" | "chrome-untrusted" | "edge" | "brave" | "opera" | "vivaldi" | "devtools"
        | "resource" | "moz-icon" => {
            return Err("is the browser's own pages' scheme, never a customer's page");
        }
        "moz-extension" | "safari-web-extension" => {
            return Err(
                "is different in every browser the extension is installed in (Firefox \
                 and Safari give each install its own UUID): allow `*` for such \
                 extension pages",
            );
        }
        _ if one_edit_from(scheme, "http") || one_edit_from(scheme, "https") => {
            return Err("has a scheme that looks like a mistyped http or https");
        }
        _ => {}
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('*') {
        return Err(WILDCARD);
    }
    if !authority
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-.:".contains(&c))
    {
        return Err(
            "has a path, @ or other character an app's or extension's origin never \
             has: it is scheme://host[:port], e.g. capacitor://localhost or \
             chrome-extension://<id>",
        );
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() {
        return Err("has no host (an app's origin is e.g. capacitor://localhost)");
    }
    // `.` alone is what Electron apps built with electron-builder's `app://./index.html` send.
    let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    if host != "." && (!alnum(host.as_bytes().first()) || !alnum(host.as_bytes().last())) {
        return Err("has a host that does not start and end with a letter or digit");
    }
    if let Some(p) = port
        && (host.contains(':')
            || !p.bytes().all(|c| c.is_ascii_digit())
            || p.starts_with('0')
            || p.parse::<u16>().is_err())
    {
        return Err("has a port that is not a number within 1..=65535");
    }
    Ok(())
}

/// Whether `a` becomes `b` by one insertion, deletion or substitution (not when equal).
fn one_edit_from(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b || a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[common..], &b[common..]);
    match ra.len().cmp(&rb.len()) {
        std::cmp::Ordering::Equal => ra[1..] == rb[1..],
        std::cmp::Ordering::Greater => ra[1..] == *rb,
        std::cmp::Ordering::Less => *ra == rb[1..],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_apps_and_extensions_send_is_taken() {
        for o in [
            "capacitor://localhost",
            "ionic://localhost",
            "tauri://localhost",
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop",
            "capacitor://localhost/",
            "app://my.app:1234",
            "app://.",
            "app+x.y-z://My.App",
            "hxxp://localhost",
            "httpx2://localhost",
        ] {
            assert_eq!(app_origin(o), Some(Ok(())), "{o}");
        }
    }

    #[test]
    fn web_origins_and_schemeless_text_are_the_callers() {
        for o in [
            "https://shop.example",
            "http://localhost:3000",
            "HTTPS://shop.example",
            "Http://x/y",
            "shop.example",
            "*",
            "",
        ] {
            assert_eq!(app_origin(o), None, "{o}");
        }
    }

    #[test]
    fn what_no_browser_sends_is_refused_with_why() {
        for (o, why) in [
            ("null", "sandboxed frames"),
            ("NULL", "sandboxed frames"),
            ("file:///home/me/index.html", "local file's"),
            ("file://", "local file's"),
            ("wss://use1.edge.example", "WebSocket address"),
            ("ws://localhost:8080", "WebSocket address"),
            ("data://x", "no origin of their own"),
            ("tel://123", "no origin of their own"),
            ("chrome://settings", "browser's own pages"),
            ("devtools://devtools", "browser's own pages"),
            ("app://-", "start and end"),
            ("app://..", "start and end"),
            ("app://my.app.", "start and end"),
            ("app://-my.app:80", "start and end"),
            ("about://blank", "no origin of their own"),
            (
                "moz-extension://0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
                "every browser",
            ),
            (
                "safari-web-extension://0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0",
                "every browser",
            ),
            ("htps://shop.example", "mistyped"),
            ("ttps://shop.example", "mistyped"),
            ("htttps://shop.example", "mistyped"),
            ("httpss://shop.example", "mistyped"),
            ("htp://shop.example", "mistyped"),
            ("hhttp://shop.example", "mistyped"),
            ("Capacitor://localhost", "lowercase letter"),
            ("1app://localhost", "lowercase letter"),
            ("://localhost", "lowercase letter"),
            ("my_app://localhost", "lowercase letter"),
            ("capacitor://", "no host"),
            ("capacitor:///", "no host"),
            ("capacitor://:8080", "no host"),
            ("chrome-extension://*", "wildcard"),
            ("capacitor://localhost/index.html", "path, @"),
            ("chrome-extension://id/popup.html", "path, @"),
            ("capacitor://user@localhost", "path, @"),
            ("capacitor://local host", "path, @"),
            ("capacitor://localhost?x", "path, @"),
            ("capacitor://lo\u{200b}calhost", "path, @"),
            ("app://my.app:", "port"),
            ("app://my.app:0", "port"),
            ("app://my.app:08080", "port"),
            ("app://my.app:65536", "port"),
            ("app://my.app:+80", "port"),
            ("app://my.app:80:80", "port"),
            ("capacitor://k:s3cret@localhost", "path, @"),
        ] {
            match app_origin(o) {
                Some(Err(e)) => assert!(e.contains(why), "{o}: {e}"),
                other => panic!("{o}: {other:?}"),
            }
        }
        assert_eq!(app_origin("app://my.app:65535"), Some(Ok(())));
        assert_eq!(app_origin("app://my.app:1"), Some(Ok(())));
    }

    #[test]
    fn one_edit() {
        for (a, b, one) in [
            ("htps", "https", true),
            ("httpss", "https", true),
            ("htpps", "https", true),
            ("ttp", "http", true),
            ("http", "http", false),
            ("hp", "http", false),
            ("ht", "https", false),
            ("", "http", false),
            ("tauri", "https", false),
        ] {
            assert_eq!(one_edit_from(a, b), one, "{a} {b}");
        }
    }

    #[test]
    fn the_length_cap() {
        let at = |len: usize| format!("x://{}", "h".repeat(len - 4));
        assert_eq!(app_origin(&at(MAX_APP_ORIGIN_LEN - 1)), Some(Ok(())));
        assert_eq!(app_origin(&at(MAX_APP_ORIGIN_LEN)), Some(Ok(())));
        assert_eq!(
            app_origin(&at(MAX_APP_ORIGIN_LEN + 1)),
            Some(Err("is too long for an app's or extension's origin"))
        );
    }
}
