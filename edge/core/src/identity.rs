//! Who the user is: binding from `id` frames, company from the email domain, lifetime value
//! from traits, purchases and the account directory.

use std::sync::Arc;

use sentientiq_proto::{Identify, Track, Value, frame::get};

/// Free-mail domains: an address there says nothing about the user's company.
/// (Largest consumer mail providers; extend per tenant in the account directory.)
const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "comcast.net",
    "orange.fr",
    "free.fr",
    "libero.it",
    "naver.com",
];

/// The company domain of an email address, or `None` for free-mail and malformed addresses.
pub fn company_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.trim().rsplit_once('@')?;
    if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.')
    {
        return None;
    }
    if FREE_MAIL.iter().any(|f| f.eq_ignore_ascii_case(domain)) {
        return None;
    }
    Some(domain)
}

/// What the account directory (pushed by the control plane) knows about a user's account.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountInfo {
    /// The account key (e.g. the company domain or an account id).
    pub key: Arc<str>,
    pub company: Option<Arc<str>>,
    pub value_cents: i64,
    pub tier: Option<Arc<str>>,
}

/// The session's bound identity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    pub uid: Option<Arc<str>>,
    pub email: Option<Arc<str>>,
    pub company: Option<Arc<str>>,
    pub tier: Option<Arc<str>>,
    /// Lifetime value from the `ltv` trait, in cents.
    pub trait_value_cents: i64,
    /// `purchase` amounts seen in this session, in cents.
    pub purchases_cents: i64,
    /// What the user's stored profile knew before this session (its `ltv` trait and earlier
    /// sessions' purchases), in cents; set by the shell from the identity store.
    pub history_cents: i64,
    pub account: Option<AccountInfo>,
}

/// The amount a `tr` frame adds to lifetime value: `purchase` with a valid `props.amount`.
pub fn purchase_cents(tr: &Track) -> Option<i64> {
    if tr.name != "purchase" {
        return None;
    }
    get(&tr.props, "amount").and_then(cents)
}

/// Dollars (a number or numeric string) → cents, refusing NaN, infinities and negatives.
pub fn cents(v: &Value) -> Option<i64> {
    let d = v.as_f64()?;
    (0.0..1e15).contains(&d).then(|| (d * 100.0).round() as i64)
}

impl Identity {
    /// Applies an `id` frame. A new uid replaces the old binding (a different user logged in
    /// on the same tab); the session's purchases stay with the session.
    pub fn apply(&mut self, id: &Identify) {
        if self.uid.as_deref() != Some(id.uid.as_str()) {
            let purchases = self.purchases_cents;
            *self = Identity {
                purchases_cents: purchases,
                ..Identity::default()
            };
            self.uid = Some(Arc::from(id.uid.as_str()));
        }
        if let Some(e) = &id.email {
            self.email = Some(Arc::from(e.as_str()));
        }
        let t = &id.traits;
        if let Some(c) = get(t, "company").and_then(Value::as_str) {
            self.company = Some(Arc::from(c));
        } else if let Some(d) = self.email.as_deref().and_then(company_domain) {
            self.company = Some(Arc::from(d));
        }
        if let Some(tier) = get(t, "tier")
            .or_else(|| get(t, "plan"))
            .and_then(Value::as_str)
        {
            self.tier = Some(Arc::from(tier));
        }
        if let Some(v) = get(t, "ltv").and_then(cents) {
            self.trait_value_cents = v;
        }
    }

    /// Applies a `tr` frame: `purchase` with `props.amount` adds to lifetime value.
    /// Returns the amount counted, in cents.
    pub fn track(&mut self, tr: &Track) -> Option<i64> {
        let c = purchase_cents(tr)?;
        self.purchases_cents = self.purchases_cents.saturating_add(c);
        Some(c)
    }

    pub fn identified(&self) -> bool {
        self.uid.is_some()
    }

    /// Lifetime value in cents: the largest of the account directory's, the `ltv` trait and the
    /// stored profile's history (they describe the same past), plus purchases seen in this
    /// session.
    pub fn value_cents(&self) -> i64 {
        let known = self
            .account
            .as_ref()
            .map_or(0, |a| a.value_cents)
            .max(self.trait_value_cents)
            .max(self.history_cents);
        known.saturating_add(self.purchases_cents)
    }

    /// The key cooldowns and escalations are grouped by: the account, else the company, else
    /// the user.
    pub fn account_key(&self) -> Option<&Arc<str>> {
        self.account
            .as_ref()
            .map(|a| &a.key)
            .or(self.company.as_ref())
            .or(self.uid.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentientiq_proto::Seq;

    fn id(uid: &str, email: Option<&str>, traits: Vec<(&str, Value)>) -> Identify {
        Identify {
            seq: Seq(1),
            uid: uid.into(),
            email: email.map(Into::into),
            traits: traits
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    #[test]
    fn company_from_email_domain_excludes_free_mail() {
        for (email, want) in [
            ("dana@acme.example", Some("acme.example")),
            ("x@gmail.com", None),
            ("x@GMail.com", None),
            ("x@sub.corp.io", Some("sub.corp.io")),
            ("no-at-sign", None),
            ("@acme.example", None),
            ("x@localhost", None),
            ("a@b@acme.example", Some("acme.example")),
        ] {
            assert_eq!(company_domain(email), want, "{email}");
        }
    }

    #[test]
    fn value_from_traits_purchases_and_account() {
        let mut i = Identity::default();
        i.apply(&id(
            "u1",
            Some("d@acme.example"),
            vec![
                ("ltv", Value::Str("1200.50".into())),
                ("plan", Value::Str("pro".into())),
            ],
        ));
        assert_eq!(i.trait_value_cents, 120_050);
        assert_eq!(i.company.as_deref(), Some("acme.example"));
        assert_eq!(i.tier.as_deref(), Some("pro"));
        let tr = Track {
            seq: Seq(2),
            name: "purchase".into(),
            props: vec![("amount".into(), Value::Float(99.99))],
        };
        assert_eq!(i.track(&tr), Some(9_999));
        assert_eq!(i.value_cents(), 130_049);
        // A stored history larger than the trait replaces it (same past), this session's
        // purchase still adds.
        i.history_cents = 500_000;
        assert_eq!(i.value_cents(), 509_999);
        i.history_cents = 0;
        i.account = Some(AccountInfo {
            key: "acme".into(),
            value_cents: 10_000_000,
            ..AccountInfo::default()
        });
        assert_eq!(i.value_cents(), 10_009_999);
        assert_eq!(i.account_key().map(|k| &**k), Some("acme"));
    }

    #[test]
    fn bad_amounts_are_not_counted() {
        let mut i = Identity::default();
        for v in [
            Value::Float(f64::NAN),
            Value::Int(-5),
            Value::Str("lots".into()),
            Value::Float(f64::INFINITY),
        ] {
            let tr = Track {
                seq: Seq(1),
                name: "purchase".into(),
                props: vec![("amount".into(), v)],
            };
            assert_eq!(i.track(&tr), None);
        }
        assert_eq!(i.value_cents(), 0);
    }

    #[test]
    fn a_new_uid_replaces_the_binding_but_keeps_session_purchases() {
        let mut i = Identity::default();
        i.apply(&id(
            "u1",
            Some("a@acme.example"),
            vec![("ltv", Value::Int(50))],
        ));
        i.purchases_cents = 700;
        i.apply(&id("u2", None, vec![]));
        assert_eq!(i.uid.as_deref(), Some("u2"));
        assert_eq!(i.email, None);
        assert_eq!(i.trait_value_cents, 0);
        assert_eq!(i.value_cents(), 700);
    }
}
