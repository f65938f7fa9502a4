//! Where each tenant's files go: the edge's sink and prefix, or the tenant's own bucket and/or
//! prefix (`[tenant.lake]`, or the control plane's lake destination).

use std::collections::HashMap;
use std::sync::Arc;

use sentientiq_lake::{LocalSink, S3Sink, Sink};
use sentientiq_tenant::{LakeSpec, Tenant};

use super::ShipError;
use crate::config::Config;

/// Where each tenant's files go: the edge's sink and prefix, or the tenant's own bucket and/or
/// prefix (`[tenant.lake]`, or the control plane's lake destination).
#[derive(Debug, Clone)]
pub struct Destinations {
    default: (Arc<dyn Sink>, String),
    tenants: HashMap<String, (Arc<dyn Sink>, String)>,
    /// The edge's S3 sink when it ships to S3: tenants' own buckets share its client.
    s3: Option<S3Sink>,
}

impl Destinations {
    /// One sink for everything (tests, tools).
    pub fn single(sink: Arc<dyn Sink>, prefix: &str) -> Destinations {
        Destinations {
            default: (sink, prefix.to_string()),
            tenants: HashMap::new(),
            s3: None,
        }
    }

    /// The sinks the configuration names. An S3 client is built once and shared by every
    /// bucket.
    pub fn from_config(cfg: &Config) -> Result<Destinations, ShipError> {
        let l = &cfg.lake;
        let mut d = match &l.s3 {
            Some(s3) if l.sink == "s3" => {
                let opts = s3.options().map_err(|e| ShipError::Config(e.to_string()))?;
                let sink = S3Sink::new(opts)?;
                Destinations {
                    default: (Arc::new(sink.clone()), l.prefix.clone()),
                    tenants: HashMap::new(),
                    s3: Some(sink),
                }
            }
            _ => Destinations::single(Arc::new(LocalSink::new(l.dir.clone())), &l.prefix),
        };
        d.set_tenants(cfg.tenants.iter())?;
        Ok(d)
    }

    /// Replaces the per-tenant destinations with those of `tenants` (the live set, when the
    /// control plane changes it). A bucket needs the edge to ship to S3; the control thread
    /// refuses such a tenant before it gets here ([`lake_usable`]).
    pub fn set_tenants<'a>(
        &mut self,
        tenants: impl Iterator<Item = &'a Tenant>,
    ) -> Result<(), ShipError> {
        let mut map = HashMap::new();
        for t in tenants {
            if t.lake == LakeSpec::default() {
                continue;
            }
            let own: Arc<dyn Sink> = match (&t.lake.bucket, &self.s3) {
                (Some(b), Some(s3)) => Arc::new(s3.with_bucket(b)?),
                (Some(b), None) => {
                    return Err(ShipError::Config(format!(
                        "tenant `{}`: bucket `{b}` needs lake.sink = \"s3\"",
                        t.id
                    )));
                }
                (None, _) => self.default.0.clone(),
            };
            let prefix = t
                .lake
                .prefix
                .clone()
                .unwrap_or_else(|| self.default.1.clone());
            map.insert(t.id.to_string(), (own, prefix));
        }
        self.tenants = map;
        Ok(())
    }

    /// The sink and key prefix of a tenant's files.
    pub fn of(&self, tenant: &str) -> (&dyn Sink, &str) {
        let (s, p) = self.tenants.get(tenant).unwrap_or(&self.default);
        (s.as_ref(), p.as_str())
    }

    /// For the start-up log line.
    pub fn describe(&self) -> String {
        format!(
            "{:?} (+{} tenant destinations)",
            self.default.0,
            self.tenants.len()
        )
    }
}
