//! `sentientiq-floor-uring`: the least a thread-per-core server can spend to receive a frame and
//! send its ack on this machine, without an async runtime. It answers one question issue 20
//! leaves open: is the transport floor the two other floors measure (tokio's, glommio's) this
//! machine's, or their runtimes'?
//!
//! One thread per core, pinned (as the edge's `MaxSpread`), each with its own `SO_REUSEPORT`
//! listener and its own io_uring (`SINGLE_ISSUER`, `DEFER_TASKRUN`: completions are run only when
//! the thread asks for them, no task-work interrupts). One multishot accept per thread; one
//! receive per connection armed at a time into the connection's own buffer (the kernel polls the
//! socket internally, no worker thread); every ack produced while reaping one batch of
//! completions goes out with one send per connection, and all of a batch's submissions and the
//! wait for the next share one `io_uring_enter`. WebSocket is parsed by hand (server side:
//! masked client frames, whole messages, the handshake's `Sec-WebSocket-Accept`); each binary
//! message is decoded for its seq and acked, as the other two floors do. No session routing,
//! detection, identity or lake shipping; no spool unless asked for (`--spool`, below).
//!
//! It is a bench tool, not a server to run: fragmented messages and messages over
//! `Limits::DEFAULT.max_frame_bytes` close the connection.
//!
//! ```text
//! sentientiq-floor-uring --listen 127.0.0.1:7400 [--shards N] [--key KEY] [--batch-us N [--batch-want K]]
//!                        [--spool DIR [--commit-ms N] [--direct]]
//! ```
//!
//! `--spool DIR` adds the durable write, as the edge does it and nothing else: each shard
//! appends every acked frame as a record of the edge's spool layout (the baseline's too: 40
//! bytes of header, then the frame) to its own file in DIR, opened `O_DSYNC`, and group-commits:
//! the first record after an idle spell starts a `--commit-ms` timer (2 ms, the edge's and the
//! baseline's), its expiry writes everything gathered with one io_uring write, and the acks wait
//! for that write to complete. Records that arrive while a write is in flight start the next
//! timer when it completes. This is the edge committer's cycle (`edge/server/src/shard/
//! committer.rs`) without segments, recovery or the lake: the least a thread-per-core server
//! spends for "never ack before durable" on this machine.
//!
//! With `--direct` the spool file is written as the edge has written its segments since
//! 2026-12-07 (`Segment::Direct` in the committer): opened `O_DIRECT | O_DSYNC`, its space
//! reserved with `fallocate` 64 MiB at a time (the edge reserves each 64 MiB segment when it
//! makes it; here, once the records or the zeros would pass the reservation), each commit
//! written as whole 4 KiB blocks from the block holding the file's end (that block's earlier
//! bytes again), and 1 MiB of zeros written ahead of the records while a commit's records
//! gather, once the records come within 1 MiB of the written blocks' end, so commits land on
//! written blocks (the kernel then completes them without an io-wq worker). A commit due while
//! zeros are being written waits for them, as the edge's does. Without `--direct` the file is
//! written through the page cache, as the edge did until then. A failed reservation or zero
//! write stops the floor (the edge goes on without them: its writes are then slower, not
//! wrong); a bench tool measures only runs where neither happens.
//!
//! `--batch-us N` makes each wait gather completions for up to N µs (io_uring's min-wait,
//! Linux 6.12) before returning on the first: fewer wake-ups per frame, each ack up to N µs
//! later. Without it a thread wakes as soon as one completion is ready. `--batch-want K`
//! gathers only while the thread's completions over the last 100 ms say at least K arrive per
//! window (`sentientiq_core::wait::WaitBatcher`): batching when busy, waking per completion
//! when not.
//!
//! Shard i is pinned to the i-th CPU the process may use (`taskset` is honoured).
//!
//! `BENCH_SERVER=floor-uring scripts/bench-case.sh CASE` serves a case with it.
#![allow(clippy::print_stdout)]
// io_uring takes raw buffers and descriptors: each unsafe block says what keeps it sound.
#![allow(unsafe_code)]

