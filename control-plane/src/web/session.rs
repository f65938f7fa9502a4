//! Dashboard sessions, pure: who is logged in, until when, with which CSRF token. Time is a
//! parameter (`now_ms`); identifiers and tokens come from the caller's generator, so the state
//! machine is tested with a test clock and fixed ids.
//!
//! A session is created by a successful login and lives `lifetime_ms` from then (no sliding
//! renewal: a stolen cookie is good for at most one lifetime). At most [`MAX_SESSIONS`] are
//! held; logging in beyond that first drops expired sessions, then the oldest.

use std::collections::HashMap;

use subtle::ConstantTimeEq;

/// Most sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;

/// Who a session is: the admin (every tenant) or one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Admin,
    /// A tenant, logged in with the dashboard token whose SHA-256 is `token_hash` (checked
    /// against the store at every request, so a revoked token ends its sessions).
    Tenant {
        id: String,
        token_hash: String,
    },
}

impl Who {
    /// Whether this session may see `tenant`'s pages. A tenant sees only itself.
    pub fn may_see(&self, tenant: &str) -> bool {
        match self {
            Who::Admin => true,
            Who::Tenant { id, .. } => id == tenant,
        }
    }

    /// Who acts, as an alert's `by` shows it.
    pub fn by(&self) -> String {
        match self {
            Who::Admin => "dashboard:admin".into(),
            Who::Tenant { id, .. } => format!("dashboard:{id}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    /// The form field every state-changing POST of this session carries.
    pub csrf: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug)]
pub struct Sessions {
    lifetime_ms: i64,
    by_id: HashMap<String, Session>,
}

impl Sessions {
    pub fn new(lifetime_ms: i64) -> Sessions {
        Sessions {
            lifetime_ms,
            by_id: HashMap::new(),
        }
    }

    /// The lifetime of sessions created from now on.
    pub fn set_lifetime(&mut self, lifetime_ms: i64) {
        self.lifetime_ms = lifetime_ms;
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Starts a session `id` for `who` with CSRF token `csrf` at `now_ms`.
    pub fn create(&mut self, id: String, csrf: String, who: Who, now_ms: i64) -> Session {
        if self.by_id.len() >= MAX_SESSIONS {
            self.by_id.retain(|_, s| s.expires_ms > now_ms);
        }
        while self.by_id.len() >= MAX_SESSIONS {
            let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.created_ms)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.by_id.remove(&oldest);
        }
        let s = Session {
            who,
            csrf,
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(self.lifetime_ms),
        };
        self.by_id.insert(id, s.clone());
        s
    }

    /// The live session `id`, if any (an expired one is removed).
    pub fn get(&mut self, id: &str, now_ms: i64) -> Option<&Session> {
        let expired = self.by_id.get(id)?.expires_ms <= now_ms;
        if expired {
            self.by_id.remove(id);
            return None;
        }
        self.by_id.get(id)
    }

    pub fn remove(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    /// Ends every session of `tenant` (its token was revoked or replaced).
    pub fn end_tenant(&mut self, tenant: &str) {
        self.by_id
            .retain(|_, s| !matches!(&s.who, Who::Tenant { id, .. } if id == tenant));
    }
}

/// Whether a POST's form token is the session's (constant time).
pub fn csrf_ok(session: &Session, form_token: &str) -> bool {
    !form_token.is_empty() && bool::from(form_token.as_bytes().ct_eq(session.csrf.as_bytes()))
}

/// Whether a state-changing request comes from the dashboard's own pages: its `Origin` (or,
/// when a browser sends none, its `Referer`) must be this server (`host` is the request's
/// `Host` header). A request with neither is refused.
pub fn origin_ok(origin: Option<&str>, referer: Option<&str>, host: Option<&str>) -> bool {
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return false;
    };
    let same = |u: &str| {
        ["http://", "https://"].iter().any(|scheme| {
            u.strip_prefix(scheme).is_some_and(|rest| {
                let authority = rest.split('/').next().unwrap_or_default();
                authority.eq_ignore_ascii_case(host)
            })
        })
    };
    match (origin, referer) {
        (Some(o), _) if o != "null" => same(o),
        (_, Some(r)) => same(r),
        _ => false,
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> Who {
        Who::Tenant {
            id: id.into(),
            token_hash: "h".into(),
        }
    }

    #[test]
    fn sessions_expire_exactly_at_their_lifetime() {
        let mut s = Sessions::new(1000);
        s.create("a".into(), "c".into(), tenant("acme"), 5000);
        assert!(s.get("a", 5000).is_some());
        assert!(s.get("a", 5999).is_some(), "lifetime - 1");
        assert!(s.get("a", 6000).is_none(), "at the lifetime");
        assert!(s.is_empty(), "an expired session is dropped");
        assert!(s.get("nope", 0).is_none());
    }

    #[test]
    fn logout_and_revocation_end_sessions() {
        let mut s = Sessions::new(1000);
        s.create("a".into(), "c".into(), tenant("acme"), 0);
        s.create("b".into(), "c".into(), tenant("acme"), 0);
        s.create("c".into(), "c".into(), tenant("globex"), 0);
        s.create("d".into(), "c".into(), Who::Admin, 0);
        s.remove("a");
        assert!(s.get("a", 1).is_none());
        s.end_tenant("acme");
        assert!(s.get("b", 1).is_none());
        assert!(s.get("c", 1).is_some() && s.get("d", 1).is_some());
    }

    #[test]
    fn the_session_cap_drops_expired_then_oldest() {
        let mut s = Sessions::new(1000);
        for i in 0..MAX_SESSIONS {
            s.create(format!("s{i}"), "c".into(), Who::Admin, i as i64);
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        // cap + 1 at a time when nothing has expired: the oldest (s0) goes.
        s.create("new".into(), "c".into(), Who::Admin, 10);
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.get("s0", 11).is_none() && s.get("s1", 11).is_some());
        assert!(s.get("new", 11).is_some());
        // Later, everything but "new"'s neighbours expired: expired ones go first.
        s.create(
            "later".into(),
            "c".into(),
            Who::Admin,
            (MAX_SESSIONS as i64) + 995,
        );
        assert!(s.len() < MAX_SESSIONS);
    }

    #[test]
    fn tenants_see_only_themselves_and_the_admin_sees_all() {
        let a = tenant("acme");
        assert!(a.may_see("acme"));
        assert!(!a.may_see("globex"));
        assert!(!a.may_see("acm"));
        assert!(!a.may_see("acme2"));
        assert!(!a.may_see(""));
        assert!(Who::Admin.may_see("acme") && Who::Admin.may_see("globex"));
        assert_eq!(a.by(), "dashboard:acme");
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let mut s = Sessions::new(1000);
        let sess = s.create("a".into(), "tok123".into(), Who::Admin, 0);
        assert!(csrf_ok(&sess, "tok123"));
        for bad in ["", "tok12", "tok1234", "TOK123"] {
            assert!(!csrf_ok(&sess, bad), "{bad}");
        }
    }

    #[test]
    fn origins_must_be_this_server() {
        let h = Some("127.0.0.1:7510");
        assert!(origin_ok(Some("http://127.0.0.1:7510"), None, h));
        assert!(origin_ok(
            None,
            Some("http://127.0.0.1:7510/t/acme/alerts"),
            h
        ));
        assert!(!origin_ok(Some("http://evil.example"), None, h));
        assert!(!origin_ok(Some("http://127.0.0.1:7511"), None, h));
        assert!(!origin_ok(
            Some("http://127.0.0.1:7510.evil.example"),
            None,
            h
        ));
        assert!(
            !origin_ok(
                Some("http://evil.example"),
                Some("http://127.0.0.1:7510/"),
                h
            ),
            "a foreign Origin wins over the Referer"
        );
        assert!(!origin_ok(None, None, h), "neither: refused");
        assert!(!origin_ok(Some("null"), None, h));
        assert!(!origin_ok(Some("http://127.0.0.1:7510"), None, None));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let h = "a=1; siq_session=abc; siq_session2=zzz";
        assert_eq!(cookie(h, "siq_session"), Some("abc"));
        assert_eq!(cookie(h, "siq_sessio"), None);
        assert_eq!(cookie("", "siq_session"), None);
    }
}
