//! The setup wizard's handlers (`/setup…`, the admin's only; a tenant's session gets 404).
//!
//! Every step that changes something calls the same gRPC service implementation `siqctl`
//! does, in-process ([`crate::service::Services`] through the `TenantAdmin` trait):
//! `CreateTenant`, `IssueKey`, `SetAlerts`, `GetTenant`. Their validation is the one that
//! judges; a refusal (`tonic::Status`) is shown on the page with what was typed kept. Every
//! POST checks `Origin` and the session's CSRF field, as the rest of the dashboard does. An
//! issued key (and a generated webhook secret) is in the one answer that shows it, never in a
//! URL, a log or the store.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sentientiq_proto::grpc::tenant_admin_server::TenantAdmin;
use sentientiq_proto::grpc::{SetAlertsRequest, Tenant, TenantId};
use serde::Deserialize;
use tonic::{Code, Request, Status};

use super::pages::{self, AlertsForm, FirstSession, TenantForm};
use super::{Dashboard, Posted, Signed, blocking, html, json_answer, not_found, redirect};
use super::{session::Who, wizard};
use crate::now_minute;

/// What the page says of a refusal: the service's own message, introduced for a person.
pub fn status_text(s: &Status) -> String {
    let m = s.message();
    match s.code() {
        Code::InvalidArgument => format!("That was not accepted: {m}."),
        Code::AlreadyExists => format!("{m}: choose another."),
        Code::NotFound => format!("{m}."),
        Code::FailedPrecondition => format!("Not possible now: {m}."),
        Code::ResourceExhausted => format!("Limit reached: {m}."),
        _ => format!("The plane could not do it ({m}); try again."),
    }
}

