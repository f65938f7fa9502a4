//! The setup wizard's pure parts: its forms read into what the services take, the script tag
//! a buyer copies, the alerting TOML of the simple form, and the first session among the
//! windows edges reported. The handlers (in [`super::setup`]) call the same gRPC service
//! implementations `siqctl` calls, so everything here is only shaping, never validation that
//! could disagree with theirs.

use std::fmt::Write;

use sentientiq_proto::grpc::WindowAggregate;

/// The wizard's steps, in order: (path segment, title).
pub const STEPS: [(&str, &str); 5] = [
    ("", "Create the tenant"),
    ("key", "Issue a key"),
    ("tag", "Copy the script tag"),
    ("alerts", "Contacts and escalation"),
    ("first", "First session"),
];

/// How far back the wizard's last step looks for sessions, minutes.
pub const FIRST_SESSION_MINUTES: i64 = 10;

/// Most edges a tag lists.
pub const MAX_EDGES: usize = 8;

/// Allowed origins as typed: one per line or separated by commas or spaces.
pub fn origins(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Edge base URLs as typed (commas, spaces or lines between them), each `http(s)://host[:port]`
/// with an optional path; a trailing `/` is dropped. Only URL characters that need no
/// escaping in an HTML attribute are taken.
pub fn edges(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for raw in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let u = raw.trim_end_matches('/');
        let rest = u
            .strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"));
        let ok_chars = u
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/-_[]%~".contains(&b));
        match rest {
            Some(host) if !host.is_empty() && !host.starts_with('/') && ok_chars => {
                out.push(u.to_string())
            }
            _ => {
                return Err(format!(
                    "`{raw}` is not an edge address: write each as https://host or \
                     https://host:port, separated by commas"
                ));
            }
        }
    }
    if out.len() > MAX_EDGES {
        return Err(format!("at most {MAX_EDGES} edges, not {}", out.len()));
    }
    Ok(out)
}

/// The one line a buyer pastes into their pages: the loader from the first edge, the key, and
/// every edge for the SDK to pick the nearest from (`sdk/js/README.md`). Without edges, the
/// placeholder `https://EDGE` stands for the edge's address.
pub fn script_tag(key: &str, edges: &[String]) -> String {
    match edges.first() {
        None => {
            format!("<script src=\"https://EDGE/v1/sdk.js\" data-key=\"{key}\" async></script>")
        }
        Some(first) => format!(
            "<script src=\"{first}/v1/sdk.js\" data-key=\"{key}\" data-edges=\"{}\" async></script>",
            edges.join(",")
        ),
    }
}

