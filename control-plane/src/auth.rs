//! Bearer tokens: one for tenant and account administration and analytics, another for edges
//! (`EdgeSync`). Compared in constant time; a wrong or missing token is `UNAUTHENTICATED` before
//! any handler runs. Health and reflection need no token, so standard gRPC tools work.

use sentientiq_secret::Secret;
use tonic::{Request, Status};

/// An interceptor that admits requests carrying `authorization: Bearer <token>` (`Debug` shows
/// the token redacted).
#[derive(Clone, Debug)]
pub struct Bearer {
    token: std::sync::Arc<Secret>,
    what: &'static str,
}

impl Bearer {
    pub fn new(token: Secret, what: &'static str) -> Bearer {
        Bearer {
            token: std::sync::Arc::new(token),
            what,
        }
    }

    pub fn check<T>(&self, req: Request<T>) -> Result<Request<T>, Status> {
        let got = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match refusal(&self.token, self.what, got) {
            None => {
                // Its connection may stay open (`crate::incoming`).
                crate::standing::mark_authed(&req);
                Ok(req)
            }
            Some(why) => Err(Status::unauthenticated(why)),
        }
    }
}

/// Why an `authorization` header value does not carry `Bearer <token>` (the `what` token), or
/// `None` when it does: the one check of gRPC's interceptor and the plane's HTTP operator API.
pub fn refusal(token: &Secret, what: &str, authorization: Option<&str>) -> Option<String> {
    match authorization.and_then(|v| v.strip_prefix("Bearer ")) {
        Some(t) if token.is(t) => None,
        Some(_) => Some(format!("wrong {what} token")),
        None => Some(format!("missing `authorization: Bearer <{what} token>`")),
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(auth: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(a) = auth {
            r.metadata_mut()
                .insert("authorization", a.parse().expect("ascii"));
        }
        r
    }

    #[test]
    fn only_the_exact_token_passes() {
        let b = Bearer::new(Secret::new("s3cret-token"), "admin");
        assert!(!format!("{b:?}").contains("s3cret"));
        assert!(b.check(req(Some("Bearer s3cret-token"))).is_ok());
        for bad in [
            None,
            Some("Bearer s3cret-toke"),
            Some("Bearer s3cret-token2"),
            Some("bearer s3cret-token"),
            Some("s3cret-token"),
            Some("Bearer "),
        ] {
            let e = b.check(req(bad)).expect_err("refused");
            assert_eq!(e.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }
}
