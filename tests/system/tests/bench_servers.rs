//! The bench's comparison servers (`bench/`), which every capacity figure in the bench record
//! is judged against, speak enough siq/1 for the loadgen and do the work they claim:
//! `sentientiq-baseline` dedups, detects and acks a frame only once its record is in its spool;
//! `--floor`, `sentientiq-floor-glommio` and `sentientiq-floor-uring` ack at once and store
//! nothing, unless `sentientiq-floor-uring` is given a spool (`--spool`): then it acks only what
//! its group commit has written. Real processes and real sockets, as the bench runs them.

use std::path::Path;
use std::time::Duration;

use sentientiq_proto::EdgeFrame;
use sentientiq_testkit::DEMO_KEY;
use sentientiq_testkit::bins::bin;
use sentientiq_testkit::frames::{moves, rage};
use sentientiq_testkit::net::free_port;
use sentientiq_testkit::proc::Proc;
use sentientiq_testkit::wait::wait_for;
use sentientiq_testkit::ws::{Client, rages};

/// The comparison servers read a socket as the edge does (the baseline's WebSocket settings, the
/// io_uring floor's receives): a difference in their CPU or memory is the design, not a buffer.
#[test]
fn the_comparison_servers_read_as_much_at_once_as_the_edge() {
    assert_eq!(
        sentientiq_bench::servers::READ_BUFFER,
        sentientiq_edge::ingest::ws::WS_READ_BYTES
    );
    assert_eq!(
        sentientiq_bench::servers::ws_config().read_buffer_size,
        sentientiq_edge::ingest::ws::WS_READ_BYTES
    );
}

/// Starts one of the bench's servers on a free port; returns it with the port once it accepts.
fn serve(name: &str, extra: &[&str], dir: &Path) -> (Proc, u16) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["--listen", &listen];
    args.extend_from_slice(extra);
    let p = Proc::spawn_args(bin(name), &args, dir.join(format!("{name}.log")));
    wait_for(
        &format!("{name} listening"),
        Duration::from_secs(20),
        || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
    );
    (p, port)
}

fn connect(port: u16) -> Client {
    Client::connect(port, &[]).expect("websocket handshake")
}

/// The spool's size; the baseline appends one record of 40 bytes of header plus the frame for
/// every new frame.
fn spool_bytes(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("spool.log")).map_or(0, |m| m.len())
}

#[test]
fn the_baseline_stores_a_frame_before_its_ack_dedups_and_detects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let (_server, port) = serve("sentientiq-baseline", &["--data", &data_arg], dir.path());

    let mut c = connect(port);
    let w = c.hello(DEMO_KEY, "s_bench_baseline_0001", None);
    assert_eq!(w.ack.0, 0, "a new session starts at 0");
    assert_eq!(spool_bytes(&data), 0);

    c.send(&moves(1, 20));
    c.until_ack(1);
    let stored = spool_bytes(&data);
    let frame_len = sentientiq_proto::client_to_vec(&moves(1, 20)).len() as u64;
    assert_eq!(
        stored,
        40 + frame_len,
        "the frame's record is in the spool when it is acked"
    );

    // A resent frame is acked again and not stored twice.
    c.send(&moves(1, 20));
    c.until_ack(1);
    assert_eq!(spool_bytes(&data), stored, "a duplicate was stored");

    // The core's detection runs: five quick clicks are rage (the core may escalate within the
    // frame, so one detection or more), and a resent frame is not detected again.
    c.send(&rage(2));
    let other = c.until_ack(2);
    assert!(rages(&other) >= 1, "{other:?}");
    assert!(spool_bytes(&data) > stored);
    c.send(&rage(2));
    let again = c.until_ack(2);
    assert!(
        again.is_empty(),
        "a duplicate was processed again: {again:?}"
    );

    // A reconnect resumes after what was acked.
    drop(c);
    let mut again = connect(port);
    let w = again.hello(DEMO_KEY, "s_bench_baseline_0001", None);
    assert_eq!(w.ack.0, 2, "the session's high seq survives the connection");
}

