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
