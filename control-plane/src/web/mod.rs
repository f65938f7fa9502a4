//! The control plane's web dashboard (issue 18), served on `http_listen` beside `/metrics`.
//!
//! - **Login**: a tenant's dashboard token (`siqctl dashboard token TENANT`: random, shown
//!   once, only its SHA-256 stored, [`crate::store::dashboard`]) or the admin token (every
//!   tenant). A login sets an `HttpOnly`, `SameSite=Strict` cookie naming a server-side session
//!   ([`session`]) that lives `dashboard_session_s`; a tenant's session ends when its token is
//!   revoked or replaced (checked at every request). Failed logins are limited per address
//!   ([`limit`]). Tokens are never logged.
//! - **Scoping**: a tenant's session sees only its own pages; another tenant's URL answers 404,
//!   as an unknown tenant does (existence is not disclosed).
//! - **CSRF**: every state-changing POST of the pages checks `Origin` (or `Referer`) against
//!   `Host`, and, once signed in, the session's token in a hidden field. The operator API below
//!   takes only the admin token in an `authorization: Bearer` header (never the session
//!   cookie), which a page cannot make a browser send to another origin.
//! - **Pages** ([`pages`], pure): live (EVI chart and a server-sent feed of alerts, [`feed`]),
//!   alerts (chain state; Acknowledge / False alarm queue the command `siqctl alerts ack`
//!   does), experiments (arms with intervals), forensics, and the public failures page (only
//!   when the tenant published it); the latter two with the false-positive rate per emotion
//!   from people's labels ([`labels`]).
//! - **Regions** (the admin's): every edge's last report and problems, and a Forget button on
//!   stale rows (`POST /regions/{edge}/forget`, the session's CSRF token; a stale report only).
//! - **Setup wizard** ([`setup`], the admin's): create a tenant, issue a key, copy the script
//!   tag, set contacts and a chain, see the first session. It calls the `TenantAdmin` service
//!   implementation `siqctl` calls ([`crate::service::Services`]), in-process.
//! - **Operator API** for `siqctl dashboard` and `siqctl edges` (admin bearer token):
//!   `POST /admin/dashboard/{tenant}/token|revoke|publish?on=true|false`, and
//!   `GET /admin/regions.json` (every edge's last health report, its config cell and
//!   problems), `POST /admin/edges/{edge}/forget[?force=true]` (drops an edge's stale last report).
//!
//! Static assets (`control-plane/web/`) are compiled into the binary.

pub mod feed;
pub mod labels;
pub mod limit;
pub mod pages;
pub mod session;
pub mod setup;
pub mod wizard;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Form, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sentientiq_proto::grpc::AlertCommand;
use sentientiq_secret::Secret;
use serde::Deserialize;
use sha2::Digest;

use crate::service::Services;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::{now_minute, now_ms};
use session::{Sessions, Who};

/// The session cookie's name.
pub const COOKIE: &str = "siq_session";
/// Dashboard tokens: this prefix and 64 hex digits (256 bits from the OS generator).
pub const TOKEN_PREFIX: &str = "siq_dash_";
/// How far back the live page's chart goes, minutes.
pub const LIVE_MINUTES: i64 = 60;
/// The live feed's poll of the store.
pub const FEED_POLL: Duration = Duration::from_secs(1);
/// The feed starts with the alerts changed in the last hour.
pub const FEED_BACKLOG_MS: i64 = 60 * 60 * 1000;
/// How long a live feed waits for its client to take an event when its 64 queued are not
/// taken: a minute, four of the feed's 15 s keep-alives (a browser tab in the background still
/// reads its event streams).
pub const FEED_STALL: Duration = Duration::from_secs(4 * FEED_KEEP_ALIVE.as_secs());
/// A live feed's keep-alive comment, so proxies keep an idle feed open.
pub const FEED_KEEP_ALIVE: Duration = Duration::from_secs(15);

const CSS: &str = include_str!("../../web/dashboard.css");
const JS: &str = include_str!("../../web/dashboard.js");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the dashboard needs of the plane's config.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `Debug` shows it redacted.
    pub admin_token: Secret,
    pub session_lifetime_ms: i64,
    /// The plane's `evi_poll_ms`, `experiment_totals_ms` and rate card, for the services the
    /// wizard calls (as `serve` builds them).
    pub evi_poll_ms: u64,
    pub experiment_totals_ms: u64,
    pub millicents_per_1000_events: u64,
}

impl Settings {
    /// The dashboard's part of the plane's config.
    pub fn from_config(cfg: &crate::Config) -> Settings {
        Settings {
            admin_token: cfg.admin_token.clone(),
            session_lifetime_ms: (cfg.dashboard_session_s as i64).saturating_mul(1000),
            evi_poll_ms: cfg.evi_poll_ms,
            experiment_totals_ms: cfg.experiment_totals_ms,
            millicents_per_1000_events: cfg.millicents_per_1000_events,
        }
    }

    /// Settings with the given admin token and session lifetime, the rest defaults (tests).
    pub fn new(admin_token: &str, session_lifetime_ms: i64) -> Settings {
        Settings {
            admin_token: Secret::new(admin_token),
            session_lifetime_ms,
            evi_poll_ms: 1000,
            experiment_totals_ms: 1000,
            millicents_per_1000_events: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dashboard {
    store: Arc<Store>,
    /// The gRPC services `siqctl` calls, called in-process by the setup wizard.
    services: Services,
    metrics: Arc<Metrics>,
    sessions: Arc<Mutex<Sessions>>,
    limiter: Arc<Mutex<limit::LoginLimiter>>,
    settings: Arc<Settings>,
    /// Becomes true when the server stops: live feeds end.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// 32 random bytes as hex.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

/// A new dashboard token.
pub fn generate_token() -> Result<String, getrandom::Error> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex()?))
}

/// What is stored of a token: lowercase hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// An HTML response with the dashboard's security headers.
fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(h);
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure(r.headers_mut());
    r
}

fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        pages::message("Not found", "There is no such page here."),
    )
}

fn unavailable(why: &str) -> Response {
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        pages::message("Unavailable", why),
    )
}

fn forbidden(why: &str) -> Response {
    html(StatusCode::FORBIDDEN, pages::message("Refused", why))
}

fn store_error(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(_) => not_found(),
        e => {
            tracing::error!(error = %e, "dashboard: storage");
            unavailable("The plane's store could not be read; try again.")
        }
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(store_error),
        Err(e) => {
            tracing::error!(error = %e, "dashboard: store task");
            Err(unavailable("The plane is busy; try again."))
        }
    }
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn same_origin(h: &HeaderMap) -> bool {
    session::origin_ok(
        header_str(h, header::ORIGIN),
        header_str(h, header::REFERER),
        header_str(h, header::HOST),
    )
}

/// The signed-in session of a request: (session id, session).
struct Signed {
    id: String,
    s: session::Session,
}

impl Signed {
    /// A signed-in POST's checks: the refusal unless it was sent from the dashboard's own
    /// page (same origin) with this session's CSRF token.
    fn post_refusal(&self, h: &HeaderMap, csrf: &str) -> Option<Response> {
        (!same_origin(h) || !session::csrf_ok(&self.s, csrf))
            .then(|| forbidden("This form must be sent from the dashboard's own page."))
    }
}