use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use io_uring::{IoUring, cqueue, opcode, squeue, types};
use sentientiq_bench::servers::{FloorArgs, FloorReply, READ_BUFFER, flag_value, floor_reply};
use sentientiq_core::spool_blocks::{BLOCK, ZERO_AHEAD, blocks, zeros_due};
use sentientiq_core::wait::WaitBatcher;
use sentientiq_proto::{EdgeFrame, Limits, Seq, decode_client, encode_edge};

/// The edge's default ring depth (`edge/server/src/config/edge.rs`).
const RING_DEPTH: u32 = 4096;
/// The most completions one wait gathers under `--batch-us`.
const BATCH_WANT: usize = 256;
const ACCEPT: u64 = u64::MAX;
/// The group commit's timer and its write (`--spool`).
const COMMIT_TIMER: u64 = u64::MAX - 1;
const COMMIT_WRITE: u64 = u64::MAX - 2;
/// A write of zeros ahead of the records (`--direct`).
const ZERO_WRITE: u64 = u64::MAX - 3;
/// `--direct`: the space reserved at a time, the edge's default `spool_segment_bytes`
/// (`edge/server/src/config/edge.rs`). Blocks and zeros are placed as the edge places them
/// (`sentientiq_core::spool_blocks`).
const RESERVE: u64 = 64 << 20;
/// The edge's spool record header (`edge/server/src/storage/spool.rs`), as the baseline writes it.
const RECORD_HEADER: usize = 40;
const OP_RECV: u64 = 1;
const OP_SEND: u64 = 2;

fn main() -> Result<()> {
    let mut batch_us = 0u32;
    let mut batch_want = 0u32;
    let mut spool_dir: Option<PathBuf> = None;
    let mut commit_ms = 2u64;
    let mut direct = false;
    let FloorArgs {
        listen,
        shards,
        key,
    } = FloorArgs::parse(|a, rest| match a {
        "--batch-us" => {
            batch_us = flag_value(rest, "--batch-us N")?;
            Ok(true)
        }
        "--batch-want" => {
            batch_want = flag_value(rest, "--batch-want K")?;
            Ok(true)
        }
        "--spool" => {
            spool_dir = Some(flag_value(rest, "--spool DIR")?);
            Ok(true)
        }
        "--commit-ms" => {
            commit_ms = flag_value(rest, "--commit-ms N")?;
            Ok(true)
        }
        "--direct" => {
            direct = true;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    if batch_want > 0 && batch_us == 0 {
        bail!("--batch-want needs --batch-us");
    }
    if !(1..=1000).contains(&commit_ms) {
        bail!("--commit-ms is 1..=1000 (the edge's commit_interval_ms range)");
    }
    if direct && spool_dir.is_none() {
        bail!("--direct needs --spool DIR");
    }
    if let Some(d) = &spool_dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let SocketAddr::V4(listen) = listen else {
        bail!("--listen takes an IPv4 address")
    };
    let cpus = allowed_cpus()?;
    eprintln!(
        "floor-uring listening on {listen} with {shards} shards on cpus {cpus:?}, batch {batch_us} µs when {batch_want} per window, spool {}",
        match &spool_dir {
            Some(d) => format!(
                "{} committed every {commit_ms} ms, {}",
                d.display(),
                if direct {
                    "direct"
                } else {
                    "through the page cache"
                }
            ),
            None => "none".into(),
        }
    );
    let threads: Vec<_> = (0..shards)
        .map(|i| -> Result<_> {
            let key = key.clone();
            let cpu = cpus[i % cpus.len()];
            let spool = match &spool_dir {
                Some(d) => Some(Spool::open(d, i, commit_ms, direct)?),
                None => None,
            };
            Ok(std::thread::Builder::new()
                .name(format!("floor-uring-{i}"))
                .spawn(move || {
                    shard(
                        cpu,
                        listen,
                        &key,
                        WaitBatcher::new(batch_us, batch_want),
                        spool,
                    )
                })?)
        })
        .collect::<Result<_>>()?;
    for t in threads {
        match t.join() {
            Ok(r) => r?,
            Err(_) => bail!("a shard panicked"),
        }
    }
    Ok(())
}

/// A negative libc return as an error.
fn check(r: i32, what: &str) -> Result<i32> {
    if r < 0 {
        Err(std::io::Error::last_os_error()).with_context(|| what.to_string())
    } else {
        Ok(r)
    }
}

/// The CPUs this process may run on (as `taskset` left them), in order: shard i is pinned to
/// the i-th (modulo their number), as glommio's `MaxSpread` places the edge's shards.
fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set for the kernel to fill.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        check(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            "sched_getaffinity",
        )?;
        set
    };
    // SAFETY: CPU_ISSET reads inside the set for every index below CPU_SETSIZE.
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect();
    if cpus.is_empty() {
        bail!("no CPU allowed");
    }
    Ok(cpus)
}

fn pin(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        check(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            "sched_setaffinity",
        )?;
    }
    Ok(())
}

