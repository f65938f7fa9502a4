//! The one check of an http(s) URL given as a setting, for each way settings use one:
//! [`check`] for a URL that is shown (logged, repeated in errors, served), [`check_base`] for
//! one that paths are appended to (public URLs, vendor API bases, the S3 endpoint),
//! [`check_root`] for one of which only the scheme and authority are used (a gRPC endpoint),
//! and [`check_secret`] for a URL that is itself a credential and never shown (a webhook).
//! Every message that repeats such a URL repeats [`shown`] of it.
//!
//! The parts are RFC 3986's (§3: `scheme "://" authority path-abempty [ "?" query ] [ "#"
//! fragment ]`, §3.2: `authority = [ userinfo "@" ] host [ ":" port ]`). A URL accepted here
//! also parses as an [`http::Uri`], the type hyper, tonic and the AWS SDK send requests to: a
//! setting that would fail at its first use fails when it is read instead.

use std::borrow::Cow;

/// The longest URL accepted, in bytes. Not a standard's limit (RFC 3986 sets none, RFC 9110
/// §4.1 only recommends that senders and recipients support at least 8000 octets): the
/// sitemaps protocol's "less than 2,048 characters" (sitemaps.org/protocol.html), which
/// browsers and proxies have long served without trouble. Endpoints and webhooks are far
/// shorter; the bound only stops a pasted document from becoming a setting.
pub const MAX_LEN: usize = 2048;

/// The most characters [`shown`] repeats of a URL; the rest is cut to `…`.
pub const SHOWN_MAX_CHARS: usize = 200;

/// Why a URL was refused. Never holds the URL: callers repeat [`shown`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is {0} bytes long, more than {MAX_LEN}")]
    TooLong(usize),
    /// RFC 3986 §2 lets none of these stand for themselves in a URL.
    #[error(
        "holds a space, a control character, a non-ASCII character or one of \" \\ < > {{ }} | ^ ` (percent-encode it)"
    )]
    Character,
    /// The scheme is compared as written (lower case): every user of these settings does so.
    #[error("must start with http:// or https://")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("has a port that is not a number within 1..=65535")]
    Port,
    /// An `@` anywhere in a URL that is shown: before the host it is credentials, and past it
    /// it may be a password holding `/`, `?` or `#` (`user:pa/ss@host`).
    #[error("holds an @ (credentials, user@ or user:password@, are given elsewhere)")]
    Credentials,
    #[error("must not have a query or a fragment (paths are appended to it)")]
    QueryOrFragment,
    #[error("must not have a path (only its scheme, host and port are used)")]
    Path,
    /// What the checks above let through and an HTTP client would still refuse.
    #[error("is not a URL an HTTP client accepts")]
    Malformed,
}

/// A URL setting refused: the setting's name, the URL as [`shown`] (credentials hidden) and why.
/// Its message is the one every user of these checks gives: ``{key} `{shown}` {reason}``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} `{shown}` {reason}")]
pub struct Refused {
    pub key: &'static str,
    pub shown: String,
    pub reason: UrlError,
}

/// The setting `key` holding `url`, through `check` (one of the checks below).
pub fn setting(
    key: &'static str,
    url: &str,
    check: fn(&str) -> Result<(), UrlError>,
) -> Result<(), Refused> {
    check(url).map_err(|reason| Refused {
        key,
        shown: shown(url).into_owned(),
        reason,
    })
}

/// An http(s) URL that may be shown (logged, repeated in errors, served to pages): refuses an
/// `@` anywhere in it.
pub fn check(url: &str) -> Result<(), UrlError> {
    if url.contains('@') {
        return Err(UrlError::Credentials);
    }
    structure(url, RFC_3986_RAW)
}

/// [`check`], for a URL that paths are appended to: no query or fragment.
pub fn check_base(url: &str) -> Result<(), UrlError> {
    check(url)?;
    if url.contains(['?', '#']) {
        return Err(UrlError::QueryOrFragment);
    }
    Ok(())
}

/// [`check_base`], for a URL of which only the scheme and authority are used (tonic sends
/// every call to the endpoint's root): no path but `/`.
pub fn check_root(url: &str) -> Result<(), UrlError> {
    check_base(url)?;
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    match rest.find('/') {
        Some(i) if &rest[i..] != "/" => Err(UrlError::Path),
        _ => Ok(()),
    }
}

