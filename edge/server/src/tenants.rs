//! Tenant lookup: the tenant comes from the write key only. Keys are compared as SHA-256
//! digests, in constant time against every configured digest.

use subtle::ConstantTimeEq;

use crate::config::{Tenant, key_hash};
use sentientiq_proto::WriteKey;

#[derive(Debug, Clone)]
pub struct Tenants {
    pub list: Vec<Tenant>,
}

impl Tenants {
    /// The index of the tenant owning `key`, or `None`.
    pub fn by_key(&self, key: &WriteKey) -> Option<usize> {
        let h = key_hash(key.as_str());
        let mut found: Option<usize> = None;
        // Walk every digest whatever matches, so timing says nothing about which one did.
        for (i, t) in self.list.iter().enumerate() {
            for k in &t.key_hashes {
                if bool::from(k.ct_eq(&h)) {
                    found = Some(i);
                }
            }
        }
        found
    }

    pub fn get(&self, i: usize) -> &Tenant {
        &self.list[i]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|t| &*t.id == id)
    }
}

/// Whether a request's `Origin` may send for this tenant. A missing origin (server-side SDKs,
/// tools) is allowed only when the tenant allows `*`.
pub fn origin_allowed(t: &Tenant, origin: Option<&str>) -> bool {
    t.allowed_origins.iter().any(|o| {
        o == "*" || origin.is_some_and(|h| h.eq_ignore_ascii_case(o.trim_end_matches('/')))
    })
}
