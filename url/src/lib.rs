//! The one check of an http(s) URL given as a setting: the control plane's endpoint, the edge's
//! public URL and peers, the alerts' public URL, the lake's S3 endpoint and the alerts' webhook
//! URLs all pass through [`check`] or [`check_secret`], and every message that repeats such a
//! URL repeats [`shown`] of it.
//!
//! The parts are RFC 3986's (§3: `scheme "://" authority path-abempty [ "?" query ] [ "#"
//! fragment ]`, §3.2: `authority = [ userinfo "@" ] host [ ":" port ]`). This is a check of a
//! setting, not a parser: the HTTP clients that use the URL parse it again.

use std::borrow::Cow;

/// The longest URL accepted, in bytes. Not a standard's limit (RFC 3986 sets none, RFC 9110
/// §4.1 only recommends that senders and recipients support at least 8000 octets): the
/// sitemaps protocol's "less than 2,048 characters" (sitemaps.org/protocol.html), which
/// browsers and proxies have long served without trouble. Endpoints and webhooks are far
/// shorter; the bound only stops a pasted document from becoming a setting.
pub const MAX_LEN: usize = 2048;

/// Why a URL was refused. Never holds the URL: callers repeat [`shown`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("is {0} bytes long, more than {MAX_LEN}")]
    TooLong(usize),
    #[error("holds a space, a control character or one of \" \\ < > (RFC 3986 allows none)")]
    Character,
    /// The scheme is compared as written (lower case), as every copy of this check did.
    #[error("must start with http:// or https://")]
    Scheme,
    #[error("has no host")]
    NoHost,
    #[error("has a port that is not a number within 1..=65535")]
    Port,
    #[error("carries credentials before its host (user@ or user:password@): give them elsewhere")]
    Credentials,
}

/// An http(s) URL that may be shown (logged, repeated in errors, put in pages): refuses one
/// carrying credentials.
pub fn check(url: &str) -> Result<(), UrlError> {
    if check_secret(url)?.userinfo {
        return Err(UrlError::Credentials);
    }
    Ok(())
}

/// An http(s) URL that is itself a secret and never shown (a webhook URL): credentials in it
/// are the owner's business, everything else is checked as in [`check`].
pub fn check_secret(url: &str) -> Result<Parts, UrlError> {
    if url.len() > MAX_LEN {
        return Err(UrlError::TooLong(url.len()));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"\"\\<>".contains(&b))
    {
        return Err(UrlError::Character);
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or(UrlError::Scheme)?;
    let authority = authority(rest);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((_, hp)) => (true, hp),
        None => (false, authority),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        // An IP literal (§3.2.2): `[` … `]`, then an optional port.
        Some(v6) => match v6.split_once(']') {
            Some((h, after)) => match after {
                "" => (h, None),
                _ => (h, Some(after.strip_prefix(':').ok_or(UrlError::Port)?)),
            },
            None => return Err(UrlError::NoHost),
        },
        None => match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if let Some(p) = port
        && !(p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n != 0))
    {
        return Err(UrlError::Port);
    }
    Ok(Parts { userinfo })
}

/// What [`check_secret`] saw that a caller may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// Credentials came before the host.
    pub userinfo: bool,
}

/// `url` as it may be shown: credentials before the host (whatever else is wrong with it)
/// replaced by `<credentials>`, so `https://user:pw@h/x` shows as `https://<credentials>@h/x`.
/// Everything else as written.
pub fn shown(url: &str) -> Cow<'_, str> {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    match authority(rest).rsplit_once('@') {
        None => Cow::Borrowed(url),
        Some((userinfo, _)) => {
            let after = &rest[userinfo.len()..];
            Cow::Owned(match scheme {
                Some(s) => format!("{s}://<credentials>{after}"),
                None => format!("<credentials>{after}"),
            })
        }
    }
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
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "https://ops.example.com/hooks/siq?token=a@b#frag@x",
            "http://[::1]:9000/bucket",
            "http://[::1]",
            "https://h/a:b@c",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
            assert_eq!(check_secret(ok), Ok(Parts { userinfo: false }), "{ok}");
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
            ("http://h:", UrlError::Port),
            ("http://h:0", UrlError::Port),
            ("http://h:65536", UrlError::Port),
            ("http://h:+80", UrlError::Port),
            ("http://h:80x", UrlError::Port),
            ("http://[::1]x", UrlError::Port),
            ("http://h /x", UrlError::Character),
            ("http://h/x\ty", UrlError::Character),
            ("http://h/x\n", UrlError::Character),
            ("http://h/\"x", UrlError::Character),
            ("http://h/<script>", UrlError::Character),
            ("http://h/a\\b", UrlError::Character),
            (" http://h", UrlError::Character),
            ("http://u:p@h", UrlError::Credentials),
            ("https://u@h/x", UrlError::Credentials),
            ("http://@h", UrlError::Credentials),
        ] {
            assert_eq!(check(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn the_length_limit_is_checked_at_its_edges() {
        let of = |n: usize| format!("https://h/{}", "a".repeat(n - "https://h/".len()));
        assert_eq!(check(&of(MAX_LEN - 1)), Ok(()));
        assert_eq!(check(&of(MAX_LEN)), Ok(()));
        assert_eq!(check(&of(MAX_LEN + 1)), Err(UrlError::TooLong(MAX_LEN + 1)));
    }

    #[test]
    fn a_secret_url_may_carry_credentials_and_is_otherwise_checked_alike() {
        assert_eq!(
            check_secret("https://u:p@h/hook"),
            Ok(Parts { userinfo: true })
        );
        assert_eq!(check_secret("https://u:p@"), Err(UrlError::NoHost));
        assert_eq!(check_secret("https://u:p@h:0"), Err(UrlError::Port));
        assert_eq!(check_secret("ftp://u:p@h"), Err(UrlError::Scheme));
    }

    #[test]
    fn shown_hides_credentials_and_nothing_else() {
        for (url, want) in [
            ("http://h:1/x?a@b", "http://h:1/x?a@b"),
            ("https://user:hunter2@h/x", "https://<credentials>@h/x"),
            // Not `check`'s business here: a malformed URL still loses its credentials.
            ("ftp://ali:baba@h", "ftp://<credentials>@h"),
            ("ali:baba@h:9000", "<credentials>@h:9000"),
            ("http://a@b@h/p", "http://<credentials>@h/p"),
            ("no url at all", "no url at all"),
        ] {
            assert_eq!(shown(url), want, "{url}");
        }
        assert!(matches!(shown("http://h/"), Cow::Borrowed(_)));
    }

    #[test]
    fn reasons_never_repeat_the_url() {
        let e = check("https://user:hunter2@h").expect_err("credentials");
        assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("hunter2"));
    }
}