#[test]
fn the_floors_ack_at_once_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let tokio_floor = serve(
        "sentientiq-baseline",
        &["--floor", "--data", &data_arg],
        dir.path(),
    );
    let glommio_floor = serve("sentientiq-floor-glommio", &["--shards", "1"], dir.path());
    let uring_floor = serve("sentientiq-floor-uring", &["--shards", "1"], dir.path());
    for (name, port) in [
        ("tokio", tokio_floor.1),
        ("glommio", glommio_floor.1),
        ("io_uring", uring_floor.1),
    ] {
        let mut c = connect(port);
        c.hello(DEMO_KEY, "s_bench_floor_000001", None);
        c.send(&rage(1));
        let other = c.until_ack(1);
        assert!(
            other.iter().all(|f| !matches!(f, EdgeFrame::Det(_))),
            "the {name} floor detected something: {other:?}"
        );
        c.send(&moves(2, 5));
        c.until_ack(2);
    }
    assert_eq!(spool_bytes(&data), 0, "the tokio floor wrote its spool");
}

#[test]
fn a_wrong_write_key_gets_no_welcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let servers = [
        serve("sentientiq-baseline", &["--data", &data_arg], dir.path()),
        serve("sentientiq-floor-glommio", &["--shards", "1"], dir.path()),
        serve("sentientiq-floor-uring", &["--shards", "1"], dir.path()),
    ];
    for (_, port) in &servers {
        let mut c = connect(*port);
        c.send(&sentientiq_proto::ClientFrame::Hello(
            sentientiq_testkit::frames::hello(
                "siq_pk_other_0000000000000000000",
                "s_bench_key_0000001",
                None,
            ),
        ));
        // The servers drop the connection (no close frame): `recv` is `None` either way.
        if let Some(f) = c.recv() {
            panic!("port {port}: a wrong key was answered with {f:?}");
        }
    }
}

/// `sentientiq-floor-uring` parses WebSocket by hand: every length form, messages pipelined in
/// one write (their acks leave in one send, in order), a ping, and the size cap at
/// cap−1, cap and cap+1 (`Limits::DEFAULT.max_frame_bytes`; over it the connection is closed).
#[test]
fn the_io_uring_floor_frames_websocket_messages_of_every_length() {
    use async_tungstenite::tungstenite::{self, Message};

    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port) = serve("sentientiq-floor-uring", &["--shards", "1"], dir.path());
    let cap = sentientiq_proto::Limits::DEFAULT.max_frame_bytes;
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_uring_000001", None);

    // 7-bit and 16-bit lengths, each acked.
    let small = sentientiq_proto::client_to_vec(&moves(1, 2));
    let medium = sentientiq_proto::client_to_vec(&moves(2, 400));
    assert!(small.len() < 126 && (126..=65_535).contains(&medium.len()));
    c.send(&moves(1, 2));
    c.until_ack(1);
    c.send(&moves(2, 400));
    c.until_ack(2);

    // A 64-bit length: bytes that are no frame are skipped (no reply), and the frame after
    // them is found and acked. At cap−1 and at the cap the connection stays.
    for n in [70_000, cap - 1, cap] {
        c.send_raw(Message::Binary(vec![0xc1; n].into()));
    }
    c.send(&moves(3, 2));
    let other = c.until_ack(3);
    assert!(
        other.is_empty(),
        "bytes that are no frame were answered: {other:?}"
    );

    // Pipelined: fifty messages in one write, fifty acks in order.
    for seq in 4..54 {
        let m = sentientiq_proto::client_to_vec(&moves(seq, 3));
        c.ws.write(Message::Binary(m.into())).expect("queue");
    }
    c.ws.flush().expect("flush");
    for seq in 4..54 {
        assert_eq!(
            c.frame(),
            EdgeFrame::Ack {
                seq: sentientiq_proto::Seq(seq)
            }
        );
    }

    // A ping is answered with its payload.
    c.send_raw(Message::Ping(b"floor".to_vec().into()));
    let pong = loop {
        match c.ws.read().expect("read") {
            Message::Pong(p) => break p,
            Message::Binary(b) => panic!("unexpected {b:?}"),
            _ => {}
        }
    };
    assert_eq!(&pong[..], b"floor");

    // One byte over the cap closes the connection (a reset, as it is closed with bytes
    // unread; the send itself may already see it); the floor goes on serving others.
    let _ = c.ws.send(Message::Binary(vec![0xc1; cap + 1].into()));
    loop {
        match c.ws.read() {
            Ok(Message::Close(_))
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                break;
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                break;
            }
            Ok(Message::Binary(b)) => panic!("answered after a message over the cap: {b:?}"),
            Ok(_) => {}
            Err(e) => panic!("the connection was not closed: {e}"),
        }
    }
    let mut d = connect(port);
    d.hello(DEMO_KEY, "s_bench_uring_000002", None);
    d.send(&moves(1, 2));
    d.until_ack(1);

    // Connections dropped with a receive armed (and one mid-handshake) free their slots for
    // new ones, which are served.
    let gone: Vec<Client> = (0..20)
        .map(|i| {
            let mut g = connect(port);
            g.hello(DEMO_KEY, &format!("s_bench_uring_gone{i:02}"), None);
            g
        })
        .collect();
    drop(gone);
    drop(std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    for i in 0..20 {
        let mut n = connect(port);
        n.hello(DEMO_KEY, &format!("s_bench_uring_next{i:02}"), None);
        n.send(&moves(1, 2));
        n.until_ack(1);
    }
    d.send(&moves(2, 2));
    d.until_ack(2);
}

