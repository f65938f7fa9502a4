//! A credential as a type, and errors about config text without the values they quote.
//!
//! [`Secret`] prints as [`REDACTED`] in every `Debug`, `Display` and `Serialize`; only
//! [`Secret::expose`] reveals it. Its callers outside tests put the value on the wire or check
//! it: vendor request builders (the alerts crate), bearer headers, the S3 client's static keys,
//! the sealing key, the plane's constant-time token checks. A credential deserializes from its
//! plain string (config files, the plane's messages) and always serializes as `"[redacted]"`,
//! so `siqctl --json` and logs cannot print one.
//!
//! [`without_values`] and [`shown_toml_error`] are how every config reader (the edge's, the
//! plane's, alerting configs, the loadgen's ground truth, `siqctl`) shows a deserializer's
//! error: where, and what was expected, never the value or the line that holds it.
//!
//! The per-channel credential types and sealing at rest are the alerts crate's
//! (`sentientiq_alerts::secret`).

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// What a redacted value prints as.
pub const REDACTED: &str = "[redacted]";

/// A secret string. Its `==` is not constant-time: check a credential someone presents with
/// [`Secret::is`].
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Secret(Box<str>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into().into_boxed_str())
    }

    /// The value itself. Call it only to put the value on the wire or check it (a length, a
    /// constant-time comparison, parsing a key); what it returns is never printed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret, in time that does not depend on where they differ
    /// (`subtle`'s constant-time comparison; only the lengths' equality can be told apart).
    pub fn is(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(presented.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// A deserializer's message (serde's, TOML's, JSON's) with the values it quotes left out, the
/// names it quotes kept: a credential written where another type belongs (`auth = "<token>"`
/// where a table goes) or as an unknown variant would otherwise be repeated by the very error
/// that refuses it, into a log, a terminal or the plane's pages. Left out are serde's
/// `Unexpected` values (`string "…"`, `integer `…``, `floating point `…``, `boolean `…``,
/// `character `…``) and `unknown variant `…``; field and key names (`unknown field `…``) and
/// what was expected stay.
pub fn without_values(msg: &str) -> String {
    const QUOTED: [(&str, &str); 5] = [
        ("string \"", "a string"),
        ("integer `", "an integer"),
        ("floating point `", "a number"),
        ("boolean `", "a boolean"),
        ("character `", "a character"),
    ];
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    'scan: while !rest.is_empty() {
        // A variant is written raw, backticks and all: it ends where serde's own words start.
        if let Some(after) = rest.strip_prefix("unknown variant `")
            && let Some(end) = after
                .rfind("`, expected ")
                .or_else(|| after.rfind("`, there are no variants"))
        {
            out.push_str("an unknown variant");
            rest = &after[end + 1..];
            continue 'scan;
        }
        for (open, shown) in QUOTED {
            if let Some(after) = rest.strip_prefix(open) {
                let close = open.as_bytes()[open.len() - 1];
                // `"…"` is Rust's Debug of the string: a `\` escapes the next character.
                let mut escaped = false;
                let end = after.bytes().position(|b| {
                    let end = b == close && !escaped;
                    escaped = close == b'"' && b == b'\\' && !escaped;
                    end
                });
                if let Some(end) = end {
                    out.push_str(shown);
                    rest = &after[end + 1..];
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// A TOML error of a config `text` as shown: `line L, column C: ` (from its span, when it has
/// one) and [`without_values`] of its message. Never the line itself, which the TOML crate's
/// own `Display` repeats, secrets and all. (An unterminated string's column is just past the
/// value: it tells the value's length, not its content.)
pub fn shown_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = without_values(e.message().trim_end());
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return message;
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form serde's messages quote a value in, as serde and TOML really write them
    /// (types shaped like the alerting config's: Twilio's tagged `auth` and `sender_kind`),
    /// and the names kept.
    #[test]
    fn messages_keep_names_and_lose_values() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(dead_code)]
        enum TwilioAuth {
            AuthToken { token: String },
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum SenderKind {
            LongCode,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Conf {
            auth: TwilioAuth,
            n: Option<u32>,
            on: Option<bool>,
            kind: Option<SenderKind>,
        }
        let err = |text: &str| {
            let e = toml::from_str::<Conf>(text).expect_err(text);
            shown_toml_error(text, &e)
        };
        let a = err("auth = \"tok-SECRET-1\"\n");
        assert_eq!(
            a,
            "line 1, column 8: invalid type: a string, expected internally tagged enum TwilioAuth"
        );
        let tagged = "auth = { kind = \"auth_token\", token = \"t\" }\n";
        for (bad, value, said) in [
            (
                "n = \"a \\\" SECRET-2 \\\\\"",
                "SECRET-2",
                "line 2, column 5: invalid type: a string, expected u32",
            ),
            (
                "n = -7000123",
                "7000123",
                "line 2, column 5: invalid value: an integer, expected u32",
            ),
            (
                "n = 1.25",
                "1.25",
                "line 2, column 5: invalid type: a number, expected u32",
            ),
            (
                "on = \"SECRET-3\"",
                "SECRET-3",
                "line 2, column 6: invalid type: a string, expected a boolean",
            ),
            (
                "n = true",
                "true",
                "line 2, column 5: invalid type: a boolean, expected u32",
            ),
            (
                "kind = \"SECRET-4\"",
                "SECRET-4",
                "line 2, column 8: an unknown variant, expected `long_code`",
            ),
            (
                "kind = \"ab`, SECRET-5`, expected x\"",
                "SECRET-5",
                "line 2, column 8: an unknown variant, expected `long_code`",
            ),
        ] {
            let e = err(&format!("{tagged}{bad}\n"));
            assert!(!e.contains(value), "{bad}: {e}");
            assert_eq!(e, said, "{bad}");
        }
        // Names stay: the unknown field, and what was expected.
        let e = err(&format!("{tagged}tokn = \"SECRET-6\"\n"));
        assert!(
            e.starts_with("line 2, column 1: unknown field `tokn`, expected one of `auth`")
                && !e.contains("SECRET-6"),
            "{e}"
        );
        // A parse error of the text itself never repeats its line.
        let e = err("auth = \"SECRET-7\n");
        assert_eq!(e, "line 1, column 17: invalid basic string, expected `\"`");
        // Without a span (typed from a table already parsed): the message alone. A quote
        // never closed is left as it was (nothing serde writes), and other text passes through.
        let text = format!("{tagged}on = \"SECRET-8\"\n");
        let table: toml::Table = text.parse().expect("parses");
        let e = table.try_into::<Conf>().expect_err("typed");
        assert_eq!(e.span(), None);
        assert_eq!(
            shown_toml_error(&text, &e),
            "invalid type: a string, expected a boolean"
        );
        assert_eq!(without_values("string \"open"), "string \"open");
        assert_eq!(
            without_values("ünïcode `names` stay"),
            "ünïcode `names` stay"
        );
        let c = char::from_u32(0x263A).expect("char");
        assert_eq!(without_values(&format!("character `{c}`")), "a character");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(serde_json::to_string(&s).expect("json"), "\"[redacted]\"");
        assert_eq!(s.expose(), "hunter2");
        let back: Secret = serde_json::from_str("\"hunter2\"").expect("from a plain string");
        assert_eq!(back, s);
        assert!(s.is("hunter2"));
        for other in ["hunter3", "hunter", "hunter22", ""] {
            assert!(!s.is(other), "{other}");
        }
    }
}
