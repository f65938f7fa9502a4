//! Where a spool written with direct I/O puts its bytes (a pure decision): whole blocks from the
//! block holding the spool's end, and zeros written ahead of the records so that the next
//! writes land on blocks already written. The edge's committer (`Segment::Direct`,
//! `edge/server/src/shard/committer.rs`), the durable floor (`floor-uring --direct`) and
//! `sentientiq-spool-write` (`bench/`) share it, so what the bench measures is what the edge
//! does.

/// The block a direct write is made of, at least: the machine's pages, and the physical
/// block of the disks this runs on (`/sys/block/*/queue/physical_block_size` is 4096 on the
/// bench VMs), so a write never makes the disk read a block to change part of it.
pub const BLOCK: u64 = 4096;

/// Zeros are written this far ahead of a direct segment's records, a chunk of this size at a
/// time ([`zeros_due`]).
///
/// Issue 20: a direct write that reaches reserved space never written is not an overwrite to
/// ext4 (its extents must be converted, a journal change), so io_uring hands it to an io-wq
/// worker as it did buffered writes; a direct write into blocks already written is submitted
/// by the shard itself. `sentientiq-spool-write` (3 000 commits of 16 000 bytes, back to back,
/// counted by the `io_uring_queue_async_work` tracepoint): 3 025 hand-offs through the page
/// cache, 2 931 into reserved space, 71 into space zeroed beforehand, 25 with zeros written
/// ahead as here (`bench/runs/2026-12-07-vm/session45/spool-write/punts.txt`). One zero write
/// per chunk, while a commit's appends gather, pays that conversion once per 64 commits of
/// 16 000 bytes instead of every time. The chunk's size is a choice, not a
/// calibration: one flush of the disk per MiB, one MiB of zeros allocated at a time.
pub const ZERO_AHEAD: u64 = 1 << 20;

/// A direct write's place: `n` new bytes at `off` go out as whole blocks of `block` bytes from
/// the block holding `off` (its first `off % block` bytes, already written, again) to the end of
/// the block holding the last new byte. Returns where the write begins and its length.
pub fn blocks(off: u64, n: u64, block: u64) -> (u64, u64) {
    let start = off - off % block;
    let end = (off + n).div_ceil(block) * block;
    (start, end - start)
}

/// The zeros due before the next write of a spool whose records end at `off` and whose blocks
/// below `zeroed` are written: once the records come within [`ZERO_AHEAD`] of `zeroed`, a chunk
/// of [`ZERO_AHEAD`] at `zeroed`, cut at `limit` (where zeros may go no further: the space
/// reserved, in whole blocks). `None` when none are due or `zeroed` has reached `limit`.
pub fn zeros_due(off: u64, zeroed: u64, limit: u64) -> Option<u64> {
    if zeroed >= limit || zeroed >= off.saturating_add(ZERO_AHEAD) {
        None
    } else {
        Some(ZERO_AHEAD.min(limit - zeroed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_write_covers_whole_blocks_from_the_one_holding_the_end() {
        // Ends one short of a block, at it, and one past it.
        assert_eq!(blocks(0, 4095, 4096), (0, 4096));
        assert_eq!(blocks(0, 4096, 4096), (0, 4096));
        assert_eq!(blocks(0, 4097, 4096), (0, 8192));
        // From inside a block: its written part again.
        assert_eq!(blocks(4095, 1, 4096), (0, 4096));
        assert_eq!(blocks(4096, 1, 4096), (4096, 4096));
        assert_eq!(blocks(4097, 4095, 4096), (4096, 4096));
        assert_eq!(blocks(4097, 4096, 4096), (4096, 8192));
    }

    #[test]
    fn zeros_are_due_within_one_chunk_of_the_written_end_and_stop_at_the_limit() {
        let z = ZERO_AHEAD;
        // The records' end one byte short of a chunk below `zeroed`, at it, one past it.
        assert_eq!(zeros_due(z, 2 * z, u64::MAX), None);
        assert_eq!(zeros_due(z - 1, 2 * z, u64::MAX), None);
        assert_eq!(zeros_due(z + 1, 2 * z, u64::MAX), Some(z));
        // Cut at the limit: one block short of it, at it, past it.
        assert_eq!(zeros_due(0, 0, z + 4096), Some(z));
        assert_eq!(zeros_due(z, z, z + 4096), Some(4096));
        assert_eq!(zeros_due(z, z + 4096, z + 4096), None);
        assert_eq!(zeros_due(z, z + 8192, z + 4096), None);
    }
}