/// The io_uring floor with one shard and a spool committed every `commit_ms`, its port and
/// its shard's spool file; `extra` adds flags (`--direct`).
fn durable_floor(dir: &Path, commit_ms: u32, extra: &[&str]) -> (Proc, u16, std::path::PathBuf) {
    let spool = dir.join("spool");
    let (spool_arg, commit) = (spool.to_string_lossy().into_owned(), commit_ms.to_string());
    let mut args = vec![
        "--shards",
        "1",
        "--spool",
        &spool_arg,
        "--commit-ms",
        &commit,
    ];
    args.extend_from_slice(extra);
    let (p, port) = serve("sentientiq-floor-uring", &args, dir);
    (p, port, spool.join("shard-0.spool"))
}

/// The frames in a floor's spool file, in order: records of 40 bytes of header (a length,
/// then zeros) and the frame, up to the file's end or a length of 0 (the zeros a direct spool
/// ends in).
fn spooled_frames(file: &Path) -> Vec<u8> {
    let bytes = std::fs::read(file).expect("read the spool");
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 {
            assert!(
                bytes[at..].iter().all(|&b| b == 0),
                "a direct spool ends in zeros, with nothing after them"
            );
            break;
        }
        assert!(bytes[at + 4..at + 40].iter().all(|&b| b == 0));
        frames.extend_from_slice(&bytes[at + 40..at + len]);
        at += len;
    }
    frames
}

/// `--spool DIR`: the io_uring floor with the edge's durable group commit and nothing else. An
/// ack comes only once its frame's record is in the shard's spool file, whose records have the
/// baseline's layout (40 bytes of header, then the frame); frames keep their order, through a
/// commit of one frame, one of many that crosses several 4 KiB blocks, and one after it.
fn a_durable_floor_acks_only_what_it_has_written(extra: &[&str], id: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port, file) = durable_floor(dir.path(), 200, extra);
    let size = || std::fs::metadata(&file).map_or(0, |m| m.len());
    let mut c = connect(port);
    c.hello(DEMO_KEY, id, None);
    assert_eq!(size(), 0, "a hello is not stored");

    let mut stored = Vec::new();
    for seq in 1..=3 {
        let f = moves(seq, 20);
        stored.extend_from_slice(&sentientiq_proto::client_to_vec(&f));
        c.send(&f);
    }
    assert_eq!(
        c.frame(),
        EdgeFrame::Ack {
            seq: sentientiq_proto::Seq(1)
        }
    );
    let first = sentientiq_proto::client_to_vec(&moves(1, 20));
    assert!(
        spooled_frames(&file).starts_with(&first),
        "frame 1 was acked before its record was written"
    );
    c.until_ack(3);
    assert_eq!(
        spooled_frames(&file),
        stored,
        "the records are the frames, in order"
    );

    // Many frames in one commit, across several blocks, then one more.
    for seq in 4..=60 {
        let f = moves(seq, 40);
        stored.extend_from_slice(&sentientiq_proto::client_to_vec(&f));
        c.send(&f);
    }
    c.until_ack(60);
    assert!(
        stored.len() > 3 * 4096,
        "{} bytes span several blocks",
        stored.len()
    );
    assert_eq!(
        spooled_frames(&file),
        stored,
        "after a commit of many blocks"
    );
    let f = moves(61, 3);
    stored.extend_from_slice(&sentientiq_proto::client_to_vec(&f));
    c.send(&f);
    c.until_ack(61);
    assert_eq!(
        spooled_frames(&file),
        stored,
        "after the block holding the end is written again"
    );
}

