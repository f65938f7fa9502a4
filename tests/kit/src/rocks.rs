//! RocksDB stores as RocksDB wrote them, read from their files (no RocksDB here).

/// What RocksDB wrote as its option `key` in the newest OPTIONS file of the database at `dir`.
pub fn option(dir: &std::path::Path, key: &str) -> Option<String> {
    options(dir, key).into_iter().next()
}

/// Every value RocksDB wrote for option `key` in that file, in order: one per column family
/// for a column family's option.
pub fn options(dir: &std::path::Path, key: &str) -> Vec<String> {
    let Some(file) = std::fs::read_dir(dir).ok().and_then(|d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("OPTIONS-"))
            .max_by_key(|e| e.file_name())
    }) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(file.path()).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}="))
                .map(str::to_string)
        })
        .collect()
}

/// The disk space the database's write-ahead logs (`*.log`) hold, reserved space included
/// (`st_blocks`).
pub fn wal_allocated_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.blocks() * 512)
                .sum()
        })
        .unwrap_or(0)
}

/// Asserts that the database at `dir`, written once, keeps its write-ahead log small on disk:
/// each of its `families` column families (the default one included) has a write buffer of
/// `write_buffer` bytes, its logs are capped at `max_total_wal` bytes, and the log's space
/// reserved at its first write follows the buffer (RocksDB reserves 1.1 times it: 70 MiB with
/// its default 64 MiB buffer), at most 5/4 of it.
pub fn assert_wal_bounded(
    dir: &std::path::Path,
    families: usize,
    write_buffer: usize,
    max_total_wal: u64,
) {
    let sizes = options(dir, "write_buffer_size");
    assert_eq!(sizes.len(), families, "{sizes:?}");
    assert!(
        sizes.iter().all(|v| *v == write_buffer.to_string()),
        "{sizes:?}"
    );
    assert_eq!(
        option(dir, "max_total_wal_size"),
        Some(max_total_wal.to_string())
    );
    let wal = wal_allocated_bytes(dir);
    assert!(
        (1..=write_buffer as u64 * 5 / 4).contains(&wal),
        "{wal} bytes of WAL on disk"
    );
}