fn status_code(s: &Status) -> StatusCode {
    match s.code() {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl Dashboard {
    /// The admin's session: sign in first; a tenant's session is answered 404 (the wizard and
    /// the Regions page are not pages of theirs).
    pub(super) async fn admin(&self, h: &HeaderMap) -> Result<Signed, Response> {
        match self.signed(h).await? {
            None => Err(redirect("/login")),
            Some(s) if s.s.who == Who::Admin => Ok(s),
            Some(_) => Err(not_found()),
        }
    }

    /// The admin's session and the stored tenant (`GetTenant`, as `siqctl tenant get`).
    async fn admin_tenant(
        &self,
        h: &HeaderMap,
        tenant: &str,
    ) -> Result<(Signed, Tenant), Response> {
        let s = self.admin(h).await?;
        self.stored_tenant(s, tenant).await
    }

    /// A POST's checks ([`Self::admin_post`]) and the stored tenant.
    async fn admin_tenant_post(
        &self,
        h: &HeaderMap,
        csrf: &str,
        tenant: &str,
    ) -> Result<(Signed, Tenant), Response> {
        let s = self.admin_post(h, csrf).await?;
        self.stored_tenant(s, tenant).await
    }

    async fn stored_tenant(&self, s: Signed, tenant: &str) -> Result<(Signed, Tenant), Response> {
        let got =
            TenantAdmin::get_tenant(&self.services, Request::new(TenantId { id: tenant.into() }))
                .await;
        match got {
            Ok(t) => Ok((s, t.into_inner())),
            Err(e) if e.code() == Code::NotFound => Err(not_found()),
            Err(e) => Err(html(
                status_code(&e),
                pages::message("Unavailable", &status_text(&e)),
            )),
        }
    }

    /// A POST's checks: the admin's session, same origin, its CSRF field.
    pub(super) async fn admin_post(&self, h: &HeaderMap, csrf: &str) -> Result<Signed, Response> {
        let s = self.admin(h).await?;
        match s.post_refusal(h, csrf) {
            Some(r) => Err(r),
            None => Ok(s),
        }
    }
}

pub(super) async fn start(State(d): State<Dashboard>, h: HeaderMap) -> Response {
    match d.admin(&h).await {
        Ok(s) => html(
            StatusCode::OK,
            pages::setup_tenant(&s.s.csrf, &TenantForm::default(), None),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CreateForm {
    csrf: String,
    id: String,
    name: String,
    origins: String,
}

/// Step 1: `CreateTenant` with the id, name and origins typed.
pub(super) async fn create(
    State(d): State<Dashboard>,
    h: HeaderMap,
    Posted(f): Posted<CreateForm>,
) -> Response {
    let s = match d.admin_post(&h, &f.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let t = Tenant {
        id: f.id.trim().to_string(),
        name: f.name.trim().to_string(),
        allowed_origins: wizard::origins(&f.origins),
        ..Tenant::default()
    };
    match TenantAdmin::create_tenant(&d.services, Request::new(t)).await {
        Ok(t) => {
            let t = t.into_inner();
            tracing::info!(tenant = %t.id, "dashboard: tenant created in the setup wizard");
            redirect(&format!("/setup/{}/key", t.id))
        }
        Err(e) => {
            let form = TenantForm {
                id: f.id,
                name: f.name,
                origins: f.origins,
            };
            html(
                status_code(&e),
                pages::setup_tenant(&s.s.csrf, &form, Some(&status_text(&e))),
            )
        }
    }
}

pub(super) async fn key_page(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
) -> Response {
    match d.admin_tenant(&h, &tenant).await {
        Ok((s, t)) => html(StatusCode::OK, pages::setup_key(&s.s.csrf, &t, "", None)),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct KeyForm {
    csrf: String,
    edges: String,
}

/// Step 2: `IssueKey`; the answer shows the key once, in the script tag (step 3).
pub(super) async fn issue(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
    Posted(f): Posted<KeyForm>,
) -> Response {
    let (s, t) = match d.admin_tenant_post(&h, &f.csrf, &tenant).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // The edges are checked before a key is issued, so a typo costs no key.
    let edges = match wizard::edges(&f.edges) {
        Ok(e) => e,
        Err(m) => {
            return html(
                StatusCode::BAD_REQUEST,
                pages::setup_key(&s.s.csrf, &t, &f.edges, Some(&m)),
            );
        }
    };
    match TenantAdmin::issue_key(&d.services, Request::new(TenantId { id: t.id.clone() })).await {
        Ok(k) => {
            let k = k.into_inner();
            tracing::info!(tenant = %t.id, key_hash = %k.key_hash, "dashboard: key issued in the setup wizard");
            html(
                StatusCode::OK,
                pages::setup_tag(&s.s.csrf, &t.id, &k.key, &edges),
            )
        }
        Err(e) => html(
            status_code(&e),
            pages::setup_key(&s.s.csrf, &t, &f.edges, Some(&status_text(&e))),
        ),
    }
}

pub(super) async fn alerts_page(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
) -> Response {
    match d.admin_tenant(&h, &tenant).await {
        Ok((s, t)) => html(
            StatusCode::OK,
            pages::setup_alerts(&s.s.csrf, &t.id, &AlertsForm::default(), None, None),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AlertsPost {
    csrf: String,
    contact_id: String,
    name: String,
    kind: String,
    url: String,
    secret: String,
    chain: String,
    toml: String,
}

/// Step 4: `SetAlerts` with the advanced TOML if given, else the simple form's (a webhook
/// without a secret gets a generated one, shown once).
pub(super) async fn set_alerts(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
    Posted(f): Posted<AlertsPost>,
) -> Response {
    let (s, t) = match d.admin_tenant_post(&h, &f.csrf, &tenant).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let form = AlertsForm {
        contact_id: f.contact_id,
        name: f.name,
        kind: f.kind,
        url: f.url,
        secret: f.secret,
        chain: f.chain,
        toml: f.toml,
    };
    let refuse = |status: StatusCode, m: &str| {
        html(
            status,
            pages::setup_alerts(&s.s.csrf, &t.id, &form, Some(m), None),
        )
    };
    let mut generated = None;
    let toml = if !form.toml.trim().is_empty() {
        form.toml.clone()
    } else {
        let mut simple = wizard::SimpleAlerts {
            contact_id: form.contact_id.clone(),
            name: form.name.clone(),
            kind: form.kind.clone(),
            url: form.url.clone(),
            secret: form.secret.clone(),
            chain: if form.chain.trim().is_empty() {
                "oncall".into()
            } else {
                form.chain.clone()
            },
        };
        if simple.kind == "webhook" && simple.secret.trim().is_empty() {
            match wizard::webhook_secret() {
                Ok(sec) => {
                    simple.secret = sec.clone();
                    generated = Some(sec);
                }
                Err(_) => {
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "No randomness for a secret; try again.",
                    );
                }
            }
        }
        match wizard::simple_toml(&simple) {
            Ok(t) => t,
            Err(m) => return refuse(StatusCode::BAD_REQUEST, &m),
        }
    };
    let req = SetAlertsRequest {
        tenant_id: t.id.clone(),
        toml,
    };
    match TenantAdmin::set_alerts(&d.services, Request::new(req)).await {
        Ok(c) => {
            let c = c.into_inner();
            tracing::info!(tenant = %t.id, "dashboard: alerting config set in the setup wizard");
            html(
                StatusCode::OK,
                pages::setup_alerts(
                    &s.s.csrf,
                    &t.id,
                    &form,
                    None,
                    Some((&c.toml_redacted, generated.as_deref())),
                ),
            )
        }
        Err(e) => refuse(status_code(&e), &status_text(&e)),
    }
}

/// The first session among the windows of the last [`wizard::FIRST_SESSION_MINUTES`].
async fn first_session(d: &Dashboard, tenant: &str) -> Result<Option<FirstSession>, Response> {
    let to = now_minute() + 1;
    let from = to - wizard::FIRST_SESSION_MINUTES;
    let (store, t) = (d.store.clone(), tenant.to_string());
    let windows = blocking(move || store.aggregates(&t, from, to)).await?;
    Ok(
        wizard::first_session(&windows).map(|(region, minute, sessions)| FirstSession {
            region,
            minute,
            sessions,
        }),
    )
}

pub(super) async fn first_page(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
) -> Response {
    let (s, t) = match d.admin_tenant(&h, &tenant).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match first_session(&d, &t.id).await {
        Ok(first) => html(
            StatusCode::OK,
            pages::setup_first(&s.s.csrf, &t.id, first.as_ref()),
        ),
        Err(r) => r,
    }
}

/// What the last step polls: `{arrived, region, minute, at, sessions, text}`.
pub(super) async fn first_json(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
) -> Response {
    let t = match d.admin_tenant(&h, &tenant).await {
        Ok((_, t)) => t,
        Err(r) => return r,
    };
    match first_session(&d, &t.id).await {
        Ok(first) => json_answer(StatusCode::OK, pages::first_json(first.as_ref())),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences_with_the_services_words() {
        let s = Status::invalid_argument("tenant `Bad Id`: invalid id");
        assert_eq!(
            status_text(&s),
            "That was not accepted: tenant `Bad Id`: invalid id."
        );
        assert_eq!(status_code(&s), StatusCode::BAD_REQUEST);
        let s = Status::already_exists("tenant acme already exists");
        assert_eq!(
            status_text(&s),
            "tenant acme already exists: choose another."
        );
        assert_eq!(status_code(&s), StatusCode::CONFLICT);
        assert_eq!(
            status_code(&Status::internal("x")),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
