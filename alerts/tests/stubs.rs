//! The stand-ins are strict: what a vendor refuses, they refuse, with the vendor's answer,
//! and record as a violation.

use sentientiq_alerts::channels::HttpRequest;
use sentientiq_alerts::shell::{HttpConfig, HttpSender};
use sentientiq_alerts::stubs::pagerduty::PagerDuty;
use sentientiq_alerts::stubs::slack::Slack;
use sentientiq_alerts::stubs::twilio::Twilio;
use sentientiq_alerts::stubs::{Scripted, Stub};

fn sender() -> HttpSender {
    HttpSender::new(HttpConfig::default()).expect("client")
}

fn req(
    method: http::Method,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: &str,
) -> HttpRequest {
    HttpRequest {
        method,
        url,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

#[tokio::test]
async fn twilio_refuses_missing_auth_and_bad_numbers() {
    let stub = Stub::start(Twilio::new(SID, "tok")).await.expect("stub");
    let url = format!("{}/2010-04-01/Accounts/{SID}/Messages.json", stub.url());
    let form = (
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    );
    let r = sender()
        .execute(&req(
            http::Method::POST,
            url.clone(),
            vec![form.clone()],
            "To=%2B1415",
        ))
        .await;
    assert_eq!(r.expect("answer").status, 401);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:tok"))
    );
    let auth = ("authorization", basic);
    let r = sender()
        .execute(&req(
            http::Method::POST,
            url.clone(),
            vec![auth.clone(), form.clone()],
            "To=5551234&From=%2B14155552345&Body=x",
        ))
        .await
        .expect("answer");
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("21211"));
    let r = sender()
        .execute(&req(
            http::Method::POST,
            url.clone(),
            vec![auth.clone(), form.clone()],
            "To=%2B14155550100&From=%2B14155552345",
        ))
        .await
        .expect("answer");
    assert!(
        String::from_utf8_lossy(&r.body).contains("21602"),
        "Body or ContentSid required"
    );
    let long = format!(
        "To=%2B14155550100&From=%2B14155552345&Body={}",
        "a".repeat(1601)
    );
    let r = sender()
        .execute(&req(http::Method::POST, url, vec![auth, form], &long))
        .await
        .expect("answer");
    assert!(String::from_utf8_lossy(&r.body).contains("21617"));
    assert_eq!(stub.violations().len(), 4);
    assert!(stub.vendor(|t| t.messages.is_empty()));
}

#[tokio::test]
async fn slack_post_message_answers_ok_false_for_a_wrong_token() {
    let stub = Stub::start(Slack::with_token("xoxb-right"))
        .await
        .expect("stub");
    let url = format!("{}/api/chat.postMessage", stub.url());
    let h = vec![
        ("authorization", "Bearer xoxb-wrong".to_owned()),
        ("content-type", "application/json; charset=utf-8".to_owned()),
    ];
    let r = sender()
        .execute(&req(
            http::Method::POST,
            url,
            h,
            r#"{"channel":"C1","text":"hi"}"#,
        ))
        .await
        .expect("answer");
    assert_eq!(r.status, 200, "Slack answers 200 even for errors");
    assert!(String::from_utf8_lossy(&r.body).contains(r#""ok":false"#));
    assert_eq!(
        stub.violations(),
        vec!["chat.postMessage: wrong token".to_owned()]
    );
}

#[tokio::test]
async fn pagerduty_refuses_a_short_routing_key_and_scripts_apply_in_order() {
    let stub = Stub::start(PagerDuty::default()).await.expect("stub");
    let url = format!("{}/v2/enqueue", stub.url());
    let h = vec![("content-type", "application/json".to_owned())];
    let body = r#"{"routing_key":"short","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}"#;
    let r = sender()
        .execute(&req(http::Method::POST, url.clone(), h.clone(), body))
        .await
        .expect("answer");
    assert_eq!(r.status, 400);
    stub.script(1, Scripted::retry_after(429, "2"));
    let ok = body.replace("short", &"k".repeat(32));
    let r = sender()
        .execute(&req(http::Method::POST, url.clone(), h.clone(), &ok))
        .await
        .expect("answer");
    assert_eq!(
        (
            r.status,
            r.headers
                .iter()
                .any(|(n, v)| n == "retry-after" && v == "2")
        ),
        (429, true)
    );
    let r = sender()
        .execute(&req(http::Method::POST, url, h, &ok))
        .await
        .expect("answer");
    assert_eq!(r.status, 202);
    assert_eq!(stub.requests().len(), 3);
    assert!(
        stub.requests()
            .windows(2)
            .all(|w| w[0].request.at_ms <= w[1].request.at_ms)
    );
}
