//! Which shard owns a session (below every layer that routes to one: ingest, shard, alerts).

/// The shard that owns a session: a hash of (tenant, sid).
pub fn owner(tenant: &str, sid: &str, nshards: usize) -> usize {
    // Stable across processes and versions (the spool is re-partitioned with it).
    let h = fnv1a(tenant.bytes().chain([0u8]).chain(sid.bytes()));
    (h % nshards.max(1) as u64) as usize
}

/// FNV-1a, 64 bits, of `bytes`: a stable hash (not keyed; for placement and seeds, not for
/// maps of values clients choose).
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_stable_and_in_range() {
        // Pinned: the spool is re-partitioned with this function across versions.
        assert_eq!(
            owner("demo", "s_0123456789abcdef", 7),
            owner("demo", "s_0123456789abcdef", 7)
        );
        for n in 1..9 {
            for i in 0..100 {
                assert!(owner("t", &format!("s{i}"), n) < n);
            }
        }
        assert_eq!(owner("t", "s", 0), 0, "no shards: shard 0");
        assert_ne!(
            owner("a", "bc", 1 << 20),
            owner("ab", "c", 1 << 20),
            "the separator counts"
        );
    }
}