/// The simple form of the alerting step: one contact, one chain of one step paging it.
#[derive(Debug, Clone, Default)]
pub struct SimpleAlerts {
    pub contact_id: String,
    pub name: String,
    /// `webhook` (Standard Webhooks, signed) or `slack` (a Slack incoming webhook).
    pub kind: String,
    pub url: String,
    /// The webhook's signing secret (`whsec_…`); for webhooks only.
    pub secret: String,
    pub chain: String,
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The alerting TOML (`siqctl alerts set`'s format, `alerts/alerts.example.toml`) of the simple
/// form. Unknown kinds are refused here (the form offers two); everything else is the
/// service's to judge.
pub fn simple_toml(a: &SimpleAlerts) -> Result<String, String> {
    let address = match a.kind.as_str() {
        "webhook" => format!(
            "{{ kind = \"webhook\", url = {}, secret = {} }}",
            toml_str(a.url.trim()),
            toml_str(a.secret.trim())
        ),
        "slack" => format!(
            "{{ kind = \"slack_webhook\", url = {} }}",
            toml_str(a.url.trim())
        ),
        k => return Err(format!("unknown kind `{k}`: webhook or slack")),
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "[[contacts]]\nid = {}\nname = {}\naddresses = [{address}]\n\n[chains.{}]\nsteps = [{{ contacts = [{}] }}]\n",
        toml_str(a.contact_id.trim()),
        toml_str(a.name.trim()),
        toml_str(a.chain.trim()),
        toml_str(a.contact_id.trim()),
    );
    Ok(s)
}

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                o.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// A new Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64.
pub fn webhook_secret() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(format!("whsec_{}", base64(&b)))
}

/// The first session among the windows: the earliest minute with a session, from the region
/// with the most sessions in it. (region, minute, sessions in that minute.)
pub fn first_session(windows: &[WindowAggregate]) -> Option<(String, i64, u64)> {
    let sessions = |w: &WindowAggregate| w.active_sessions.max(w.new_sessions);
    let minute = windows
        .iter()
        .filter(|w| sessions(w) > 0)
        .map(|w| w.minute)
        .min()?;
    let mut by_region: std::collections::BTreeMap<&str, u64> = Default::default();
    for w in windows.iter().filter(|w| w.minute == minute) {
        *by_region.entry(w.region.as_str()).or_default() += sessions(w);
    }
    let (region, n) = by_region
        .into_iter()
        .max_by_key(|(r, n)| (*n, std::cmp::Reverse(*r)))?;
    Some((region.to_string(), minute, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_edges_are_read_as_typed() {
        assert_eq!(
            origins(" https://a.example,\nhttps://b.example  *"),
            ["https://a.example", "https://b.example", "*"]
        );
        assert_eq!(
            edges("https://use1.edge.example/, http://127.0.0.1:7411").expect("ok"),
            ["https://use1.edge.example", "http://127.0.0.1:7411"]
        );
        assert_eq!(edges("  ").expect("none"), Vec::<String>::new());
        for bad in [
            "use1.edge.example",
            "https://",
            "https://a\"onload=x",
            "ftp://x",
            "https:///x",
        ] {
            assert!(edges(bad).is_err(), "{bad}");
        }
        for n in [MAX_EDGES - 1, MAX_EDGES] {
            let list = (0..n)
                .map(|i| format!("https://e{i}.example "))
                .collect::<String>();
            assert_eq!(edges(&list).expect("within the cap").len(), n);
        }
        let over = (0..=MAX_EDGES)
            .map(|i| format!("https://e{i}.example "))
            .collect::<String>();
        assert_eq!(
            edges(&over),
            Err(format!("at most {MAX_EDGES} edges, not {}", MAX_EDGES + 1))
        );
    }

    #[test]
    fn the_tag_names_the_loader_the_key_and_the_edges() {
        let e = vec![
            "https://a.example".to_string(),
            "https://b.example:8443".into(),
        ];
        assert_eq!(
            script_tag("siq_pk_1", &e),
            "<script src=\"https://a.example/v1/sdk.js\" data-key=\"siq_pk_1\" \
             data-edges=\"https://a.example,https://b.example:8443\" async></script>"
        );
        assert!(script_tag("siq_pk_1", &[]).contains("https://EDGE/v1/sdk.js"));
    }

    #[test]
    fn the_simple_form_makes_a_contact_and_a_one_step_chain() {
        let a = SimpleAlerts {
            contact_id: "csm".into(),
            name: "Ana \"CSM\"".into(),
            kind: "slack".into(),
            url: "https://hooks.slack.com/services/T/B/X".into(),
            chain: "oncall".into(),
            ..SimpleAlerts::default()
        };
        let t = simple_toml(&a).expect("toml");
        let v: toml::Value = toml::from_str(&t).expect("parses");
        assert_eq!(v["contacts"][0]["name"].as_str(), Some("Ana \"CSM\""));
        assert_eq!(
            v["contacts"][0]["addresses"][0]["kind"].as_str(),
            Some("slack_webhook")
        );
        assert_eq!(
            v["chains"]["oncall"]["steps"][0]["contacts"][0].as_str(),
            Some("csm")
        );
        let w = SimpleAlerts {
            kind: "webhook".into(),
            secret: "whsec_x".into(),
            ..a.clone()
        };
        let v: toml::Value = toml::from_str(&simple_toml(&w).expect("toml")).expect("parses");
        assert_eq!(
            v["contacts"][0]["addresses"][0]["secret"].as_str(),
            Some("whsec_x")
        );
        assert!(
            simple_toml(&SimpleAlerts {
                kind: "fax".into(),
                ..a
            })
            .is_err()
        );
        assert_eq!(toml_str("a\u{1}\\"), "\"a\\u0001\\\\\"");
    }

    #[test]
    fn base64_is_standard_and_secrets_are_valid() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        let s = webhook_secret().expect("random");
        assert!(s.starts_with("whsec_") && s.len() == 6 + 44);
        assert_ne!(s, webhook_secret().expect("random"));
    }

    #[test]
    fn the_first_session_is_the_earliest_minute_with_one() {
        let w = |minute: i64, region: &str, active: u64, new: u64| WindowAggregate {
            minute,
            region: region.into(),
            active_sessions: active,
            new_sessions: new,
            ..WindowAggregate::default()
        };
        assert_eq!(first_session(&[]), None);
        assert_eq!(first_session(&[w(5, "us-east-1", 0, 0)]), None);
        let got = first_session(&[
            w(9, "eu-west-1", 5, 5),
            w(7, "us-east-1", 0, 1),
            w(7, "eu-west-1", 2, 0),
            w(6, "us-west-2", 0, 0),
        ]);
        assert_eq!(got, Some(("eu-west-1".into(), 7, 2)));
    }
}