impl Dashboard {
    /// The dashboard over `services` (its store and metrics are the dashboard's).
    pub fn new(
        services: Services,
        settings: Settings,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Dashboard {
        Dashboard {
            store: services.store.clone(),
            metrics: services.metrics.clone(),
            services,
            settings: Arc::new(settings),
            stopping,
            sessions: Arc::new(Mutex::new(Sessions::new(0))),
            limiter: Arc::new(Mutex::new(limit::LoginLimiter::default())),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The request's live session, if any. A tenant session whose token was revoked or
    /// replaced ends here.
    async fn signed(&self, h: &HeaderMap) -> Result<Option<Signed>, Response> {
        let Some(id) = header_str(h, header::COOKIE)
            .and_then(|c| session::cookie(c, COOKIE))
            .map(str::to_string)
        else {
            return Ok(None);
        };
        let Some(s) = self.sessions().get(&id, now_ms()).cloned() else {
            return Ok(None);
        };
        if let Who::Tenant { id: t, token_hash } = &s.who {
            let (store, t2) = (self.store.clone(), t.clone());
            let current = blocking(move || store.dashboard_token_hash(&t2)).await?;
            if current.as_deref() != Some(token_hash.as_str()) {
                self.sessions().end_tenant(t);
                return Ok(None);
            }
        }
        Ok(Some(Signed { id, s }))
    }

    /// The session allowed to see `tenant`'s pages, or the answer: sign in (303 to the
    /// login), or 404 for another tenant's or an unknown tenant.
    async fn guard(&self, h: &HeaderMap, tenant: &str) -> Result<Signed, Response> {
        let Some(s) = self.signed(h).await? else {
            return Err(redirect("/login"));
        };
        if !s.s.who.may_see(tenant) {
            return Err(not_found());
        }
        let (store, t) = (self.store.clone(), tenant.to_string());
        if blocking(move || store.tenant(&t)).await?.is_none() {
            return Err(not_found());
        }
        Ok(s)
    }
}

fn frame<'a>(tenant: &'a str, s: &'a Signed, who: &'a str) -> pages::Frame<'a> {
    pages::Frame {
        tenant,
        csrf: &s.s.csrf,
        who,
        admin: s.s.who == Who::Admin,
    }
}

fn who_name(w: &Who) -> String {
    match w {
        Who::Admin => "admin".into(),
        Who::Tenant { id, .. } => id.clone(),
    }
}

/// The dashboard's routes, to merge into the plane's HTTP app (which must be served with
/// `ConnectInfo<SocketAddr>`), over the plane's `services` (the wizard calls them). Live feeds
/// end once `stopping` is true.
pub fn router(
    services: Services,
    settings: Settings,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/static/dashboard.css", get(css))
        .route("/static/dashboard.js", get(js))
        .route("/t", get(tenants))
        .route("/regions", get(regions))
        .route("/regions/{edge}/forget", post(forget_stale_edge))
        .route("/admin/regions.json", get(regions_json))
        .route("/admin/edges/{edge}/forget", post(forget_edge))
        .route("/t/{tenant}", get(live))
        .route("/t/{tenant}/evi.json", get(evi_json))
        .route("/t/{tenant}/events", get(events))
        .route("/t/{tenant}/alerts", get(alerts))
        .route("/t/{tenant}/alerts/{alert}", post(act))
        .route("/t/{tenant}/experiments", get(experiments))
        .route("/t/{tenant}/forensics", get(forensics))
        .route("/setup", get(setup::start).post(setup::create))
        .route(
            "/setup/{tenant}/key",
            get(setup::key_page).post(setup::issue),
        )
        .route(
            "/setup/{tenant}/alerts",
            get(setup::alerts_page).post(setup::set_alerts),
        )
        .route("/setup/{tenant}/first", get(setup::first_page))
        .route("/setup/{tenant}/first.json", get(setup::first_json))
        .route("/public/{tenant}/failures", get(public_failures))
        .route("/admin/dashboard/{tenant}/{op}", post(admin))
        .with_state(Dashboard::new(services, settings, stopping))
}

async fn css() -> Response {
    let mut r = CSS.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn js() -> Response {
    let mut r = JS.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn index(State(d): State<Dashboard>, h: HeaderMap) -> Response {
    match d.signed(&h).await {
        Ok(Some(_)) => redirect("/t"),
        Ok(None) => redirect("/login"),
        Err(r) => r,
    }
}

async fn login_page() -> Response {
    html(StatusCode::OK, pages::login(None))
}

/// A posted form, read so that the handler's own checks answer first: a body that does not
/// read as `T` (another content type, a field twice) is taken as an empty form, which the
/// checks refuse as they refuse one without its CSRF token (or, signing in, without the token),
/// instead of axum's plain-text 415 or 422 before them (before the sign-in check, in words that
/// are not the dashboard's). Every form's fields are text with a default, so a browser's body
/// of the form always reads. A body past axum's limit (2 MiB) is still refused as such (413),
/// and one that did not arrive within the read timeout (`crate::http::BodyTimeout`) as late
/// (408): as an empty form either would be refused as "not sent from the dashboard", which it
/// was (and, signing in, counted as a failed sign-in).
struct Posted<T>(T);

impl<S, T> axum::extract::FromRequest<S> for Posted<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Default,
{
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        match Form::<T>::from_request(req, state).await {
            Ok(Form(f)) => Ok(Posted(f)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(e.into_response()),
            Err(e) if crate::http::timed_out(&e) => Err((
                StatusCode::REQUEST_TIMEOUT,
                "The form did not arrive in time: send it again.\n",
            )
                .into_response()),
            Err(_) => Ok(Posted(T::default())),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    token: String,
}

async fn login(
    State(d): State<Dashboard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: HeaderMap,
    Posted(f): Posted<LoginForm>,
) -> Response {
    let cfg = d.settings.clone();
    if !same_origin(&h) {
        return forbidden("This form must be sent from the dashboard's own page.");
    }
    let now = now_ms();
    let ip = peer.ip();
    let limited = d
        .limiter
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .check(ip, now);
    if let Err(retry_ms) = limited {
        let mut r = html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::login(Some(&format!(
                "Too many failed sign-ins from this address; try again in {} s.",
                (retry_ms + 999) / 1000
            ))),
        );
        if let Ok(v) = HeaderValue::from_str(&((retry_ms + 999) / 1000).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let token = f.token.trim().to_string();
    let who = if token.is_empty() {
        None
    } else if cfg.admin_token.is(&token) {
        Some(Who::Admin)
    } else if token.starts_with(TOKEN_PREFIX) {
        let hash = token_hash(&token);
        let (store, h2) = (d.store.clone(), hash.clone());
        match blocking(move || store.dashboard_tenant_of(&h2)).await {
            Ok(t) => t.map(|id| Who::Tenant {
                id,
                token_hash: hash,
            }),
            Err(r) => return r,
        }
    } else {
        None
    };
    let Some(who) = who else {
        d.limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed(ip, now);
        tracing::info!(peer = %ip, "dashboard: sign-in refused");
        let msg = if token.is_empty() {
            "Enter a dashboard token."
        } else {
            "That token is not valid: it may be mistyped, revoked or replaced by a newer one."
        };
        return html(StatusCode::UNAUTHORIZED, pages::login(Some(msg)));
    };
    let (id, csrf) = match (random_hex(), random_hex()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return unavailable("No randomness for a session; try again."),
    };
    tracing::info!(who = %who_name(&who), "dashboard: signed in");
    {
        let mut s = d.sessions();
        s.set_lifetime(cfg.session_lifetime_ms);
        s.create(id.clone(), csrf, who, now);
    }
    let mut r = redirect("/t");
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        cfg.session_lifetime_ms / 1000
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(d): State<Dashboard>, h: HeaderMap, Posted(f): Posted<CsrfForm>) -> Response {
    let s = match d.signed(&h).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect("/login"),
        Err(r) => return r,
    };
    if let Some(r) = s.post_refusal(&h, &f.csrf) {
        return r;
    }
    d.sessions().remove(&s.id);
    let mut r = redirect("/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("siq_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

async fn tenants(State(d): State<Dashboard>, h: HeaderMap) -> Response {
    let s = match d.signed(&h).await {
        Ok(Some(s)) => s,
        Ok(None) => return redirect("/login"),
        Err(r) => return r,
    };
    match &s.s.who {
        Who::Tenant { id, .. } => redirect(&format!("/t/{id}")),
        Who::Admin => {
            let store = d.store.clone();
            match blocking(move || store.tenants()).await {
                Ok(ts) => {
                    let ids: Vec<String> = ts.into_iter().map(|t| t.id).collect();
                    html(StatusCode::OK, pages::tenants(&ids, &s.s.csrf))
                }
                Err(r) => r,
            }
        }
    }
}

/// The fleet's health (the admin's only; a tenant's session gets 404).
async fn regions(State(d): State<Dashboard>, h: HeaderMap) -> Response {
    let s = match d.admin(&h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store = d.store.clone();
    match blocking(move || store.version()).await {
        Ok(v) => html(
            StatusCode::OK,
            pages::regions(&s.s.csrf, &d.store.fleet(), now_ms(), v),
        ),
        Err(r) => r,
    }
}

/// Forgets `edge`'s report for one of the two ways to ask (`via`), and logs it with who asked:
/// what was forgotten (the API's answer), or the status and why not.
fn forget(
    d: &Dashboard,
    edge: &str,
    force: bool,
    peer: SocketAddr,
    via: &str,
) -> Result<serde_json::Value, (StatusCode, String)> {
    use crate::store::fleet::ForgetError;
    let now = now_ms();
    match d.store.forget_edge(edge, now, force) {
        Ok(x) => {
            let age_ms = now.saturating_sub(x.received_ms);
            let (region, report_id) = (&x.health.region, &x.health.report_id);
            tracing::info!(%edge, %region, %report_id, age_ms, force, %peer, via, "edge forgotten");
            Ok(serde_json::json!({
                "edge": edge,
                "forgotten": true,
                "region": region,
                "report_id": report_id,
                "age_ms": age_ms,
            }))
        }
        Err(e @ ForgetError::NotHeld(_)) => Err((StatusCode::NOT_FOUND, e.to_string())),
        Err(e @ ForgetError::Fresh { .. }) => Err((StatusCode::CONFLICT, e.to_string())),
    }
}

/// The Regions page's Forget button (the admin's session, its CSRF token): forgets a stale
/// edge's report, as `siqctl edges --forget` does without `--force`, and goes back to the page.
async fn forget_stale_edge(
    State(d): State<Dashboard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(edge): Path<String>,
    h: HeaderMap,
    Posted(f): Posted<CsrfForm>,
) -> Response {
    if let Err(r) = d.admin_post(&h, &f.csrf).await {
        return r;
    }
    match forget(&d, &edge, false, peer, "dashboard") {
        Ok(_) => redirect("/regions"),
        Err((status, why)) => html(status, pages::message("Not forgotten", &why)),
    }
}

/// The same as JSON, for the operator's tools: `authorization: Bearer <admin token>`.
async fn regions_json(State(d): State<Dashboard>, h: HeaderMap) -> Response {
    if let Some(r) = admin_refusal(&d, &h) {
        return r;
    }
    let store = d.store.clone();
    let version = match blocking(move || store.version()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    json_answer(
        StatusCode::OK,
        regions_answer(&d.store.fleet(), version, now_ms()),
    )
}

/// What `siqctl edges` reads of `/admin/regions.json` at most: an answer (headers included) of
/// this size or more is refused as such, never read cut. The answer at the plane's limits as
/// `regions_json_at_the_planes_limits_fits_its_cap` builds it (`store::fleet::MAX_EDGES`
/// edges, each naming `MAX_REFUSED_REPORTED` refused tenants, every text at `MAX_HEALTH_TEXT`
/// bytes of `"`, which JSON writes in two bytes, every counter at its largest, every problem)
/// is 43 497 030 bytes (41.5 MiB); of control characters instead (shown as `?`, not written in
/// six bytes) 23 697 030; with plain text and 64-byte tenant ids, as edges send them,
/// 16 145 030 (2026-12-06).
pub const MAX_REGIONS_JSON_BYTES: u64 = 64 << 20;

/// `/admin/regions.json`: every edge's last report, its config cell and problems (the Regions
/// page's), and the plane's config version.
pub fn regions_answer(
    fleet: &[crate::store::fleet::Seen],
    version: u64,
    now: i64,
) -> serde_json::Value {
    let edges: Vec<serde_json::Value> = fleet
        .iter()
        .map(|x| {
            serde_json::json!({
                "health": x.health,
                "received_ms": x.received_ms,
                "age_ms": now.saturating_sub(x.received_ms),
                "config": pages::edge_config(&x.health, version),
                "problems": pages::edge_problems(x, now, version),
            })
        })
        .collect();
    serde_json::json!({ "config_version": version, "edges": edges })
}

/// The EVI points of the last [`LIVE_MINUTES`], as `Analytics.Evi` computes them.
async fn evi_points(
    d: &Dashboard,
    tenant: &str,
) -> Result<Vec<sentientiq_proto::grpc::EviPoint>, Response> {
    Ok(live_data(d, tenant).await?.0)
}

/// The EVI points of the last [`LIVE_MINUTES`], and the windows of the last
/// [`pages::TRAFFIC_MINUTES`] (one read of the store for both).
async fn live_data(
    d: &Dashboard,
    tenant: &str,
) -> Result<
    (
        Vec<sentientiq_proto::grpc::EviPoint>,
        Vec<sentientiq_proto::grpc::WindowAggregate>,
    ),
    Response,
> {
    let to = now_minute() + 1;
    let from = to - LIVE_MINUTES;
    let (store, t) = (d.store.clone(), tenant.to_string());
    blocking(move || {
        let lookback = crate::service::BASELINE_LOOKBACK_MINUTES;
        let windows = store.aggregates(&t, from - lookback, to)?;
        let points = crate::service::evi_points(&windows, from);
        let recent = windows
            .into_iter()
            .filter(|w| w.minute >= to - pages::TRAFFIC_MINUTES)
            .collect();
        Ok((points, recent))
    })
    .await
}

async fn live(State(d): State<Dashboard>, Path(tenant): Path<String>, h: HeaderMap) -> Response {
    let s = match d.guard(&h, &tenant).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match live_data(&d, &tenant).await {
        Ok((p, recent)) => {
            let who = who_name(&s.s.who);
            html(
                StatusCode::OK,
                pages::live(&frame(&tenant, &s, &who), &p, LIVE_MINUTES, &recent),
            )
        }
        Err(r) => r,
    }
}

async fn evi_json(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    h: HeaderMap,
) -> Response {
    if let Err(r) = d.guard(&h, &tenant).await {
        return r;
    }
    match evi_points(&d, &tenant).await {
        Ok(p) => {
            let mut r = axum::Json(pages::evi_json(&p)).into_response();
            secure(r.headers_mut());
            r
        }
        Err(r) => r,
    }
}

/// Sends `ev` to a live feed; false if the feed is gone, if its client has taken nothing for
/// [`FEED_STALL`] (a client that stops reading fills the channel: its feed ends and frees its
/// connection), or if the dashboard stops first.
async fn send_or_stop(
    tx: &tokio::sync::mpsc::Sender<Result<Event, Infallible>>,
    ev: Event,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        sent = tokio::time::timeout(FEED_STALL, tx.send(Ok(ev))) => matches!(sent, Ok(Ok(()))),
        _ = stop.wait_for(|stopping| *stopping) => false,
    }
}

/// Server-sent events: every new or changed alert of the tenant (polled every second), as
/// `alert` events of [`pages::alert_json`]. Ends when the session does.
async fn events(State(d): State<Dashboard>, Path(tenant): Path<String>, h: HeaderMap) -> Response {
    let s = match d.guard(&h, &tenant).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(64);
    let cookie = h.get(header::COOKIE).cloned();
    let mut stop = d.stopping.clone();
    tokio::spawn(async move {
        let mut f = feed::Feed::new(now_ms() - FEED_BACKLOG_MS);
        let mut auth = HeaderMap::new();
        if let Some(c) = cookie {
            auth.insert(header::COOKIE, c);
        }
        let ready = Event::default().event("ready").data("{}");
        if !send_or_stop(&tx, ready, &mut stop).await {
            return;
        }
        // Detections: the kept ones first, then each as it arrives (the bell wakes the loop).
        let mut bell = d.store.detection_bell();
        let mut shown = 0u64;
        loop {
            if *stop.borrow() {
                return;
            }
            // The session still holds (not expired, logged out or revoked).
            match d.signed(&auth).await {
                Ok(Some(now)) if now.id == s.id => {}
                _ => return,
            }
            let (store, t, since) = (d.store.clone(), tenant.clone(), f.since_ms());
            // A failed read (logged) is retried at the next poll.
            let read = blocking(move || store.list_alerts(Some(&t), since, false))
                .await
                .unwrap_or_default();
            for a in f.changes(read) {
                let ev = Event::default()
                    .event("alert")
                    .data(pages::alert_json(&a).to_string());
                if !send_or_stop(&tx, ev, &mut stop).await {
                    return;
                }
            }
            for (n, det) in d.store.detections_after(&tenant, shown) {
                shown = n;
                let ev = Event::default()
                    .event("detection")
                    .data(pages::detection_json(&det).to_string());
                if !send_or_stop(&tx, ev, &mut stop).await {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(FEED_POLL) => {}
                _ = bell.changed() => {}
                _ = stop.changed() => return,
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    let mut r = Sse::new(tokio_stream::wrappers::ReceiverStream::new(rx))
        .keep_alive(KeepAlive::new().interval(FEED_KEEP_ALIVE))
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The note an alerts page shows after an action (`?done=…&alert=…`, from [`act`]'s redirect);
/// a query that does not read as one shows none (the page is what was asked for).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    done: String,
    alert: String,
}

async fn alerts(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    q: Result<Query<Notice>, QueryRejection>,
    h: HeaderMap,
) -> Response {
    let s = match d.guard(&h, &tenant).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let (store, t) = (d.store.clone(), tenant.clone());
    let (list, pending) = match blocking(move || {
        Ok((
            store.list_alerts(Some(&t), 0, false)?,
            store.pending_alert_actions(&t)?,
        ))
    })
    .await
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let notice = match q.done.as_str() {
        "acknowledge" => Some(format!(
            "Acknowledgement of {} sent to the edge holding it.",
            q.alert
        )),
        "false_alarm" => Some(format!(
            "False alarm label of {} sent to the edge holding it.",
            q.alert
        )),
        "noop" => Some(format!("{} already shows that.", q.alert)),
        _ => None,
    };
    let who = who_name(&s.s.who);
    html(
        StatusCode::OK,
        pages::alerts(
            &frame(&tenant, &s, &who),
            &list,
            &pending,
            notice.as_deref(),
        ),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActForm {
    csrf: String,
    action: String,
}

/// Acknowledge / False alarm: queues the command `Alerts.Act` (`siqctl alerts ack`) does.
async fn act(
    State(d): State<Dashboard>,
    Path((tenant, alert)): Path<(String, String)>,
    h: HeaderMap,
    Posted(f): Posted<ActForm>,
) -> Response {
    let s = match d.guard(&h, &tenant).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(r) = s.post_refusal(&h, &f.csrf) {
        return r;
    }
    if !crate::store::alerts::ACTIONS.contains(&f.action.as_str()) {
        return html(
            StatusCode::BAD_REQUEST,
            pages::message("Refused", "Unknown action."),
        );
    }
    let c = AlertCommand {
        alert_id: alert.clone(),
        action: f.action.clone(),
        by: s.s.who.by(),
        tenant_id: tenant.clone(),
    };
    let store = d.store.clone();
    let queued = match blocking(move || store.queue_command(&c)).await {
        Ok(q) => q,
        Err(r) => return r,
    };
    if queued {
        d.metrics.alert_commands_queued.fetch_add(1, Relaxed);
    }
    tracing::info!(%tenant, %alert, action = %f.action, queued, "dashboard: alert action");
    let done = if queued { f.action.as_str() } else { "noop" };
    let alert_q: String = alert
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    redirect(&format!("/t/{tenant}/alerts?done={done}&alert={alert_q}"))
}

#[derive(Deserialize)]
struct Days {
    days: Option<i64>,
}

/// `?days=`, read by the handler after its session or publication check (an extractor would
/// answer a query it cannot read, `?days=x`, before it, and in plain text): [`days_of`].
type DaysQuery = Result<Query<Days>, QueryRejection>;

/// What the forensics, experiments and public failures pages show of a tenant over `days`.
struct TenantReport {
    tenant: sentientiq_proto::grpc::Tenant,
    forensics: crate::forensics::TenantForensics,
    labels: Vec<labels::EmotionLabels>,
}

async fn tenant_report(d: &Dashboard, tenant: &str, days: i64) -> Result<TenantReport, Response> {
    let to = now_minute() + 1;
    let from = to - days * 1440;
    let (store, t) = (d.store.clone(), tenant.to_string());
    blocking(move || {
        let tn = store
            .tenant(&t)?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {t}")))?;
        let windows = store.experiment_windows(&tn.id, from, to)?;
        let alerts = store.alerts_opened_in_minutes(&tn.id, from, to)?;
        let forensics = crate::forensics::tenant_forensics(&tn, from, to, &windows, &alerts);
        let (lo, hi) = (from.saturating_mul(60_000), to.saturating_mul(60_000));
        let labels = labels::by_emotion(&tn.id, lo, hi, &alerts.alerts);
        Ok(TenantReport {
            tenant: tn,
            forensics,
            labels,
        })
    })
    .await
}

/// The `days` asked (default 7), or the answer refusing it.
fn days_of(q: &DaysQuery) -> Result<i64, Box<Response>> {
    let d = match q {
        Ok(Query(q)) => q.days.unwrap_or(7),
        Err(_) => 0,
    };
    let max = crate::forensics::MAX_DAYS;
    if !(1..=max).contains(&d) {
        return Err(Box::new(html(
            StatusCode::BAD_REQUEST,
            pages::message("Refused", &format!("days must be 1 to {max}.")),
        )));
    }
    Ok(d)
}

/// A signed-in page over the tenant's report of the last `days` (`?days=`, default 7).
async fn report_page(
    d: &Dashboard,
    tenant: &str,
    q: &DaysQuery,
    h: &HeaderMap,
    render: impl FnOnce(&pages::Frame<'_>, &TenantReport, i64) -> String,
) -> Response {
    let s = match d.guard(h, tenant).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let days = match days_of(q) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    match tenant_report(d, tenant, days).await {
        Ok(r) => {
            let who = who_name(&s.s.who);
            html(StatusCode::OK, render(&frame(tenant, &s, &who), &r, days))
        }
        Err(r) => r,
    }
}

async fn forensics(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    q: DaysQuery,
    h: HeaderMap,
) -> Response {
    report_page(&d, &tenant, &q, &h, |f, r, days| {
        pages::forensics(f, &r.forensics, &r.labels, days)
    })
    .await
}

/// The tenant's experiments (from the stored tenant) with their arms over `days`.
async fn experiments(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    q: DaysQuery,
    h: HeaderMap,
) -> Response {
    report_page(&d, &tenant, &q, &h, |f, r, days| {
        pages::experiments(f, &r.tenant, &r.forensics, days)
    })
    .await
}

/// No login; 404 unless the tenant published it (an unknown tenant is 404 too).
async fn public_failures(
    State(d): State<Dashboard>,
    Path(tenant): Path<String>,
    q: DaysQuery,
) -> Response {
    let (store, t) = (d.store.clone(), tenant.clone());
    match blocking(move || store.failures_public(&t)).await {
        Ok(true) => {}
        Ok(false) => return not_found(),
        Err(r) => return r,
    }
    let days = match days_of(&q) {
        Ok(d) => d,
        Err(r) => return *r,
    };
    match tenant_report(&d, &tenant, days).await {
        Ok(r) => html(
            StatusCode::OK,
            pages::public_failures(&tenant, &r.forensics, &r.labels, days),
        ),
        Err(r) => r,
    }
}

/// An operator call's one boolean in its query (`?force=true`, `?on=false`), read by the
/// handler after its token check (an extractor would answer a bad query before it): `None`
/// without a query; for anything but `key=true` or `key=false`, the refusal's words
/// ([`bool_query_rule`]).
fn bool_query(q: Option<&str>, key: &str) -> Result<Option<bool>, String> {
    match q.unwrap_or_default() {
        "" => Ok(None),
        q => match q.strip_prefix(key).and_then(|v| v.strip_prefix('=')) {
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            _ => Err(bool_query_rule(key)),
        },
    }
}

/// What [`bool_query`] takes, to say in a refusal.
fn bool_query_rule(key: &str) -> String {
    format!("the query is {key}=true or {key}=false")
}

fn json_answer(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = (status, axum::Json(v)).into_response();
    secure(r.headers_mut());
    r
}

/// The operator's HTTP calls (`/admin/…`, siqctl's) need `authorization: Bearer <admin
/// token>`: the 401 saying which is wrong, or `None` when it is right.
fn admin_refusal(d: &Dashboard, h: &HeaderMap) -> Option<Response> {
    let got = header_str(h, header::AUTHORIZATION);
    crate::auth::refusal(&d.settings.admin_token, "admin", got)
        .map(|why| json_error(StatusCode::UNAUTHORIZED, &why))
}

/// An operator API refusal: `{"error": why}` (siqctl prints `why`).
fn json_error(status: StatusCode, why: &str) -> Response {
    json_answer(status, serde_json::json!({ "error": why }))
}

/// `siqctl edges --forget EDGE [--force]`: forgets an edge's last report (decommissioned or
/// renamed), so that it is no longer listed or stale; answers what was forgotten. A report that
/// is not stale is kept (409) unless `?force=true`: its edge is likely running and would be
/// back with its next report. 404 when the plane holds none under that id; logged with the
/// caller's address, the only record once the report is gone.
async fn forget_edge(
    State(d): State<Dashboard>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(edge): Path<String>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Response {
    if let Some(r) = admin_refusal(&d, &h) {
        return r;
    }
    let err = json_error;
    if !sentientiq_proto::grpc::valid_edge_name(&edge) {
        return err(
            StatusCode::BAD_REQUEST,
            &format!("an edge id is {}", sentientiq_proto::grpc::EDGE_NAME_RULE),
        );
    }
    // Read after the token check, so that a caller without it learns nothing else.
    let force = match bool_query(q.as_deref(), "force") {
        Ok(f) => f.unwrap_or(false),
        Err(why) => return err(StatusCode::BAD_REQUEST, &why),
    };
    match forget(&d, &edge, force, peer, "api") {
        Ok(v) => json_answer(StatusCode::OK, v),
        Err((status, why)) => err(status, &why),
    }
}

/// `siqctl dashboard`: the admin bearer token; `token` issues (shown once in the answer),
/// `revoke` revokes, `publish?on=` publishes or withdraws the failures page.
async fn admin(
    State(d): State<Dashboard>,
    Path((tenant, op)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Response {
    let err = json_error;
    if let Some(r) = admin_refusal(&d, &h) {
        return r;
    }
    let store = d.store.clone();
    let t = tenant.clone();
    let answer = match op.as_str() {
        "token" => {
            let Ok(token) = generate_token() else {
                return err(StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
            };
            let hash = token_hash(&token);
            let h2 = hash.clone();
            match blocking(move || store.set_dashboard_token(&t, &h2)).await {
                Ok(()) => {
                    // A new token replaces the old one: its sessions end.
                    d.sessions().end_tenant(&tenant);
                    tracing::info!(%tenant, "dashboard token issued");
                    serde_json::json!({ "tenant": tenant, "token": token, "token_hash": hash })
                }
                Err(_) => return err(StatusCode::NOT_FOUND, &format!("tenant {tenant} not found")),
            }
        }
        "revoke" => match blocking(move || store.revoke_dashboard_token(&t)).await {
            Ok(had) => {
                d.sessions().end_tenant(&tenant);
                tracing::info!(%tenant, had, "dashboard token revoked");
                serde_json::json!({ "tenant": tenant, "revoked": had })
            }
            Err(_) => return err(StatusCode::NOT_FOUND, &format!("tenant {tenant} not found")),
        },
        "publish" => {
            let on = match bool_query(q.as_deref(), "on") {
                Ok(Some(on)) => on,
                Ok(None) => return err(StatusCode::BAD_REQUEST, &bool_query_rule("on")),
                Err(why) => return err(StatusCode::BAD_REQUEST, &why),
            };
            match blocking(move || store.set_failures_public(&t, on)).await {
                Ok(()) => {
                    tracing::info!(%tenant, on, "dashboard failures page publication");
                    serde_json::json!({ "tenant": tenant, "public_failures": on })
                }
                Err(_) => return err(StatusCode::NOT_FOUND, &format!("tenant {tenant} not found")),
            }
        }
        _ => return err(StatusCode::NOT_FOUND, "token, revoke or publish"),
    };
    json_answer(StatusCode::OK, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regions answer at the plane's limits fits the bound siqctl reads. Every report goes
    /// through `Store::put_health` (so its caps apply), with each text at or past them, of the
    /// characters JSON writes longest (`"`, two bytes) or control characters (six, before
    /// they become `?`), every counter at its largest and every problem an edge can have. The
    /// sizes are pinned: they are the figures `MAX_REGIONS_JSON_BYTES` cites.
    #[test]
    fn regions_json_at_the_planes_limits_fits_its_cap() -> anyhow::Result<()> {
        use crate::store::fleet::MAX_EDGES;
        use sentientiq_proto::grpc::{
            EdgeHealth, MAX_EDGE_NAME_LEN, MAX_HEALTH_TEXT, MAX_REFUSED_REPORTED, RefusedTenant,
        };
        let size = |text: &dyn Fn(usize) -> String,
                    tenant: &dyn Fn(usize) -> String|
         -> anyhow::Result<usize> {
            let dir = tempfile::tempdir()?;
            let store = Store::open(dir.path())?;
            for e in 0..MAX_EDGES {
                let name =
                    |c: char| format!("{e:04}{}", c.to_string().repeat(MAX_EDGE_NAME_LEN - 4));
                store.put_health(
                    EdgeHealth {
                        edge_id: name('e'),
                        region: name('r'),
                        report_id: text(e),
                        build: text(e),
                        config_version: u64::MAX,
                        following: false,
                        sent_ms: i64::MIN,
                        live_sessions: u64::MAX,
                        frames: u64::MAX,
                        errors: u64::MAX,
                        spool_backlog_bytes: u64::MAX,
                        lake_backlog_age_s: u64::MAX,
                        lake_files: u64::MAX,
                        lake_errors: u64::MAX,
                        spool_writable: false,
                        windows_pending: u64::MAX,
                        report_interval_ms: u64::MAX,
                        refused_tenants: (0..MAX_REFUSED_REPORTED + 1)
                            .map(|i| RefusedTenant {
                                tenant_id: tenant(i),
                                reason: text(i),
                                // The longer problem text ("its previous version stays").
                                kept: true,
                            })
                            .collect(),
                        refused_tenant_count: Some(u32::MAX),
                    },
                    0,
                )?;
            }
            assert_eq!(store.fleet().len(), MAX_EDGES);
            Ok(serde_json::to_vec(&regions_answer(&store.fleet(), 1, i64::MAX))?.len())
        };
        // At the cap exactly (longer text is cut to fewer of them and a `…`).
        let quotes = size(&|_| "\"".repeat(MAX_HEALTH_TEXT), &|_| {
            "\"".repeat(MAX_HEALTH_TEXT)
        })?;
        let controls = size(&|_| "\u{1}".repeat(10_000), &|_| "\u{1}".repeat(10_000))?;
        // As edges send them: tenant ids of 64 bytes, other text of 300 plain ones.
        let plain = size(&|_| "x".repeat(300), &|i| format!("{i:02}").repeat(32))?;
        assert_eq!(
            (quotes, controls, plain),
            (43_497_030, 23_697_030, 16_145_030)
        );
        // With room for the headers: siqctl refuses an answer of the bound, headers included.
        assert!(quotes as u64 + 4096 < MAX_REGIONS_JSON_BYTES);
        Ok(())
    }

    #[test]
    fn tokens_are_random_prefixed_and_stored_as_their_hash() {
        let a = generate_token().expect("random");
        let b = generate_token().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        let h = token_hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a[TOKEN_PREFIX.len()..]));
        assert_eq!(h, token_hash(&a));
    }

    const ADMIN: &str = "unit-admin-token-000001";

    /// One HTTP/1.1 exchange: (status, head, body).
    async fn http(port: u16, req: String) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("http");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status");
        (status, head.to_string(), body.to_string())
    }

    fn get(path: &str, cookie: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
    }

    fn post(path: &str, extra: &str, body: &str) -> String {
        post_as(path, extra, "application/x-www-form-urlencoded", body)
    }

    fn post_as(path: &str, extra: &str, content_type: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\n{extra}Content-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// The CSRF token a page's forms carry.
    fn csrf_in(page: &str) -> String {
        page.split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a csrf token")
            .to_string()
    }

    fn cookie_of(head: &str) -> String {
        head.lines()
            .find_map(|l| l.strip_prefix("set-cookie: "))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }

    /// A live feed's send: taken when the client reads; false once the client has taken
    /// nothing for FEED_STALL (cap - 1 s still waiting), and at once when the dashboard stops.
    #[tokio::test(start_paused = true)]
    async fn a_feed_send_ends_when_its_client_stalls_or_the_dashboard_stops() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let (stopping, mut stop) = tokio::sync::watch::channel(false);
        let ev = || Event::default().data("x");
        assert!(send_or_stop(&tx, ev(), &mut stop).await, "room: sent");
        // Full: waiting until the client takes one, within the stall.
        {
            let waiting = send_or_stop(&tx, ev(), &mut stop);
            tokio::pin!(waiting);
            tokio::select! {
                _ = &mut waiting => panic!("sent into a full channel"),
                () = tokio::time::sleep(FEED_STALL - Duration::from_secs(1)) => {}
            }
            assert!(rx.recv().await.is_some());
            assert!(waiting.await, "taken before the stall");
        }
        // Full and never read: false at the stall.
        let started = tokio::time::Instant::now();
        assert!(!send_or_stop(&tx, ev(), &mut stop).await);
        assert_eq!(started.elapsed(), FEED_STALL);
        // Stopping: false at once.
        let _ = stopping.send(true);
        let started = tokio::time::Instant::now();
        assert!(!send_or_stop(&tx, ev(), &mut stop).await);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(FEED_STALL, Duration::from_secs(60));
    }

    /// A form whose body does not all arrive within the read timeout is answered 408, not
    /// taken as an empty form (refused as not the dashboard's, and a failed sign-in).
    #[tokio::test]
    async fn a_form_that_arrives_late_is_answered_late_not_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = crate::http::HttpLimits {
            read_timeout: Duration::from_millis(500),
            ..crate::http::HttpLimits::default()
        };
        let server = tokio::spawn(crate::serve_http(
            store,
            Arc::new(Metrics::default()),
            Settings::new(ADMIN, 60_000),
            l,
            limits,
            async move {
                let _ = stopped.await;
            },
        ));
        let whole = post("/login", "Origin: http://h\r\n", "token=x");
        let late = whole.replace("Content-Length: 7", "Content-Length: 70");
        let (st, _, body) = http(port, late).await;
        assert_eq!(st, 408, "{body}");
        assert_eq!(body, "The form did not arrive in time: send it again.\n");
        // Whole, the same form is the sign-in's to judge.
        let (st, _, body) = http(port, whole).await;
        assert_eq!(st, 401, "{body}");
        let _ = stop.send(());
        server.await.expect("task").expect("served");
    }

    #[tokio::test]
    async fn the_handlers_scope_sessions_to_their_tenant_and_check_csrf_and_tokens() {
        use sentientiq_proto::grpc::Tenant;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        for id in ["acme", "globex"] {
            store
                .create_tenant(Tenant {
                    id: id.into(),
                    ..Tenant::default()
                })
                .expect("tenant");
        }
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve_http(
            store.clone(),
            Arc::new(Metrics::default()),
            Settings::new(ADMIN, 60_000),
            l,
            crate::http::HttpLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        let origin = "Origin: http://h\r\n";
        // The operator API: the admin bearer token only.
        let (st, _, _) = http(port, post("/admin/dashboard/acme/token", "", "")).await;
        assert_eq!(st, 401);
        let bearer = format!("Authorization: Bearer {ADMIN}\r\n");
        let (st, _, body) = http(port, post("/admin/dashboard/acme/token", &bearer, "")).await;
        assert_eq!(st, 200, "{body}");
        let token = serde_json::from_str::<serde_json::Value>(&body).expect("json")["token"]
            .as_str()
            .expect("token")
            .to_string();
        assert_eq!(
            store.dashboard_token_hash("acme").expect("read"),
            Some(token_hash(&token)),
            "only the hash is stored"
        );
        // Forgetting an edge: the admin token's only (not the admin's dashboard session, so a
        // page cannot forge it); a bad id 400, an unknown one 404, a fresh report 409 unless
        // forced.
        let health = |edge: &str| sentientiq_proto::grpc::EdgeHealth {
            edge_id: edge.into(),
            region: "us-east-1".into(),
            report_id: format!("{edge}@1"),
            ..Default::default()
        };
        store.put_health(health("use1"), 1).expect("stale");
        store.put_health(health("use9"), now_ms()).expect("fresh");
        let (_, head, _) = http(port, post("/login", origin, &format!("token={ADMIN}"))).await;
        let admin_c = cookie_of(&head);
        let admin_cookie = format!("{origin}Cookie: {admin_c}\r\n");
        let wrong = "Authorization: Bearer unit-admin-token-000002\r\n";
        for (path, auth, want, said) in [
            (
                "/admin/edges/use1/forget",
                "",
                401,
                "missing `authorization: Bearer <admin token>`",
            ),
            ("/admin/edges/use1/forget", wrong, 401, "wrong admin token"),
            (
                "/admin/edges/use1/forget",
                &*admin_cookie,
                401,
                "missing `authorization",
            ),
            (
                "/admin/edges/a%2Fb/forget",
                &*bearer,
                400,
                "an edge id is 1 to 64 of",
            ),
            (
                "/admin/edges/use2/forget",
                &*bearer,
                404,
                "no report from edge use2 is held here",
            ),
            (
                "/admin/edges/use9/forget",
                &*bearer,
                409,
                "and is not stale until 180 s after its report: stop it and wait, or force it \
                 (siqctl edges --forget use9 --force)",
            ),
            (
                "/admin/edges/use9/forget?force=yes",
                &*bearer,
                400,
                "the query is force=true or force=false",
            ),
            (
                "/admin/edges/use9/forget?force=yes",
                "",
                401,
                "missing `authorization",
            ),
        ] {
            let (st, _, body) = http(port, post(path, auth, "")).await;
            assert_eq!(st, want, "{path} {auth}: {body}");
            assert!(body.contains(said), "{path} {auth}: {body}");
        }
        assert_eq!(store.fleet().len(), 2, "kept through refusals");
        let (st, _, body) = http(port, post("/admin/edges/use1/forget", &bearer, "")).await;
        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            (&v["edge"], &v["forgotten"], &v["region"], &v["report_id"]),
            (
                &serde_json::json!("use1"),
                &serde_json::json!(true),
                &serde_json::json!("us-east-1"),
                &serde_json::json!("use1@1")
            )
        );
        assert!(v["age_ms"].as_i64().is_some_and(|a| a > 180_000), "{v}");
        let (st, _, body) = http(
            port,
            post("/admin/edges/use9/forget?force=true", &bearer, ""),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        assert!(store.fleet().is_empty());
        // Sign in: refused from another origin, 401 for a wrong token, 303 + cookie for acme's.
        let form = format!("token={token}");
        let (st, _, _) = http(port, post("/login", "Origin: http://evil\r\n", &form)).await;
        assert_eq!(st, 403);
        let (st, _, _) = http(port, post("/login", origin, "token=siq_dash_00")).await;
        assert_eq!(st, 401);
        let (st, head, _) = http(port, post("/login", origin, &form)).await;
        assert_eq!(st, 303);
        assert!(head.contains("HttpOnly; SameSite=Strict"), "{head}");
        let c = cookie_of(&head);
        // The Regions page's Forget button: on stale rows only, the admin's session and its
        // CSRF token (not a tenant's session), never a fresh report.
        store.put_health(health("use3"), 1).expect("stale");
        store.put_health(health("use9"), now_ms()).expect("fresh");
        let (st, _, page) = http(port, get("/regions", &admin_c)).await;
        assert_eq!(st, 200);
        assert!(page.contains("action=\"/regions/use3/forget\""), "{page}");
        assert!(!page.contains("/regions/use9/forget"), "fresh: no button");
        let csrf_form = format!("csrf={}", csrf_in(&page));
        let tenant_cookie = format!("{origin}Cookie: {c}\r\n");
        for (path, who, form, want, said) in [
            (
                "/regions/use3/forget",
                &admin_cookie,
                "csrf=nope",
                403,
                "must be sent from the dashboard",
            ),
            (
                "/regions/use3/forget",
                &tenant_cookie,
                &*csrf_form,
                404,
                "There is no such page here.",
            ),
            (
                "/regions/use9/forget",
                &admin_cookie,
                &*csrf_form,
                409,
                "and is not stale until 180 s after its report",
            ),
            (
                "/regions/use2/forget",
                &admin_cookie,
                &*csrf_form,
                404,
                "no report from edge use2 is held here",
            ),
        ] {
            let (st, _, body) = http(port, post(path, who, form)).await;
            assert_eq!(st, want, "{path} {form}: {body}");
            assert!(body.contains(said), "{path} {form}: {body}");
        }
        assert_eq!(store.fleet().len(), 2);
        // The admin's forms with its valid token in a body that does not read as the form
        // (text/plain): refused as without the token, nothing done (read, the first would
        // forget use3 and the second create tenant `plain`).
        let setup = format!("{csrf_form}&id=plain&name=Plain&origins=https://plain.example");
        for (path, body) in [("/regions/use3/forget", &csrf_form), ("/setup", &setup)] {
            let (st, _, page) = http(port, post_as(path, &admin_cookie, "text/plain", body)).await;
            assert_eq!(st, 403, "{path}: {page}");
            assert!(page.contains("must be sent from the dashboard"), "{page}");
        }
        assert_eq!(store.fleet().len(), 2);
        assert!(store.tenant("plain").expect("read").is_none());
        let (st, head3, _) = http(
            port,
            post("/regions/use3/forget", &admin_cookie, &csrf_form),
        )
        .await;
        assert_eq!(st, 303);
        assert!(head3.contains("location: /regions"), "{head3}");
        assert_eq!(
            store
                .fleet()
                .iter()
                .map(|x| x.health.edge_id.as_str())
                .collect::<Vec<_>>(),
            ["use9"]
        );
        // Its own pages; nothing of globex's, which answers as an unknown tenant does.
        for (path, want) in [
            ("/t/acme", 200),
            ("/t/acme/alerts", 200),
            ("/t/acme/forensics", 200),
            ("/t/acme/experiments", 200),
            ("/t/globex/experiments", 404),
            // The setup wizard is the admin's.
            ("/setup", 404),
            ("/setup/acme/key", 404),
            ("/setup/acme/first.json", 404),
            ("/t/globex", 404),
            ("/t/globex/alerts", 404),
            ("/t/globex/evi.json", 404),
            ("/t/globex/events", 404),
            ("/t/nosuch", 404),
        ] {
            assert_eq!(http(port, get(path, &c)).await.0, want, "{path}");
        }
        assert_eq!(
            http(port, get("/t/acme", "siq_session=forged")).await.0,
            303
        );
        // `?days=` is 1 to MAX_DAYS, read after the session (without one: to the sign-in
        // page, whatever the query); one that is not a number is refused the same way, in the
        // page's words. An alerts page's notice query that does not read shows no notice.
        let max = crate::forensics::MAX_DAYS;
        let refused = format!("days must be 1 to {max}.");
        let shown = |n: i64| format!("last {n} day(s)");
        for (path, who, want, said) in [
            (
                "/t/acme/forensics?days=x".to_string(),
                "",
                303,
                String::new(),
            ),
            ("/t/acme/experiments?days=x".into(), "", 303, String::new()),
            ("/t/acme/forensics?days=x".into(), &*c, 400, refused.clone()),
            (
                "/t/acme/experiments?days=-1".into(),
                &*c,
                400,
                refused.clone(),
            ),
            ("/t/acme/forensics?days=0".into(), &*c, 400, refused.clone()),
            ("/t/acme/forensics?days=1".into(), &*c, 200, shown(1)),
            ("/t/acme/forensics".into(), &*c, 200, shown(7)),
            (
                format!("/t/acme/forensics?days={}", max - 1),
                &*c,
                200,
                shown(max - 1),
            ),
            (
                format!("/t/acme/forensics?days={max}"),
                &*c,
                200,
                shown(max),
            ),
            (
                format!("/t/acme/experiments?days={max}"),
                &*c,
                200,
                shown(max),
            ),
            (
                format!("/t/acme/forensics?days={}", max + 1),
                &*c,
                400,
                refused.clone(),
            ),
            (
                "/t/acme/alerts?done=noop&done=noop&alert=a".into(),
                &*c,
                200,
                "Alerts".into(),
            ),
        ] {
            let (st, _, body) = http(port, get(&path, who)).await;
            assert_eq!(st, want, "{path} {who}: {body}");
            assert!(body.contains(&said), "{path}: {body}");
            assert!(!body.contains("already shows that"), "{path}: {body}");
        }
        // The notice a readable query asks for is shown (what the row above does not get).
        let (_, _, body) = http(port, get("/t/acme/alerts?done=noop&alert=a", &c)).await;
        assert!(body.contains("a already shows that."), "{body}");
        // A POST without the session's CSRF token is refused.
        let (st, _, _) = http(
            port,
            post(
                "/t/acme/alerts/al_1",
                &format!("{origin}Cookie: {c}\r\n"),
                "csrf=nope&action=acknowledge",
            ),
        )
        .await;
        assert_eq!(st, 403);
        // A body that does not read as the form is refused by the handler's own checks (not
        // axum's 415 or 422 before them), however right what it carries: to sign-in without a
        // session; as a post without its CSRF token with one (the token is in the body, so
        // none was read; read, each would pass the CSRF check and get the action's 400); as no
        // token when signing in (read, acme's token would sign in: 303).
        let (_, _, page) = http(port, get("/t/acme/alerts", &c)).await;
        let tok = csrf_in(&page);
        // Its own token and an action that does not exist: past the CSRF check, changing
        // nothing.
        let good = format!("csrf={tok}&action=bogus");
        let json = format!(r#"{{"csrf":"{tok}","action":"bogus"}}"#);
        let twice = format!("csrf={tok}&csrf={tok}&action=bogus");
        let signed = format!("{origin}Cookie: {c}\r\n");
        let form_type = "application/x-www-form-urlencoded";
        for (path, who, ctype, body, want, said) in [
            ("/t/acme/alerts/al_1", origin, "text/plain", "x", 303, ""),
            (
                "/t/acme/alerts/al_1",
                &*signed,
                "text/plain",
                &*good,
                403,
                "must be sent from the dashboard",
            ),
            (
                "/t/acme/alerts/al_1",
                &signed,
                "application/json",
                &json,
                403,
                "must be sent from the dashboard",
            ),
            (
                "/t/acme/alerts/al_1",
                &signed,
                form_type,
                &twice,
                403,
                "must be sent from the dashboard",
            ),
            (
                "/logout",
                &signed,
                "text/plain",
                &good,
                403,
                "must be sent from the dashboard",
            ),
            (
                "/login",
                origin,
                "text/plain",
                &form,
                401,
                "Enter a dashboard token.",
            ),
        ] {
            let (st, _, page) = http(port, post_as(path, who, ctype, body)).await;
            assert_eq!(st, want, "{path} {ctype} {body}: {page}");
            assert!(page.contains(said), "{path} {ctype}: {page}");
        }
        // A body past axum's limit (2 MiB) is refused as such, not read as an empty form.
        let big = format!("{good}&pad={}", "x".repeat(2 << 20));
        let (st, _, page) = http(port, post("/t/acme/alerts/al_1", &signed, &big)).await;
        assert_eq!(st, 413, "{page}");
        // The same body readable: past the CSRF check, to the action's.
        let (st, _, page) = http(port, post("/t/acme/alerts/al_1", &signed, &good)).await;
        assert_eq!(st, 400, "{page}");
        assert!(page.contains("Unknown action."), "{page}");
        // A revoked token ends the session at its next request.
        let (st, _, _) = http(port, post("/admin/dashboard/acme/revoke", &bearer, "")).await;
        assert_eq!(st, 200);
        assert_eq!(http(port, get("/t/acme", &c)).await.0, 303);
        // The failures page is public only once published; the query is read after the
        // token (a caller without it gets 401 whatever it asks).
        assert_eq!(http(port, get("/public/acme/failures", "")).await.0, 404);
        for (path, auth, want, said) in [
            (
                "/admin/dashboard/acme/publish?on=yes",
                "",
                401,
                "missing `authorization",
            ),
            (
                "/admin/dashboard/acme/publish?on=yes",
                &*bearer,
                400,
                "the query is on=true or on=false",
            ),
            (
                "/admin/dashboard/acme/publish",
                &*bearer,
                400,
                "the query is on=true or on=false",
            ),
            (
                "/admin/dashboard/acme/publish?on=true&on=false",
                &*bearer,
                400,
                "the query is on=true or on=false",
            ),
        ] {
            let (st, _, body) = http(port, post(path, auth, "")).await;
            assert_eq!(st, want, "{path}: {body}");
            assert!(body.contains(said), "{path}: {body}");
        }
        assert_eq!(http(port, get("/public/acme/failures", "")).await.0, 404);
        let (st, _, _) = http(
            port,
            post("/admin/dashboard/acme/publish?on=true", &bearer, ""),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(http(port, get("/public/acme/failures", "")).await.0, 200);
        assert_eq!(http(port, get("/public/globex/failures", "")).await.0, 404);
        // Its query is read once it is known published: an unpublished page is 404 whatever
        // is asked of it.
        let max = crate::forensics::MAX_DAYS;
        for (path, want) in [
            ("/public/acme/failures?days=x".to_string(), 400),
            ("/public/acme/failures?days=30".into(), 200),
            (format!("/public/acme/failures?days={max}"), 200),
            (format!("/public/acme/failures?days={}", max + 1), 400),
            ("/public/globex/failures?days=x".into(), 404),
            ("/public/globex/failures?days=0".into(), 404),
            ("/public/nosuch/failures?days=x".into(), 404),
        ] {
            let (st, _, body) = http(port, get(&path, "")).await;
            assert_eq!(st, want, "{path}");
            if st == 200 {
                let days = path.rsplit('=').next().unwrap_or_default();
                assert!(body.contains(&format!("last {days} day(s)")), "{body}");
            }
        }
        let (st, _, body) = http(
            port,
            post("/admin/dashboard/acme/publish?on=false", &bearer, ""),
        )
        .await;
        assert_eq!(st, 200, "{body}");
        assert!(body.contains(r#""public_failures":false"#), "{body}");
        assert_eq!(http(port, get("/public/acme/failures", "")).await.0, 404);

        // An open live feed does not hold the server's shutdown up.
        let (_, head, _) = http(port, post("/login", origin, &format!("token={ADMIN}"))).await;
        let admin = cookie_of(&head);
        let mut feed = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            feed.write_all(get("/t/globex/events", &admin).as_bytes())
                .await
                .expect("write");
            let mut first = [0u8; 64];
            let n = feed.read(&mut first).await.expect("read");
            assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
        }
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops with a feed open")
            .expect("joined")
            .expect("served");
    }

    #[test]
    fn an_operator_query_is_one_key_true_or_false() {
        let no = || Err("the query is force=true or force=false".to_string());
        for (q, want) in [
            (None, Ok(None)),
            (Some(""), Ok(None)),
            (Some("force=true"), Ok(Some(true))),
            (Some("force=false"), Ok(Some(false))),
            (Some("force=yes"), no()),
            (Some("force="), no()),
            (Some("force"), no()),
            (Some("forced=true"), no()),
            (Some("on=true"), no()),
            (Some("force=true&force=false"), no()),
            (Some("force=TRUE"), no()),
        ] {
            assert_eq!(bool_query(q, "force"), want, "{q:?}");
        }
    }

    #[test]
    fn settings_never_show_the_admin_token() {
        let s = Settings::new("secret-admin-token", 1);
        assert!(!format!("{s:?}").contains("secret"));
    }
}
