//! The control plane (tonic services, tenant store, EVI). Not built yet: issue 5.