/// An http(s) URL that is itself a secret and never shown (a webhook URL): credentials in it
/// are the owner's business. Stored by the control plane and checked again by every edge that
/// receives it, so it refuses no more than the sender would fail on: past the host, what
/// [`http::Uri`] accepts though RFC 3986 does not is kept (in the path `{ } | ^ \ "`, in the
/// query also `` ` ``, UTF-8 in both); an ASCII space or control character, what `http::Uri`
/// refuses, a bad host or port, or more than [`MAX_LEN`] bytes are refused.
pub fn check_secret(url: &str) -> Result<(), UrlError> {
    structure(url, &[])
}

/// Bytes RFC 3986 §2 lets no URL hold raw besides spaces, control characters and non-ASCII.
const RFC_3986_RAW: &[u8] = b"\"\\<>{}|^`";

/// The checks every use shares; `refused` (with non-ASCII) are the bytes refused besides
/// spaces and control characters, or none.
fn structure(url: &str, refused: &[u8]) -> Result<(), UrlError> {
    if url.len() > MAX_LEN {
        return Err(UrlError::TooLong(url.len()));
    }
    if url.bytes().any(|b| {
        b.is_ascii_whitespace()
            || b.is_ascii_control()
            || (!refused.is_empty() && (!b.is_ascii() || refused.contains(&b)))
    }) {
        return Err(UrlError::Character);
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(UrlError::Scheme)?;
    let authority = authority(rest);
    // Past credentials, if any (only `check_secret` lets them through).
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = match host_port.strip_prefix('[') {
        // An IP literal (§3.2.2): `[` … `]`, then an optional port.
        Some(v6) => match v6.split_once(']') {
            Some((h, after)) => match after {
                "" => (h, None),
                _ => (h, Some(after.strip_prefix(':').ok_or(UrlError::Port)?)),
            },
            None => return Err(UrlError::NoHost),
        },
        None => match host_port.split_once(':') {
            // A second `:` is neither host nor port (an IPv6 address needs its brackets).
            Some((_, p)) if p.contains(':') => return Err(UrlError::Port),
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    // An empty port is the scheme's default (§3.2.3); port 0 reaches nothing.
    if let Some(p) = port.filter(|p| !p.is_empty())
        && !(p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n != 0))
    {
        return Err(UrlError::Port);
    }
    let uri: http::Uri = url.parse().map_err(|_| UrlError::Malformed)?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(UrlError::Malformed);
    }
    Ok(())
}

/// `url` as it may be shown: everything between its scheme and its last `@` (credentials, or
/// a password holding `/`, `?` or `#`) replaced by `<credentials>`, so `https://user:pw@h/x`
/// shows as `https://<credentials>@h/x`; control characters escaped; cut after
/// [`SHOWN_MAX_CHARS`] characters. Whatever else is wrong with it, as written.
pub fn shown(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = match scheme_end(url) {
        Some(i) => url.split_at(i),
        None => ("", url),
    };
    let hidden = match rest.rfind('@') {
        Some(at) => Cow::Owned(format!("{scheme}<credentials>{}", &rest[at..])),
        None => Cow::Borrowed(url),
    };
    let clean = !hidden.chars().any(char::is_control) && hidden.chars().count() <= SHOWN_MAX_CHARS;
    if clean {
        return hidden;
    }
    let mut out = String::new();
    for (n, c) in hidden.chars().enumerate() {
        if n == SHOWN_MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Where `scheme://` ends, if `url` starts with one (§3.1: a letter, then letters, digits,
/// `+`, `-` or `.`).
fn scheme_end(url: &str) -> Option<usize> {
    let i = url.find("://")?;
    let s = &url.as_bytes()[..i];
    let ok = s.first().is_some_and(u8::is_ascii_alphabetic)
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b));
    ok.then_some(i + 3)
}

/// The authority: what follows `scheme://` up to the path, query or fragment.
fn authority(rest: &str) -> &str {
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_urls_with_hosts_ports_paths_and_queries_are_accepted() {
        for ok in [
            "http://127.0.0.1:7500",
            "https://control.example.com",
            "https://control.example.com/",
            "http://localhost:1/x",
            "http://h:65535",
            "http://h:/x",
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "https://ops.example.com/hooks/siq?token=abc#frag",
            "http://[::1]:9000/bucket",
            "http://[::1]",
            "https://my-bucket.s3.us-east-1.amazonaws.com",
            "https://acct.r2.cloudflarestorage.com/b",
            "https://h/a%20b",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
            assert_eq!(check_secret(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_fault_has_its_reason() {
        for (bad, why) in [
            ("", UrlError::Scheme),
            ("127.0.0.1:9000", UrlError::Scheme),
            ("ftp://h", UrlError::Scheme),
            ("HTTP://h", UrlError::Scheme),
            ("http:/h", UrlError::Scheme),
            ("http://", UrlError::NoHost),
            ("http:///path", UrlError::NoHost),
            ("https://?q", UrlError::NoHost),
            ("http://:80", UrlError::NoHost),
            ("http://[::1", UrlError::NoHost),
            ("http://[]:80", UrlError::NoHost),
            ("http://h:0", UrlError::Port),
            ("http://h:65536", UrlError::Port),
            ("http://h:+80", UrlError::Port),
            ("http://h:80x", UrlError::Port),
            ("http://h:80:90", UrlError::Port),
            ("http://fe80::1", UrlError::Port),
            ("http://[::1]x", UrlError::Port),
            ("http://h /x", UrlError::Character),
            ("http://h/x\ty", UrlError::Character),
            ("http://h/x\n", UrlError::Character),
            ("http://h/\"x", UrlError::Character),
            ("http://h/<script>", UrlError::Character),
            ("http://h/a\\b", UrlError::Character),
            ("http://h/a`b", UrlError::Character),
            ("http://h|x", UrlError::Character),
            ("http://h/{x}", UrlError::Character),
            ("https://bücher.example", UrlError::Character),
            ("https://h.example\u{a0}", UrlError::Character),
            (" http://h", UrlError::Character),
            ("http://h%41", UrlError::Malformed),
            ("http://u:p@h", UrlError::Credentials),
            ("https://u@h/x", UrlError::Credentials),
            ("http://@h", UrlError::Credentials),
            ("https://user:pa/ss@host", UrlError::Credentials),
            ("https://admin:2024/Secret@host", UrlError::Credentials),
            ("https://h/x?a@b", UrlError::Credentials),
        ] {
            assert_eq!(check(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn a_base_has_no_query_or_fragment_and_a_root_no_path() {
        for ok in ["https://h", "https://h/", "https://h:8443/siq/"] {
            assert_eq!(check_base(ok), Ok(()), "{ok}");
        }
        for bad in ["https://h?x=1", "https://h/#f", "https://h/p?"] {
            assert_eq!(check_base(bad), Err(UrlError::QueryOrFragment), "{bad}");
        }
        assert_eq!(check_base("ftp://h"), Err(UrlError::Scheme));
        for ok in ["https://h", "https://h/", "http://[::1]:7500"] {
            assert_eq!(check_root(ok), Ok(()), "{ok}");
        }
        for bad in ["https://h/x", "https://h//", "http://[::1]:7500/v1"] {
            assert_eq!(check_root(bad), Err(UrlError::Path), "{bad}");
        }
        assert_eq!(check_root("https://h?x"), Err(UrlError::QueryOrFragment));
    }

    #[test]
    fn a_refused_setting_names_its_key_shows_the_url_without_credentials_and_says_why() {
        assert_eq!(setting("k", "https://h/", check_root), Ok(()));
        let e = setting("control.endpoint", "https://u:hunter2@h/x", check_root)
            .expect_err("credentials");
        assert_eq!(
            e,
            Refused {
                key: "control.endpoint",
                shown: "https://<credentials>@h/x".into(),
                reason: UrlError::Credentials
            }
        );
        assert_eq!(
            e.to_string(),
            format!(
                "control.endpoint `https://<credentials>@h/x` {}",
                UrlError::Credentials
            )
        );
    }

    #[test]
    fn the_length_limit_is_checked_at_its_edges() {
        let of = |n: usize| format!("https://h/{}", "a".repeat(n - "https://h/".len()));
        assert_eq!(check(&of(MAX_LEN - 1)), Ok(()));
        assert_eq!(check(&of(MAX_LEN)), Ok(()));
        assert_eq!(check(&of(MAX_LEN + 1)), Err(UrlError::TooLong(MAX_LEN + 1)));
        assert_eq!(
            check_secret(&of(MAX_LEN + 1)),
            Err(UrlError::TooLong(MAX_LEN + 1))
        );
    }

    #[test]
    fn a_secret_url_may_carry_credentials_and_keeps_what_its_sender_accepts() {
        assert_eq!(check_secret("https://u:p@h/hook"), Ok(()));
        // An `@` past the host is not credentials (Teams' webhook paths hold one).
        assert_eq!(
            check_secret("https://x.webhook.office.com/webhookb2/a@b/IncomingWebhook/c"),
            Ok(())
        );
        assert_eq!(check_secret("https://u:p@"), Err(UrlError::NoHost));
        assert_eq!(check_secret("https://u:p@h:0"), Err(UrlError::Port));
        assert_eq!(check_secret("ftp://u:p@h"), Err(UrlError::Scheme));
        assert_eq!(check_secret("https://u:p@h/a b"), Err(UrlError::Character));
        assert_eq!(check_secret("https://h/\u{7f}"), Err(UrlError::Character));
        // What the sender (hyper, through http::Uri) accepts past the host is kept: a stored
        // webhook that delivered before must still validate on every edge.
        for ok in [
            "https://h/a|b?q={x}^\\`",
            "https://h/\"x\"",
            "https://h/caf\u{e9}",
        ] {
            assert_eq!(check_secret(ok), Ok(()), "{ok}");
            assert_eq!(check(ok), Err(UrlError::Character), "{ok}");
        }
        // In the host, nothing of that kind parses.
        for bad in [
            "https://h|x/",
            "https://b\u{fc}cher.example/",
            "https://h%41/",
        ] {
            assert_eq!(check_secret(bad), Err(UrlError::Malformed), "{bad}");
        }
        assert_eq!(check_secret("https://h/<x>"), Err(UrlError::Malformed));
    }

    #[test]
    fn shown_hides_credentials_however_the_url_is_broken() {
        for (url, want) in [
            ("http://h:1/x?a=b", "http://h:1/x?a=b"),
            ("https://user:hunter2@h/x", "https://<credentials>@h/x"),
            ("ftp://ali:hunter2@h", "ftp://<credentials>@h"),
            ("ali:hunter2@h:9000", "<credentials>@h:9000"),
            ("http://a@hunter2@h/p", "http://<credentials>@h/p"),
            // A password holding `/`, `?` or `#`, and `@` past where the host would end.
            ("https://user:pa/hunter2@host", "https://<credentials>@host"),
            ("https://user:pa?hunter2@host", "https://<credentials>@host"),
            ("https://user:pa#hunter2@host", "https://<credentials>@host"),
            (
                "https://admin:2024/hunter2@host",
                "https://<credentials>@host",
            ),
            // A mistyped scheme, or a `://` later on, is no scheme.
            ("https:/u:hunter2@h", "<credentials>@h"),
            ("https//u:hunter2@h", "<credentials>@h"),
            ("u:hunter2@h/?r=http://x", "<credentials>@h/?r=http://x"),
            ("no url at all", "no url at all"),
            ("http://h/\u{1b}[2J\n", "http://h/\\u{1b}[2J\\n"),
        ] {
            assert_eq!(shown(url), want, "{url}");
        }
        assert!(matches!(shown("http://h/"), Cow::Borrowed(_)));
        let long = format!("https://h/{}", "a".repeat(3000));
        let s = shown(&long);
        assert_eq!(s.chars().count(), SHOWN_MAX_CHARS + 1);
        assert!(s.ends_with("a…"), "{s}");
        let at_cap = format!("https://h/{}", "a".repeat(SHOWN_MAX_CHARS - 10));
        assert_eq!(shown(&at_cap), at_cap);
        let over = format!("https://h/{}", "a".repeat(SHOWN_MAX_CHARS - 9));
        assert_eq!(shown(&over).chars().count(), SHOWN_MAX_CHARS + 1);
    }
}