#[test]
fn the_io_uring_floor_with_a_spool_acks_only_what_it_has_written() {
    a_durable_floor_acks_only_what_it_has_written(&[], "s_bench_uring_spool1");
}

/// `--direct`: the same, written as the edge writes its segments (`O_DIRECT`, whole blocks,
/// space reserved and zeros written ahead): the file is its reservation, ending in zeros.
#[test]
fn the_io_uring_floor_with_a_direct_spool_acks_only_what_it_has_written() {
    a_durable_floor_acks_only_what_it_has_written(&["--direct"], "s_bench_uring_spool2");
    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port, file) = durable_floor(dir.path(), 5, &["--direct"]);
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_uring_spool3", None);
    c.send(&moves(1, 20));
    c.until_ack(1);
    assert_eq!(
        std::fs::metadata(&file).expect("the spool").len(),
        64 << 20,
        "the direct spool reserves 64 MiB at a time"
    );
}

/// A held ack belongs to its connection: one that closed before its commit gets nothing, and
/// its ack does not go to the next connection in its slot.
#[test]
fn the_io_uring_floor_sends_a_held_ack_to_its_own_connection_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port, _) = durable_floor(dir.path(), 1000, &[]);
    let mut gone = connect(port);
    gone.hello(DEMO_KEY, "s_bench_uring_gone01", None);
    let held = std::time::Instant::now();
    gone.send(&moves(7, 2));
    // Half-close and read to the end: the floor closes its side only when it frees the slot,
    // so the next connection is known to take that slot (the only one, the last freed). No
    // sleep decides it. (Read from the socket itself: nothing but the end may come, and a
    // read timeout is an error here, not an end.)
    let tcp = gone.ws.get_mut();
    tcp.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(tcp, &mut rest).expect("the floor closes the connection");
    assert!(rest.is_empty(), "nothing after the welcome: {rest:?}");
    drop(gone);
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_uring_next01", None);
    // The next connection was in the slot before ack 7's commit (1 s after the floor read
    // frame 7, which was after `held`) released it: the guard below was put to the test.
    assert!(
        held.elapsed() < Duration::from_millis(1000),
        "too slow to test the guard: {:?} from frame 7 to the next welcome",
        held.elapsed()
    );
    c.send(&moves(1, 2));
    assert_eq!(
        c.frame(),
        EdgeFrame::Ack {
            seq: sentientiq_proto::Seq(1)
        }
    );
}

/// `--batch-us`: completions gathered for up to that long per wait; acks still come, one by
/// one and pipelined.
#[test]
fn the_io_uring_floor_acks_with_batched_waits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port) = serve(
        "sentientiq-floor-uring",
        &["--shards", "1", "--batch-us", "500"],
        dir.path(),
    );
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_uring_batch1", None);
    for seq in 1..=5 {
        c.send(&moves(seq, 2));
        c.until_ack(seq);
    }
}

