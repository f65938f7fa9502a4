//! How the C allocator (glibc's malloc, the edge's allocator) gives freed memory back.
//!
//! glibc serves a block of at least its *mmap threshold* with a mapping of its own, unmapped
//! when the block is freed. The threshold starts at 128 KiB, but by default glibc raises it to
//! the size of every mapped block freed, up to 32 MiB on 64-bit, and raises the heap's trim
//! threshold to twice that (mallopt(3), `M_MMAP_THRESHOLD`). The lake shipper frees blocks of
//! megabytes at every flush (a flush's Arrow arrays, a row group's encoded pages), so after its
//! first flushes such blocks came from the heap, and the heap kept the memory of the shipper's
//! largest burst: the edge's peak RSS stayed at it.
//!
//! [`release_freed_memory`] fixes both thresholds at [`RELEASE_BYTES`], which also turns the
//! dynamic raising off. Measured (`bench/runs/2026-12-05-vm/README.md`, "Twenty-sixth
//! session", `session26/landed/`): the edge's peak RSS at `ws-10k-ramp10` 249.3–250.7 →
//! 234.1–234.8 MB in three alternated pairs, CPU per frame within the spread (+4.4, −7.2 and
//! −11.6 % by pair); shipping a recorded spool, 144.8–150.9 → 123.4–123.7 MB.

/// Blocks of at least this many bytes are mapped on their own and unmapped when freed; free
/// memory above this at a heap's top is trimmed. glibc's own initial default for the mmap
/// threshold (mallopt(3)); kept fixed instead of raised.
pub const RELEASE_BYTES: i32 = 128 * 1024;

/// Sets glibc's mmap and trim thresholds to [`RELEASE_BYTES`]. Call it first in `main`, before
/// any thread starts. Returns whether glibc accepted both (`false` on other C libraries, where
/// there is nothing to set). It runs after glibc has read `GLIBC_TUNABLES`, so it overrides
/// `glibc.malloc.mmap_threshold` and `glibc.malloc.trim_threshold` given there.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_freed_memory() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: mallopt(3) only sets the allocator's parameters, under its own lock; it takes
    // plain integers and touches no memory of ours.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, RELEASE_BYTES) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, RELEASE_BYTES) == 1
    }
}

/// Other C libraries: nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_freed_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// glibc takes both settings (mallopt returns 1 for each); their effect on memory is
    /// measured in the bench record, not here: this process's other test threads allocate
    /// meanwhile.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_takes_the_thresholds() {
        assert!(release_freed_memory());
    }
}
