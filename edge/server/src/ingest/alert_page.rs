//! The one-click link page's HTTP shell: `GET /a/{token}` and `POST /a/{token}`, served by every
//! shard's listener. What the page says is `alerts::page` (pure); this file verifies the
//! token, carries out the action through the alerts runner and answers with the page's headers
//! (never cached, never framed, no referrer: the URL is the credential).

use sentientiq_alerts::chain::State;
use sentientiq_alerts::link::Action;

use super::http::Response;
use crate::alerts::page::{form_action, refused, render};
use crate::node::Node;

fn html(status: u16, body: String) -> Response {
    let mut r = Response::new(status);
    r.headers
        .push(("content-type", "text/html; charset=utf-8".into()));
    r.body = body.into_bytes();
    r.header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY")
        .header("x-content-type-options", "nosniff")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        )
}

/// A contact's display name (its id when it has none, or is no longer configured).
fn contact_name(node: &Node, tenant: &str, id: &str) -> String {
    let tenants = node.tenants.load();
    sentientiq_alerts::ids::ContactId::new(id)
        .ok()
        .and_then(|cid| {
            tenants
                .list
                .iter()
                .find(|t| &*t.id == tenant)
                .and_then(|t| t.alerts.as_ref())
                .and_then(|a| a.roster.get(&cid))
                .map(|c| c.name.clone())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// `GET /a/{token}` (`form` None) or `POST` (`form` the body).
pub async fn serve(node: &Node, token: &str, form: Option<&[u8]>) -> Response {
    let Some(h) = node.alerts.as_deref() else {
        return html(404, refused());
    };
    let now_s = crate::clock::now_ms() / 1000;
    let action = match form {
        None => Action::View,
        Some(b) => match form_action(b) {
            Some(a) => a,
            None => return html(400, refused()),
        },
    };
    let claims = match h.verify(token, now_s, action) {
        Ok(c) => c,
        Err(_) => return html(403, refused()),
    };
    let Some(chain) = h.views.get(&claims.alert) else {
        return html(404, refused());
    };
    let tenant = chain.detection.tenant.clone();
    let names = |id: &str| contact_name(node, &tenant, id);
    let name = names(claims.contact.as_str());
    let notice = match action {
        Action::View => None,
        Action::Intervene => Some(
            h.intervene(&chain, claims.contact.as_str(), &name, node.nshards)
                .await,
        ),
        Action::Acknowledge | Action::FalseAlarm => {
            let alert = claims.alert.clone();
            let by = claims.contact.to_string();
            let ack = action == Action::Acknowledge;
            h.command(match ack {
                true => sentientiq_alerts::shell::Command::Acknowledge { alert, by },
                false => sentientiq_alerts::shell::Command::FalseAlarm { alert, by },
            });
            // The runner stores the new state before anything else happens: wait for it.
            for _ in 0..150 {
                let c = h.views.get(&claims.alert);
                let done = c.as_ref().is_some_and(|c| {
                    matches!(
                        (&c.state, ack),
                        (State::Acknowledged { .. } | State::FalseAlarm { .. }, true)
                            | (State::FalseAlarm { .. }, false)
                    )
                });
                if done {
                    break;
                }
                glommio::timer::sleep(std::time::Duration::from_millis(20)).await;
            }
            Some(match ack {
                true => "Acknowledged: the chain stopped, and everyone paged was told (PagerDuty included).".to_string(),
                false => "Labelled a false alarm: the chain stopped, and the label counts in the product's false-positive figures.".to_string(),
            })
        }
    };
    let chain = h.views.get(&claims.alert).unwrap_or(chain);
    html(200, render(&chain, &claims, &names, notice.as_deref()))
}
