//! What the running kernel is, for tests whose subject it may lack. Read from the release
//! string, independently of the probes under test (glommio's, the edge's): a test that accepts a
//! refusal as "this kernel cannot" checks here that the kernel indeed cannot.

/// io_uring min-wait (`IORING_FEAT_MIN_TIMEOUT`) arrived in Linux 6.12.
pub const MIN_WAIT_SINCE: (u32, u32) = (6, 12);

/// The running kernel's major and minor version (`/proc/sys/kernel/osrelease`, e.g.
/// `6.18.44-fc-v1252`).
pub fn release() -> (u32, u32) {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("kernel release");
    parse_release(&s).unwrap_or_else(|| panic!("kernel release {s:?}: not MAJOR.MINOR…"))
}

fn parse_release(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether a refusal for lack of io_uring min-wait is what this kernel calls for: panics if the
/// kernel is new enough to have it (the probe or the code that consults it is broken), else
/// records that `test` did not run ([`skipped`]). Distribution kernels older than 6.12 with
/// min-wait backported pass the probe and run the test, so they never reach this.
pub fn refused_for_min_wait(test: &str, why: &str) {
    let (major, minor) = release();
    assert!(
        (major, minor) < MIN_WAIT_SINCE,
        "{test}: refused for lack of io_uring min-wait on Linux {major}.{minor}, which has it: {why}"
    );
    skipped(
        test,
        &format!("Linux {major}.{minor} has no io_uring min-wait ({why})"),
    );
}

/// The environment variable naming the file where skipped tests are listed, a line each
/// (`scripts/run-tests.sh` sets it and counts them: libtest shows a passing test's stderr only
/// with `--show-output`).
pub const SKIPS_FILE: &str = "SIQ_TEST_SKIPS";

/// Says on stderr that `test` did not run and why, and lists it in [`SKIPS_FILE`] if set.
pub fn skipped(test: &str, why: &str) {
    let line = skip_line(test, why);
    eprint!("{line}");
    if let Some(path) = std::env::var_os(SKIPS_FILE) {
        append(std::path::Path::new(&path), &line)
            .unwrap_or_else(|e| panic!("{SKIPS_FILE}={path:?}: {e}"));
    }
}

/// `skipped TEST: WHY` on one line.
fn skip_line(test: &str, why: &str) -> String {
    format!("skipped {test}: {}\n", why.replace('\n', " "))
}

/// One write with `O_APPEND`: lines from tests running at once do not interleave.
fn append(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_listed_a_line_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("skips");
        append(
            &path,
            &skip_line("a", "Linux 6.1 has no io_uring min-wait (log:\nline 2)"),
        )
        .expect("first");
        append(&path, &skip_line("b", "Linux 6.1 has no io_uring min-wait")).expect("second");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "skipped a: Linux 6.1 has no io_uring min-wait (log: line 2)\n\
             skipped b: Linux 6.1 has no io_uring min-wait\n"
        );
    }

    #[test]
    fn releases_parse_to_major_and_minor() {
        assert_eq!(parse_release("6.18.44-fc-v1252\n"), Some((6, 18)));
        assert_eq!(parse_release("6.1.0-28-amd64"), Some((6, 1)));
        assert_eq!(parse_release("6.12"), Some((6, 12)));
        assert_eq!(parse_release("6"), None);
        assert_eq!(parse_release("x.y"), None);
        // cap − 1, cap, cap + 1 against 6.12.
        assert!(parse_release("6.11.9").expect("parses") < MIN_WAIT_SINCE);
        assert!(parse_release("6.12.0").expect("parses") >= MIN_WAIT_SINCE);
        assert!(parse_release("6.13.1").expect("parses") >= MIN_WAIT_SINCE);
    }
}