fn listener(addr: SocketAddrV4) -> Result<RawFd> {
    let one: libc::c_int = 1;
    let optlen = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns, with valid pointers.
    unsafe {
        let fd = check(
            libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0),
            "socket",
        )?;
        for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            let p = (&one as *const libc::c_int).cast();
            check(
                libc::setsockopt(fd, libc::SOL_SOCKET, opt, p, optlen),
                "setsockopt",
            )?;
        }
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: addr.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*addr.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        check(
            libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), len),
            "bind",
        )?;
        check(libc::listen(fd, 4096), "listen")?;
        Ok(fd)
    }
}

fn nodelay(fd: RawFd) {
    let one: libc::c_int = 1;
    // SAFETY: a valid descriptor and option pointer; failure only costs latency.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

enum Phase {
    Handshake,
    Open,
}

struct Conn {
    fd: RawFd,
    /// Its slot and which connection of that slot it is: a held ack goes to this connection
    /// only, not to one that took the slot after it closed.
    slot: usize,
    nth: u64,
    phase: Phase,
    /// Bytes received and not yet parsed; a receive writes into its spare capacity.
    inb: Vec<u8>,
    /// Replies queued while a send is in flight (or before the batch's sends go out).
    out: Vec<u8>,
    /// What the send in flight is sending, and how much of it has gone.
    sending: Vec<u8>,
    sent: usize,
    recv_inflight: bool,
    send_inflight: bool,
    /// No more receives: the peer closed, sent a close or something over the cap, or a send
    /// failed. What is queued is still sent (unless a send failed); the slot is freed once no
    /// operation on it is in flight.
    closing: bool,
    /// `shutdown(2)` was called to end the receive in flight.
    shut: bool,
    /// Queued in this batch's list of connections with replies to send.
    dirty: bool,
}

struct Shard<'k> {
    ring: IoUring,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    dirty: Vec<usize>,
    key: &'k str,
    scratch: Vec<u8>,
    /// Connections accepted so far (each one's `nth`).
    accepted: u64,
    spool: Option<Spool>,
}

/// Where the group commit is (`--spool`).
#[derive(Clone, Copy, PartialEq)]
enum Commit {
    /// Nothing gathered.
    Idle,
    /// Records gathered; the timer is armed.
    Gathering,
    /// The write is in flight.
    Writing,
}

/// A shard's spool file and group commit (`--spool`).
struct Spool {
    fd: RawFd,
    /// The commit interval, boxed: the kernel reads it while the timer is armed.
    every: Box<types::Timespec>,
    /// Where the next write goes.
    off: u64,
    state: Commit,
    /// Records gathered since the last write began, and the acks (slot, nth, seq) they hold.
    gathered: Vec<u8>,
    held: Vec<(usize, u64, Seq)>,
    /// The write in flight, how much of it is written, and the acks it releases.
    writing: Vec<u8>,
    written: usize,
    releasing: Vec<(usize, u64, Seq)>,
    /// `--direct`: how the file is written.
    direct: Option<Direct>,
}

/// A spool file written `O_DIRECT` (`--direct`).
struct Direct {
    /// The bytes of the block holding the file's end that are already written.
    tail: Vec<u8>,
    /// The commit's blocks: `len` bytes from `at` (aligned to `BLOCK`), written at `start`.
    /// Not touched while its write is in flight.
    raw: Vec<u8>,
    at: usize,
    len: usize,
    start: u64,
    /// Zeros, `ZERO_AHEAD` of them from `zeros_at` (aligned to `BLOCK`).
    zeros: Vec<u8>,
    zeros_at: usize,
    /// The space reserved (`fallocate`), and the end of the blocks written (records or zeros).
    reserved: u64,
    zeroed: u64,
    zero_inflight: bool,
    /// A commit came due while zeros were being written: it starts when they are.
    commit_waiting: bool,
}

