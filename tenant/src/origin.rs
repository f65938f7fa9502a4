//! Allowed origins that are not web sites: apps and browser extensions.
//!
//! A page in a Capacitor or Ionic app on iOS sends `Origin: capacitor://localhost` (or
//! `ionic://localhost`), a Tauri app `tauri://localhost`, an extension's own pages
//! `chrome-extension://<id>`, `moz-extension://<uuid>` or `safari-web-extension://<uuid>`. The
//! edge compares whole origins (any case), so a tenant allows one by listing it as the browser
//! sends it: `scheme://host`, no port, path or `@`. Web origins (`http`/`https`) are checked
//! by the caller; `null` (sandboxed frames, `file://` pages) is never an origin to allow: any
//! page can send it.

/// The longest app origin taken: a host of at most 253 bytes (a DNS name's limit, RFC 1035
/// §2.3.4), `://` and a scheme of up to 64. Real ones are far shorter:
/// `chrome-extension://` and a 32-letter id is 51 bytes, a Safari extension's UUID 58.
pub const MAX_APP_ORIGIN_LEN: usize = 64 + 3 + 253;

/// Whether `o` is written as an app's or extension's origin and, if so, why it cannot be one.
/// `None`: `o` has no `scheme://`, or its scheme is `http`/`https` in any case (a web origin, or
/// not an origin at all: the caller's own check answers). `null` is `Some(Err(…))`.
pub fn app_origin(o: &str) -> Option<Result<(), &'static str>> {
    if o.eq_ignore_ascii_case("null") {
        return Some(Err(
            "is what sandboxed frames and file:// pages send, and any page can make one: it \
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
    if scheme == "file" {
        return Err(
            "is a file:// page's, which browsers send as `null` (allow `*` for such \
                    pages)",
        );
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() {
        return Err("has no host (an app's origin is e.g. capacitor://localhost)");
    }
    if !host
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err(
            "has a port, path, @ or other character an app's or extension's origin \
                    never has: it is scheme://host, e.g. capacitor://localhost or \
                    chrome-extension://<id>",
        );
    }
    Ok(())
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
            "moz-extension://0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            "safari-web-extension://0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0",
            "capacitor://localhost/",
            "app+x.y-z://my.app",
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
            ("file:///home/me/index.html", "file://"),
            ("file://", "file://"),
            ("Capacitor://localhost", "lowercase letter"),
            ("1app://localhost", "lowercase letter"),
            ("://localhost", "lowercase letter"),
            ("my_app://localhost", "lowercase letter"),
            ("capacitor://", "no host"),
            ("capacitor:///", "no host"),
            ("capacitor://localhost:8080", "port, path"),
            ("capacitor://localhost/index.html", "port, path"),
            ("chrome-extension://id/popup.html", "port, path"),
            ("capacitor://user@localhost", "port, path"),
            ("capacitor://local host", "port, path"),
            ("capacitor://localhost?x", "port, path"),
            ("capacitor://lo\u{200b}calhost", "port, path"),
        ] {
            match app_origin(o) {
                Some(Err(e)) => assert!(e.contains(why), "{o}: {e}"),
                other => panic!("{o}: {other:?}"),
            }
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