/// `--batch-want K`: waits gather only while the shard's completions say at least K arrive per
/// window. Busy, it starts gathering; idle, it returns to waking per completion; acks come
/// throughout. The floor logs each switch.
#[test]
fn the_io_uring_floor_gathers_only_while_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_floor, port) = serve(
        "sentientiq-floor-uring",
        &["--shards", "1", "--batch-us", "2000", "--batch-want", "2"],
        dir.path(),
    );
    let log = dir.path().join("sentientiq-floor-uring.log");
    // Every switch the floor logged, in order: the window its waits gather for from then on.
    let switches = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("waits gather for ").nth(1))
            .map(|w| w.trim_end_matches(" µs").to_string())
            .collect()
    };
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_uring_busy01", None);
    assert!(switches().is_empty(), "gathering before any load");

    // Frame, ack, frame, ack for four periods: far more than one completion a millisecond.
    let mut seq = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_millis(400) {
        seq += 1;
        c.send(&moves(seq, 2));
        c.until_ack(seq);
    }
    wait_for("the floor to gather", Duration::from_secs(5), || {
        switches().first().map(String::as_str) == Some("2000")
    });

    // Idle past a period, then one frame: the wait that brings it ends the gathering.
    std::thread::sleep(Duration::from_millis(300));
    seq += 1;
    c.send(&moves(seq, 2));
    c.until_ack(seq);
    wait_for(
        "the floor to stop gathering",
        Duration::from_secs(5),
        || switches().last().map(String::as_str) == Some("0"),
    );
}

/// `--batch-want` means nothing without a window: refused, not ignored; and a value that is
/// not a number, of the floors' shared flags or of its own, is refused naming the flag.
#[test]
fn the_io_uring_floor_refuses_batch_want_without_batch_us_and_bad_numbers() {
    for (args, said) in [
        (&["--batch-want", "2"][..], "--batch-want needs --batch-us"),
        (
            &["--batch-us", "1.5"],
            "--batch-us N: \"1.5\": invalid digit found in string",
        ),
        (
            &["--shards", "x"],
            "--shards N: \"x\": invalid digit found in string",
        ),
        (&["--commit-ms"], "--commit-ms N: the value is missing"),
    ] {
        let out = std::process::Command::new(bin("sentientiq-floor-uring"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .expect("run the floor");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said), "{args:?}: {err}");
    }
}

/// `--threads N` sets the baseline's tokio workers: 3 (no machine here has 3 cores, so not the
/// default) runs 3 and serves as the default does (a frame stored, then acked); 0, a word, and a
/// `--commit-ms` that is not a number are refused, naming the flag and the value.
#[test]
fn the_baseline_takes_its_worker_threads_and_refuses_a_bad_number_naming_its_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_string_lossy().into_owned();
    let (server, port) = serve(
        "sentientiq-baseline",
        &["--data", &data_arg, "--threads", "3"],
        dir.path(),
    );
    // tokio names its workers `tokio-rt-worker` (this tokio; was `tokio-runtime-worker`); the
    // baseline has no blocking-pool work, and its spool writer, a plain thread, has the
    // process's name.
    let pid = server.pid().expect("running");
    let workers = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("tokio-r"))
        .count();
    assert_eq!(workers, 3, "tokio workers");
    let mut c = connect(port);
    c.hello(DEMO_KEY, "s_bench_threads_0001", None);
    c.send(&moves(1, 20));
    c.until_ack(1);
    let frame_len = sentientiq_proto::client_to_vec(&moves(1, 20)).len() as u64;
    assert_eq!(
        spool_bytes(&data),
        40 + frame_len,
        "the frame was stored before its ack"
    );
    for (flag, bad, said) in [
        ("--threads", "0", "--threads must be at least 1"),
        (
            "--threads",
            "two",
            "--threads N: \"two\": invalid digit found in string",
        ),
        (
            "--commit-ms",
            "2ms",
            "--commit-ms N: \"2ms\": invalid digit found in string",
        ),
    ] {
        // A baseline that took the value would serve on: the wait fails the test after 20 s,
        // and `Proc` stops it.
        let mut p = Proc::spawn_args(
            bin("sentientiq-baseline"),
            &["--listen", "127.0.0.1:0", "--data", &data_arg, flag, bad],
            dir.path().join(format!("{flag}-{bad}.log")),
        );
        let mut status = None;
        wait_for(
            &format!("{flag} {bad} refused"),
            Duration::from_secs(20),
            || {
                status = p.exited();
                status.is_some()
            },
        );
        let err = p.log();
        assert!(
            status.is_some_and(|s| !s.success()),
            "{flag} {bad} was not refused: {err}"
        );
        assert!(err.contains(said), "{flag} {bad}: {err}");
    }
}
