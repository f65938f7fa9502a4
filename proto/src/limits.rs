//! The limits of PROTOCOL.md §7. A tenant may lower any of them, never raise them.

/// Size and count limits enforced while decoding. Every allocation the decoder makes is bounded
/// by these and by the length of the input, whatever a MessagePack length prefix claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One WebSocket message or QUIC frame, in bytes.
    pub max_frame_bytes: usize,
    /// One `POST /v1/batch` body, in bytes.
    pub max_http_body_bytes: usize,
    /// Samples in one `b` frame.
    pub max_samples: usize,
    /// Bytes in any one string.
    pub max_string_bytes: usize,
    /// Entries in a `b` frame's `s` string table.
    pub max_string_table: usize,
    /// Entries in a `traits` / `props` / `payload` map (and in any collection nested in one).
    pub max_map_entries: usize,
    /// Nesting depth of `traits` / `props` / `payload`: the map itself is depth 1.
    pub max_depth: usize,
    /// Frames in one HTTP batch.
    pub max_http_frames: usize,
}

impl Limits {
    /// The protocol defaults (PROTOCOL.md §7).
    pub const DEFAULT: Limits = Limits {
        max_frame_bytes: 128 * 1024,
        max_http_body_bytes: 256 * 1024,
        max_samples: 4096,
        max_string_bytes: 2048,
        max_string_table: 256,
        max_map_entries: 64,
        max_depth: 2,
        max_http_frames: 256,
    };

    /// Lower these limits to a tenant's: each field becomes the smaller of the two, so a tenant
    /// can tighten but never loosen the protocol's ceilings.
    #[must_use]
    pub fn tightened(self, tenant: &Limits) -> Limits {
        Limits {
            max_frame_bytes: self.max_frame_bytes.min(tenant.max_frame_bytes),
            max_http_body_bytes: self.max_http_body_bytes.min(tenant.max_http_body_bytes),
            max_samples: self.max_samples.min(tenant.max_samples),
            max_string_bytes: self.max_string_bytes.min(tenant.max_string_bytes),
            max_string_table: self.max_string_table.min(tenant.max_string_table),
            max_map_entries: self.max_map_entries.min(tenant.max_map_entries),
            max_depth: self.max_depth.min(tenant.max_depth),
            max_http_frames: self.max_http_frames.min(tenant.max_http_frames),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_can_only_tighten() {
        let tenant = Limits {
            max_samples: 100,
            max_frame_bytes: 1 << 30,
            ..Limits::DEFAULT
        };
        let eff = Limits::DEFAULT.tightened(&tenant);
        assert_eq!(eff.max_samples, 100);
        assert_eq!(eff.max_frame_bytes, 128 * 1024);
    }
}