/// `len` bytes of `raw`, from an offset aligned to `BLOCK`, growing `raw` if needed. Returns
/// the offset.
fn aligned(raw: &mut Vec<u8>, len: usize) -> Result<usize> {
    if raw.len() < len + BLOCK as usize {
        *raw = vec![0u8; len + BLOCK as usize];
    }
    // `align_offset` may answer "cannot" (usize::MAX); a byte buffer `BLOCK` longer than
    // needed always holds an aligned start otherwise.
    let at = raw.as_ptr().align_offset(BLOCK as usize);
    if at >= BLOCK as usize {
        bail!("no {BLOCK}-byte aligned start in a buffer");
    }
    Ok(at)
}

impl Spool {
    fn open(dir: &Path, shard: usize, commit_ms: u64, direct: bool) -> Result<Spool> {
        let path = dir.join(format!("shard-{shard}.spool"));
        let flags = if direct { libc::O_DIRECT } else { 0 };
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DSYNC | libc::O_CLOEXEC | flags)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // The entry naming the file is durable too, as the edge makes each new segment's
        // (once per file: here at start).
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
        Ok(Spool {
            fd: f.into_raw_fd(),
            every: Box::new(
                types::Timespec::new()
                    .sec(commit_ms / 1000)
                    .nsec(((commit_ms % 1000) * 1_000_000) as u32),
            ),
            off: 0,
            state: Commit::Idle,
            gathered: Vec::new(),
            held: Vec::new(),
            writing: Vec::new(),
            written: 0,
            releasing: Vec::new(),
            direct: match direct {
                false => None,
                true => {
                    let mut zeros = Vec::new();
                    let zeros_at = aligned(&mut zeros, ZERO_AHEAD as usize)?;
                    Some(Direct {
                        tail: Vec::new(),
                        raw: Vec::new(),
                        at: 0,
                        len: 0,
                        start: 0,
                        zeros,
                        zeros_at,
                        reserved: 0,
                        zeroed: 0,
                        zero_inflight: false,
                        commit_waiting: false,
                    })
                }
            },
        })
    }

    /// Reserves space (`fallocate`, `RESERVE` at a time) until the file's reservation reaches
    /// `upto`.
    fn reserve(&mut self, upto: u64) -> Result<()> {
        let fd = self.fd;
        let Some(d) = self.direct.as_mut() else {
            return Ok(());
        };
        while d.reserved < upto {
            // SAFETY: a valid descriptor this spool owns.
            let r = unsafe { libc::fallocate(fd, 0, d.reserved as i64, RESERVE as i64) };
            check(r, "fallocate")?;
            d.reserved += RESERVE;
        }
        Ok(())
    }

    /// Gathers one acked frame's record and holds its ack.
    fn hold_record(&mut self, slot: usize, nth: u64, frame: &[u8], seq: Seq) {
        self.gathered
            .extend_from_slice(&(frame.len() as u32 + RECORD_HEADER as u32).to_le_bytes());
        self.gathered.extend_from_slice(&[0u8; RECORD_HEADER - 4]);
        self.gathered.extend_from_slice(frame);
        self.held.push((slot, nth, seq));
    }
}

