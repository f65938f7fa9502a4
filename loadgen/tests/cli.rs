//! The loadgen's command line refuses a run it cannot open the sockets for, before it starts.

use std::process::Command;

/// `OWN_FILES` in `src/main.rs`: what the loadgen keeps open besides one socket per session.
const OWN_FILES: u64 = 128;

/// Runs the loadgen for `sessions` under an open-file limit of `nofile` against a port nobody
/// listens on: whether it exited 0, and what it printed (its summary on stdout, errors on
/// stderr).
fn run_under(nofile: u64, sessions: u64) -> (bool, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$0\" && exec \"$1\" --edge ws://127.0.0.1:9/v1/ws --sessions \"$2\" --duration 1s --ramp 0s --seed 1")
        .arg(nofile.to_string())
        .arg(env!("CARGO_BIN_EXE_sentientiq-loadgen"))
        .arg(sessions.to_string())
        .output()
        .expect("run the loadgen");
    let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), printed)
}

/// A socket per session and its own files: at the limit it runs (cap: its summary, exit 0,
/// every connect refused by the closed port), one session more is refused before it starts
/// (cap + 1), naming the limit.
#[test]
fn a_run_needing_more_open_files_than_allowed_is_refused() {
    let sessions = 50;
    let (ok, err) = run_under(sessions + OWN_FILES, sessions);
    assert!(ok && err.contains("sessions 50 (connected 0)"), "{err}");
    let (ok, err) = run_under(sessions + OWN_FILES, sessions + 1);
    assert!(!ok);
    assert!(
        err.contains("--sessions 51 needs about 179 open files (51 sockets and 128 of its own)")
            && err.contains("may open 178"),
        "{err}"
    );
}

/// `--transport mixed`: even sessions over WebSocket, a socket each, the odd ones over the
/// shared `--quic-sockets`: 51 sessions need 26 + 2 sockets. One file short, refused, naming them.
#[test]
fn a_mixed_run_counts_a_socket_per_websocket_session_and_the_shared_quic_sockets() {
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n \"$0\" && exec \"$1\" --edge ws://127.0.0.1:9/v1/ws --sessions 51 --duration 1s --ramp 0s --seed 1 --transport mixed --quic-sockets 2 --quic-pin \"$2\"")
        .arg((26 + 2 + OWN_FILES - 1).to_string())
        .arg(env!("CARGO_BIN_EXE_sentientiq-loadgen"))
        .arg("00".repeat(32))
        .output()
        .expect("run the loadgen");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs about 156 open files (28 sockets and 128 of its own)"),
        "{err}"
    );
}
