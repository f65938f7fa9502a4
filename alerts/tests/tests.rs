//! Integration tests, one binary (the crate's dev-dependency on itself turns on `stubs`):
//! - `golden`: the exact bytes each vendor request produces for a fixed alert.
//! - `stubs`: the stand-ins refuse what the vendors refuse.
//! - `shell`: the runner and its lanes against the stand-ins (retries, Retry-After, Twilio
//!   lookups, broken hooks, a hanging vendor, acknowledgements, crash recovery).

mod golden;
mod shell;
mod stubs;

use sentientiq_alerts::Detection;
use sentientiq_alerts::ids::AlertId;
use sentientiq_alerts::link::{LinkKey, Links};

pub fn detection() -> Detection {
    Detection {
        tenant: "acme".into(),
        account: "Globex Corp".into(),
        value_cents: 12_000_000,
        user: Some("hank@globex.example".into()),
        session: "s-42".into(),
        emotion: "rage".into(),
        confidence: 0.92,
        section: Some("checkout".into()),
        page: Some("/billing/pay".into()),
        evidence: vec![
            ("clicks".into(), "7 in 2.1 s on one button".into()),
            ("jerk".into(), "41,000 px/s³".into()),
        ],
        at_ms: 1_700_000_000_000,
        rule: None,
    }
}

pub fn links() -> Links {
    Links::new(
        LinkKey::new(&[7u8; 32]).expect("key"),
        "https://alerts.example.com",
    )
}

pub fn alert_id(s: &str) -> AlertId {
    AlertId::new(s).expect("alert id")
}

/// Architecture invariant: the decision modules do no I/O and read no clock (the shell does;
/// `clippy.toml` bans clock reads, this bans the I/O crates and modules by name).
#[test]
fn pure_modules_do_no_io() {
    let pure = [
        "book.rs",
        "chain.rs",
        "channels/mod.rs",
        "channels/pagerduty.rs",
        "channels/slack.rs",
        "channels/twilio.rs",
        "channels/webhook.rs",
        "ids.rs",
        "limits.rs",
        "link.rs",
        "message.rs",
        "time.rs",
    ];
    let banned = [
        "tokio::",
        "hyper::",
        "hyper_util",
        "std::net",
        "std::fs",
        "std::thread",
        "std::env",
        "Instant::",
        "SystemTime::now",
        "crate::shell",
        "crate::stubs",
    ];
    for f in pure {
        let path = format!("{}/src/{f}", env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(&path).expect("source");
        for b in banned {
            assert!(!src.contains(b), "{f} mentions {b}: pure modules do no I/O");
        }
    }
}

/// `alerts.example.toml` parses, validates, and means what its comments claim.
#[test]
fn example_config_parses_and_matches_its_stated_defaults() {
    use sentientiq_alerts::channels::{Address, ChannelKind, Severity};
    use sentientiq_alerts::config::TenantAlerts;
    let text = include_str!("../alerts.example.toml");
    let cfg: TenantAlerts = toml::from_str(text).expect("parses");
    assert_eq!(cfg.providers.slack_api_base, "https://slack.com");
    assert_eq!(cfg.providers.pagerduty_base, "https://events.pagerduty.com");
    assert_eq!(
        cfg.providers.twilio.as_ref().expect("twilio").base,
        "https://api.twilio.com"
    );
    let v = cfg.validate().expect("validates");
    let chain = &v.chains["enterprise"];
    assert_eq!(
        chain.steps.iter().map(|s| s.wait_ms).collect::<Vec<_>>(),
        vec![60_000, 120_000, 60_000]
    );
    assert_eq!(chain.retry, Default::default());
    assert_eq!(
        (
            chain.retry.max_attempts,
            chain.retry.base_ms,
            chain.retry.max_backoff_ms
        ),
        (10, 1000, 60_000)
    );
    assert_eq!(chain.group_window_ms, 1_800_000);
    let vp = v
        .roster
        .get(&sentientiq_alerts::ContactId::new("vp-cs").expect("id"))
        .expect("vp");
    assert!(matches!(
        vp.address(ChannelKind::Pagerduty),
        Some(Address::Pagerduty {
            severity: Severity::Critical,
            ..
        })
    ));
    // Secrets never come back out.
    let again = toml::to_string(&toml::from_str::<TenantAlerts>(text).expect("parses"))
        .expect("serializes");
    assert!(
        !again.contains("xoxb-0000") && !again.contains("whsec_") && !again.contains("R0123456789")
    );
    assert!(again.contains("[redacted]"));
}

/// Every vendor base URL (where the bot token, the routing key and Twilio's Basic auth are
/// sent) takes the one check of a base URL; an error repeats it without credentials.
#[test]
fn vendor_base_urls_are_checked_and_shown_without_credentials() {
    use sentientiq_alerts::chain::ConfigError;
    use sentientiq_alerts::config::TenantAlerts;
    let text = include_str!("../alerts.example.toml");
    let with = |key: &str, url: &str| {
        let mut cfg: TenantAlerts = toml::from_str(text).expect("parses");
        let p = &mut cfg.providers;
        match key {
            "providers.slack_api_base" => p.slack_api_base = url.into(),
            "providers.pagerduty_base" => p.pagerduty_base = url.into(),
            "providers.twilio.base" => p.twilio.as_mut().expect("twilio").base = url.into(),
            _ => unreachable!("{key}"),
        }
        cfg.validate().map(|_| ())
    };
    for key in [
        "providers.slack_api_base",
        "providers.pagerduty_base",
        "providers.twilio.base",
    ] {
        with(key, "http://127.0.0.1:9/").expect(key);
        with(key, "https://proxy.example/slack").expect(key);
        for (url, shown, reason) in [
            ("", "", sentientiq_url::UrlError::Scheme),
            ("ftp://h", "ftp://h", sentientiq_url::UrlError::Scheme),
            (
                "https://h/?x=1",
                "https://h/?x=1",
                sentientiq_url::UrlError::QueryOrFragment,
            ),
            (
                "https://u:hunter2@proxy.example",
                "https://<credentials>@proxy.example",
                sentientiq_url::UrlError::Credentials,
            ),
        ] {
            let e = with(key, url).expect_err(url);
            let want = ConfigError::BaseUrl(sentientiq_url::Refused {
                key,
                shown: shown.into(),
                reason,
            });
            assert_eq!(e, want, "{key} = {url:?}");
            assert!(
                e.to_string().starts_with(&format!("{key} `{shown}` ")),
                "{e}"
            );
            assert!(!format!("{e} {e:?}").contains("hunter2"));
        }
    }
}