fn shard(
    cpu: usize,
    addr: SocketAddrV4,
    key: &str,
    mut batcher: WaitBatcher,
    spool: Option<Spool>,
) -> Result<()> {
    pin(cpu)?;
    let lfd = listener(addr)?;
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(RING_DEPTH)
        .context("io_uring setup")?;
    let batching = batcher.window_us() > 0;
    if batching && !ring.params().is_feature_min_timeout() {
        bail!("--batch-us needs IORING_FEAT_MIN_TIMEOUT (Linux 6.12)");
    }
    let mut s = Shard {
        ring,
        conns: Vec::new(),
        free: Vec::new(),
        dirty: Vec::new(),
        key,
        scratch: Vec::new(),
        accepted: 0,
        spool,
    };
    s.push(
        opcode::AcceptMulti::new(types::Fd(lfd))
            .build()
            .user_data(ACCEPT),
    )?;
    // `--batch-us N`: wait up to N µs for BATCH_WANT completions, then return as soon as there
    // is one (min-wait); with no traffic the thread sleeps until the first, as without it.
    let clock = std::time::Instant::now();
    let mut min_wait = batcher.min_wait_us();
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(RING_DEPTH as usize);
    loop {
        let r = if min_wait > 0 {
            let args = types::SubmitArgs::new().min_wait_usec(min_wait);
            s.ring.submitter().submit_with_args(BATCH_WANT, &args)
        } else {
            s.ring.submit_and_wait(1)
        };
        match r {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::ETIME)) => {}
            Err(e) => return Err(e).context("io_uring_enter"),
        }
        cqes.clear();
        cqes.extend(
            s.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        if batching {
            let now = u64::try_from(clock.elapsed().as_micros()).unwrap_or(u64::MAX);
            let was = min_wait;
            min_wait = batcher.after_wait(now, cqes.len());
            if (was == 0) != (min_wait == 0) {
                eprintln!("floor-uring shard on cpu {cpu}: waits gather for {min_wait} µs");
            }
        }
        for &(ud, res, flags) in &cqes {
            if ud == ACCEPT {
                if res >= 0 {
                    s.accepted(res)?;
                } else {
                    eprintln!("accept: {}", std::io::Error::from_raw_os_error(-res));
                }
                if !cqueue::more(flags) {
                    if res < 0 {
                        // Out of descriptors, say: do not spin on re-arming.
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    s.push(
                        opcode::AcceptMulti::new(types::Fd(lfd))
                            .build()
                            .user_data(ACCEPT),
                    )?;
                }
                continue;
            }
            if ud == COMMIT_TIMER {
                s.commit_due()?;
                continue;
            }
            if ud == COMMIT_WRITE {
                s.committed(res)?;
                continue;
            }
            if ud == ZERO_WRITE {
                s.zeroed(res)?;
                continue;
            }
            let (slot, op) = ((ud >> 2) as usize, ud & 3);
            match op {
                OP_RECV => s.received(slot, res)?,
                OP_SEND => s.sent(slot, res)?,
                _ => bail!("unknown completion {ud:#x}"),
            }
        }
        s.arm_commit()?;
        s.flush()?;
    }
}

