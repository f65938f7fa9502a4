//! The workspace's binaries, beside the running test (or testbed) executable.

use std::path::PathBuf;

/// `target/<profile>/<name>`: tests run from `target/<profile>/deps/`. `SIQ_BIN_DIR` points
/// elsewhere (another build, for before/after figures).
pub fn bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("SIQ_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("the running executable");
            let mut dir = exe.parent().expect("its directory").to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace's binaries first (`cargo build --workspace --all-targets --all-features`, as `make test` does)",
        p.display()
    );
    p
}
