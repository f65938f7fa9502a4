//! Tenant lookup and the live tenant directory.
//!
//! The tenant comes from the write key only. Keys are compared as SHA-256 digests, in constant
//! time against every configured digest.
//!
//! The directory can change while the edge runs (the control plane pushes new versions). A
//! tenant keeps its index for the life of the process: shards key sessions and per-tenant state
//! by it. A tenant that is removed keeps its slot with no keys (`retired`), so nothing new is
//! accepted for it, and a tenant that comes back gets its old slot again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

use sentientiq_proto::WriteKey;
use sentientiq_tenant::{Tenant, key_hash};

#[derive(Debug, Clone)]
pub struct Tenants {
    pub list: Vec<Tenant>,
    /// `retired[i]`: tenant `i` was removed; it has no keys and accepts nothing new.
    retired: Vec<bool>,
}

impl Tenants {
    pub fn new(list: Vec<Tenant>) -> Tenants {
        let retired = vec![false; list.len()];
        Tenants { list, retired }
    }

    /// The index of the tenant owning `key`, or `None`.
    pub fn by_key(&self, key: &WriteKey) -> Option<usize> {
        self.by_key_hash(&key_hash(key.as_str()))
    }

    /// The index of the tenant owning the key with this SHA-256, or `None`.
    pub fn by_key_hash(&self, h: &[u8; 32]) -> Option<usize> {
        let mut found: Option<usize> = None;
        // Walk every digest whatever matches, so timing says nothing about which one did.
        for (i, t) in self.list.iter().enumerate() {
            for k in &t.key_hashes {
                if bool::from(k.ct_eq(h)) {
                    found = Some(i);
                }
            }
        }
        found
    }

    pub fn get(&self, i: usize) -> &Tenant {
        &self.list[i]
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The index of the tenant with this id, retired or not.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|t| &*t.id == id)
    }

    /// The tenants that are not retired.
    pub fn live(&self) -> impl Iterator<Item = &Tenant> {
        self.list
            .iter()
            .zip(&self.retired)
            .filter(|(_, r)| !**r)
            .map(|(t, _)| t)
    }

    /// The directory after replacing the live set with `next`: known ids keep their index,
    /// new ids are appended, and ids missing from `next` are retired (their keys dropped).
    pub fn replaced_by(&self, next: Vec<Tenant>) -> Tenants {
        let mut out = self.clone();
        out.retired.iter_mut().for_each(|r| *r = true);
        for t in &mut out.list {
            t.key_hashes.clear();
        }
        for t in next {
            match out.index_of(&t.id) {
                Some(i) => {
                    out.list[i] = t;
                    out.retired[i] = false;
                }
                None => {
                    out.list.push(t);
                    out.retired.push(false);
                }
            }
        }
        out
    }
}

/// The edge's current tenant directory, swapped whole when the control plane changes it.
/// Readers take a snapshot (`load`) and keep using it for one request or frame.
#[derive(Debug)]
pub struct Directory {
    current: RwLock<Arc<Tenants>>,
    version: AtomicU64,
}

impl Directory {
    pub fn new(t: Tenants) -> Directory {
        Directory {
            current: RwLock::new(Arc::new(t)),
            version: AtomicU64::new(0),
        }
    }

    pub fn load(&self) -> Arc<Tenants> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// 0 for the set the directory was created with, bumped on every `store`: a connection
    /// compares it to decide whether to re-check its key, the lake shipper to rebuild its
    /// destinations.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn store(&self, t: Tenants) {
        let t = Arc::new(t);
        match self.current.write() {
            Ok(mut g) => *g = t,
            Err(p) => *p.into_inner() = t,
        }
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

/// Whether a request's `Origin` may send for this tenant. A missing origin (server-side SDKs,
/// tools) is allowed only when the tenant allows `*`.
pub fn origin_allowed(t: &Tenant, origin: Option<&str>) -> bool {
    t.allowed_origins.iter().any(|o| {
        o == "*" || origin.is_some_and(|h| h.eq_ignore_ascii_case(o.trim_end_matches('/')))
    })
}