impl Shard<'_> {
    /// Queues a submission, submitting what is queued first if the ring is full.
    fn push(&mut self, e: squeue::Entry) -> Result<()> {
        // SAFETY: every entry's buffers live in a `Conn` that is not freed while an operation
        // on it is in flight (`close_if_idle`), or in the shard's `Spool` (a commit's `writing`
        // or `Direct::raw`, the zeros), and are not touched until its completion.
        unsafe {
            if self.ring.submission().push(&e).is_err() {
                self.ring.submit().context("io_uring_enter")?;
                self.ring
                    .submission()
                    .push(&e)
                    .map_err(|_| anyhow::anyhow!("ring full"))?;
            }
        }
        Ok(())
    }

    fn accepted(&mut self, fd: RawFd) -> Result<()> {
        nodelay(fd);
        self.accepted += 1;
        let slot = self.free.last().copied().unwrap_or(self.conns.len());
        let c = Conn {
            fd,
            slot,
            nth: self.accepted,
            phase: Phase::Handshake,
            inb: Vec::with_capacity(READ_BUFFER),
            out: Vec::new(),
            sending: Vec::new(),
            sent: 0,
            recv_inflight: false,
            send_inflight: false,
            closing: false,
            shut: false,
            dirty: false,
        };
        match self.free.pop() {
            Some(i) => self.conns[i] = Some(c),
            None => self.conns.push(Some(c)),
        }
        self.arm_recv(slot)
    }

    /// One receive of at most `READ_BUFFER` bytes (the edge's read size) into the spare
    /// capacity of the connection's buffer.
    fn arm_recv(&mut self, slot: usize) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        c.inb.reserve(READ_BUFFER);
        let len = (c.inb.capacity() - c.inb.len()).min(READ_BUFFER);
        // SAFETY: within the Vec's allocation; the Vec is not touched until the completion.
        let ptr = unsafe { c.inb.as_mut_ptr().add(c.inb.len()) };
        let e = opcode::Recv::new(types::Fd(c.fd), ptr, len as u32)
            .build()
            .user_data(((slot as u64) << 2) | OP_RECV);
        c.recv_inflight = true;
        self.push(e)
    }

    fn received(&mut self, slot: usize, res: i32) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        c.recv_inflight = false;
        if res <= 0 || c.closing {
            c.closing = true;
            return self.close_if_idle(slot);
        }
        // SAFETY: the kernel wrote `res` bytes into the spare capacity this receive was given.
        unsafe { c.inb.set_len(c.inb.len() + res as usize) };
        let key = self.key;
        if !parse(c, key, &mut self.scratch, self.spool.as_mut()) {
            c.closing = true;
        }
        if !c.out.is_empty() && !c.dirty {
            c.dirty = true;
            self.dirty.push(slot);
        }
        if c.closing {
            self.close_if_idle(slot)
        } else {
            self.arm_recv(slot)
        }
    }

    fn sent(&mut self, slot: usize, res: i32) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        c.send_inflight = false;
        if res <= 0 {
            // The peer is gone: what is queued goes nowhere.
            c.out.clear();
            c.closing = true;
            return self.close_if_idle(slot);
        }
        c.sent += res as usize;
        if c.sent < c.sending.len() {
            return self.arm_send(slot); // the rest of a short send
        }
        c.sending.clear();
        c.sent = 0;
        if !c.out.is_empty() && !c.dirty {
            c.dirty = true;
            self.dirty.push(slot);
        } else if c.closing {
            return self.close_if_idle(slot);
        }
        Ok(())
    }

    /// Starts the commit timer when records were gathered while the spool was idle.
    fn arm_commit(&mut self) -> Result<()> {
        let Some(sp) = self.spool.as_mut() else {
            return Ok(());
        };
        if sp.state != Commit::Idle || sp.gathered.is_empty() {
            return Ok(());
        }
        sp.state = Commit::Gathering;
        let e = opcode::Timeout::new(&*sp.every as *const types::Timespec)
            .build()
            .user_data(COMMIT_TIMER);
        self.push(e)?;
        self.zero_ahead()
    }

    /// `--direct`: while records gather (no commit write in flight), writes `ZERO_AHEAD` zeros
    /// past the written blocks once the records come within `ZERO_AHEAD` of their end.
    fn zero_ahead(&mut self) -> Result<()> {
        let Some(sp) = self.spool.as_mut() else {
            return Ok(());
        };
        let off = sp.off;
        let Some(d) = sp.direct.as_ref() else {
            return Ok(());
        };
        // No limit: the reservation grows as the zeros need it; a chunk is whole.
        if d.zero_inflight || zeros_due(off, d.zeroed, u64::MAX).is_none() {
            return Ok(());
        }
        let at = d.zeroed;
        sp.reserve(at + ZERO_AHEAD)?;
        let fd = sp.fd;
        let Some(d) = sp.direct.as_mut() else {
            return Ok(());
        };
        let zeros = &d.zeros[d.zeros_at..d.zeros_at + ZERO_AHEAD as usize];
        let e = opcode::Write::new(types::Fd(fd), zeros.as_ptr(), ZERO_AHEAD as u32)
            .offset(at)
            .build()
            .user_data(ZERO_WRITE);
        d.zero_inflight = true;
        self.push(e)
    }

    /// `--direct`: the zeros are written; a commit that came due meanwhile starts.
    fn zeroed(&mut self, res: i32) -> Result<()> {
        let Some(d) = self.spool.as_mut().and_then(|sp| sp.direct.as_mut()) else {
            bail!("a zero write without a direct spool");
        };
        d.zero_inflight = false;
        if res < 0 {
            let e = std::io::Error::from_raw_os_error(-res);
            return Err(e).context("spool zero write");
        }
        if res as u64 != ZERO_AHEAD {
            bail!("a short zero write: {res} of {ZERO_AHEAD}");
        }
        d.zeroed += ZERO_AHEAD;
        if std::mem::take(&mut d.commit_waiting) {
            return self.arm_write();
        }
        Ok(())
    }

    /// The commit interval is over: everything gathered goes out in one write.
    fn commit_due(&mut self) -> Result<()> {
        let Some(sp) = self.spool.as_mut() else {
            bail!("a commit timer without a spool");
        };
        std::mem::swap(&mut sp.gathered, &mut sp.writing);
        std::mem::swap(&mut sp.held, &mut sp.releasing);
        sp.written = 0;
        sp.state = Commit::Writing;
        if let Some(d) = sp.direct.as_mut()
            && d.zero_inflight
        {
            d.commit_waiting = true;
            return Ok(());
        }
        self.arm_write()
    }

    fn arm_write(&mut self) -> Result<()> {
        let Some(sp) = self.spool.as_mut() else {
            return Ok(());
        };
        if sp.direct.is_some() {
            // Whole blocks, from the block holding the end: its written bytes, the records,
            // zeros to the block's end.
            let (off, n) = (sp.off, sp.writing.len() as u64);
            let (start, len) = blocks(off, n, BLOCK);
            sp.reserve(start + len)?;
            let fd = sp.fd;
            let Some(d) = sp.direct.as_mut() else {
                return Ok(());
            };
            let at = aligned(&mut d.raw, len as usize)?;
            let b = &mut d.raw[at..at + len as usize];
            let t = d.tail.len();
            b[..t].copy_from_slice(&d.tail);
            b[t..t + n as usize].copy_from_slice(&sp.writing);
            b[t + n as usize..].fill(0);
            let ptr = b.as_ptr();
            (d.at, d.len, d.start) = (at, len as usize, start);
            let e = opcode::Write::new(types::Fd(fd), ptr, len as u32)
                .offset(start)
                .build()
                .user_data(COMMIT_WRITE);
            return self.push(e);
        }
        let rest = &sp.writing[sp.written..];
        let e = opcode::Write::new(types::Fd(sp.fd), rest.as_ptr(), rest.len() as u32)
            .offset(sp.off)
            .build()
            .user_data(COMMIT_WRITE);
        self.push(e)
    }

    /// A spool write completed: once all of it is on the disk, its acks are sent.
    fn committed(&mut self, res: i32) -> Result<()> {
        let Some(sp) = self.spool.as_mut() else {
            bail!("a commit write without a spool");
        };
        if res <= 0 {
            // The floor stops rather than ack what it could not store.
            let errno = if res < 0 { -res } else { libc::EIO };
            let e = std::io::Error::from_raw_os_error(errno);
            return Err(e).context("spool write");
        }
        if let Some(d) = sp.direct.as_mut() {
            // A direct write is whole or an error: its rest would not be aligned.
            if res as usize != d.len {
                bail!("a short direct spool write: {res} of {}", d.len);
            }
            let n = sp.writing.len();
            let end = d.at + d.tail.len() + n;
            let keep = ((sp.off + n as u64) % BLOCK) as usize;
            d.tail.clear();
            d.tail.extend_from_slice(&d.raw[end - keep..end]);
            d.zeroed = d.zeroed.max(d.start + d.len as u64);
            sp.off += n as u64;
        } else {
            sp.written += res as usize;
            sp.off += res as u64;
            if sp.written < sp.writing.len() {
                return self.arm_write(); // the rest of a short write
            }
        }
        sp.writing.clear();
        sp.state = Commit::Idle;
        let mut releasing = std::mem::take(&mut sp.releasing);
        for &(slot, nth, seq) in &releasing {
            let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if c.nth != nth {
                continue;
            }
            self.scratch.clear();
            encode_edge(&EdgeFrame::Ack { seq }, &mut self.scratch);
            write_frame(&mut c.out, 0x2, &self.scratch);
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
        releasing.clear();
        if let Some(sp) = self.spool.as_mut() {
            sp.releasing = releasing;
        }
        Ok(())
    }

    /// One send per connection with replies queued in this batch (after all its completions).
    fn flush(&mut self) -> Result<()> {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &slot in &dirty {
            let Some(c) = self.conns[slot].as_mut() else {
                continue;
            };
            c.dirty = false;
            if !c.send_inflight && !c.out.is_empty() {
                std::mem::swap(&mut c.out, &mut c.sending);
                c.sent = 0;
                self.arm_send(slot)?;
            } else if c.closing {
                self.close_if_idle(slot)?;
            }
        }
        dirty.clear();
        self.dirty = dirty;
        Ok(())
    }

    fn arm_send(&mut self, slot: usize) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        let rest = &c.sending[c.sent..];
        let e = opcode::Send::new(types::Fd(c.fd), rest.as_ptr(), rest.len() as u32)
            .build()
            .user_data(((slot as u64) << 2) | OP_SEND);
        c.send_inflight = true;
        self.push(e)
    }

    /// Frees a closing connection's slot once nothing on it is in flight and nothing is left
    /// to send; a receive still armed is ended with `shutdown(2)` (closing the descriptor
    /// would not end it), and its completion comes back here.
    fn close_if_idle(&mut self, slot: usize) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        if c.recv_inflight {
            if !c.shut {
                c.shut = true;
                // SAFETY: a valid descriptor this connection owns.
                unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
            }
            return Ok(());
        }
        if c.send_inflight || c.dirty {
            return Ok(());
        }
        if let Some(c) = self.conns[slot].take() {
            // SAFETY: no operation on this descriptor is in flight (both flags are clear).
            unsafe { libc::close(c.fd) };
            self.free.push(slot);
        }
        Ok(())
    }
}

