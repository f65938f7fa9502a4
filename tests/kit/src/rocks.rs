//! RocksDB stores as RocksDB wrote them, read from their files (no RocksDB here).

/// What RocksDB wrote as its option `key` in the newest OPTIONS file of the database at `dir`.
pub fn option(dir: &std::path::Path, key: &str) -> Option<String> {
    let options = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("OPTIONS-"))
        .max_by_key(|e| e.file_name())?;
    let text = std::fs::read_to_string(options.path()).ok()?;
    text.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("{key}="))
            .map(str::to_string)
    })
}