/// Parses what `c` has received: the handshake, then whole WebSocket messages, queueing each
/// reply in `c.out`, or, with a spool, holding each ack for its commit. False when the
/// connection is to be closed.
fn parse(c: &mut Conn, key: &str, scratch: &mut Vec<u8>, mut spool: Option<&mut Spool>) -> bool {
    let mut at = 0usize;
    if let Phase::Handshake = c.phase {
        let Some(end) = c.inb.windows(4).position(|w| w == b"\r\n\r\n") else {
            return c.inb.len() < 8192; // a request head that never ends
        };
        let head = String::from_utf8_lossy(&c.inb[..end]);
        let Some(client_key) = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        }) else {
            return false;
        };
        c.out.extend_from_slice(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(client_key.as_bytes())
            )
            .as_bytes(),
        );
        c.phase = Phase::Open;
        at = end + 4;
    }
    let max = Limits::DEFAULT.max_frame_bytes;
    let mut keep = true;
    loop {
        let b = &mut c.inb[at..];
        if b.len() < 2 {
            break;
        }
        let (fin, opcode, masked) = (b[0] & 0x80 != 0, b[0] & 0x0f, b[1] & 0x80 != 0);
        let (len, mut hdr) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap_or([0xff; 8])),
                10,
            ),
            126 | 127 => break,
            n => (u64::from(n), 2),
        };
        if !fin || !masked || len > max as u64 {
            keep = false;
            break;
        }
        let len = len as usize;
        if b.len() < hdr + 4 + len {
            break;
        }
        let mask = [b[hdr], b[hdr + 1], b[hdr + 2], b[hdr + 3]];
        hdr += 4;
        let payload = &mut b[hdr..hdr + len];
        for (i, x) in payload.iter_mut().enumerate() {
            *x ^= mask[i & 3];
        }
        match opcode {
            0x2 => {
                let reply = match decode_client(payload, &Limits::DEFAULT) {
                    Ok(f) => match floor_reply(&f, key, "floor-uring") {
                        FloorReply::Send(r) => Some(r),
                        FloorReply::Nothing => None,
                        FloorReply::Refuse => {
                            keep = false;
                            break;
                        }
                    },
                    Err(_) => None,
                };
                if let (Some(EdgeFrame::Ack { seq }), Some(sp)) = (&reply, spool.as_deref_mut()) {
                    sp.hold_record(c.slot, c.nth, payload, *seq);
                } else if let Some(r) = reply {
                    scratch.clear();
                    encode_edge(&r, scratch);
                    write_frame(&mut c.out, 0x2, scratch);
                }
            }
            0x8 => {
                keep = false;
                break;
            }
            0x9 => {
                scratch.clear();
                scratch.extend_from_slice(payload);
                write_frame(&mut c.out, 0xA, scratch);
            }
            _ => {}
        }
        at += hdr + len;
    }
    c.inb.drain(..at);
    keep
}

/// Appends an unmasked, final server frame.
fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}
