//! The shard's spool writer (glommio task): groups appends for `commit_interval_ms`, writes
//! them with io_uring into the current segment (opened `O_DIRECT | O_DSYNC` into preallocated
//! space: the write is durable when it completes, and the shard submits it itself; [`Segment`]),
//! and only then releases the acks the write covers. Segments roll at
//! `spool_segment_bytes` or `lake.max_age_s`; the segment being written is published
//! (`SpoolShare::active_segment`) before its file exists, so the shipper never touches it.
//! A new segment's first acks also wait for its directory entry to be durable ([`sync_dir`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use glommio::channels::local_channel;

use sentientiq_core::LogEvery;
use sentientiq_core::spool_blocks::{BLOCK, blocks, zeros_due};

use super::ShardRef;
use crate::storage::spool;
use crate::telemetry::ShardMetrics;

/// A segment file being written.
///
/// Issue 20: an `O_DSYNC` write through the page cache cannot be done without blocking, so the
/// kernel hands every commit to an io-wq worker (five context switches a commit); a direct
/// write (`O_DIRECT`) into blocks the file already holds written is submitted by the shard
/// itself ([`ZERO_AHEAD`](sentientiq_core::spool_blocks::ZERO_AHEAD) keeps them ahead). `sentientiq-spool-write`, 3 000 commits of 16 000
/// bytes back to back, three rounds: 81–98 µs of the process's CPU a commit through the page
/// cache, 24–25 µs direct with zeros ahead, the zero writes included; the machine's busy CPU
/// 90–100 µs against 43–57; a commit's latency p50 174–207 µs against 84
/// (`bench/runs/2026-12-07-vm/session45/spool-write/`).
enum Segment {
    /// Opened `O_DIRECT | O_DSYNC` with its space preallocated (`fallocate`): every write is
    /// of whole blocks, from the block holding the segment's end ([`blocks`]); `tail` holds
    /// the bytes of that block already written, written again unchanged. The file ends in
    /// zeros (the space not yet written, the last block's padding) until it is sealed, and a
    /// record's length is never 0, so readers stop there ([`crate::storage::spool`]).
    Direct {
        file: glommio::io::DmaFile,
        tail: Vec<u8>,
        block: u64,
        /// The space reserved for it (made again after a cut gives it back).
        reserve: u64,
        /// The file's blocks below this are written (records, or zeros written ahead of them:
        /// [`Segment::zero_ahead`]); above it the reserved space is unwritten.
        zeroed: u64,
        /// How far zeros may be written ahead: the reservation, or 0 when it failed (zeros
        /// would grow the file).
        limit: u64,
    },
    /// Opened `O_DSYNC` through the page cache: on a filesystem that refuses `O_DIRECT`.
    Buffered(glommio::io::BufferedFile),
}

/// How often a spool write that keeps failing is logged: its first failure, then at most one
/// line each minute with how many failed since, then the first success. The committer retries
/// at most ten times a second ([`RETRY_PAUSE`] between attempts), and a full disk can last
/// hours: every failure logged could be up to 36 000 lines an hour per shard. A minute keeps
/// the failure in view of whoever watches the log; `siq_spool_write_errors_total` and
/// `/readyz` (503) tell it at once.
const FAILING_LOG_EVERY: Duration = Duration::from_secs(60);

/// The pause before a failed spool write, or a failed cut of one, is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Whether the spool writes are failing, for the log ([`FAILING_LOG_EVERY`]). Pure: time is a
/// parameter.
#[derive(Debug, Default)]
struct Failing {
    /// While failing: the first failure, failures in all, and the log line (ms since the
    /// first).
    since: Option<(Instant, u64, LogEvery)>,
}

impl Failing {
    /// A failure at `now`: `Some((n, for))` when it is to be logged, `n` failures not logged
    /// since the last line (0 for the first), failing `for` so long.
    fn failed(&mut self, now: Instant) -> Option<(u64, Duration)> {
        let (first, all, log) = self
            .since
            .get_or_insert_with(|| (now, 0, LogEvery::new(FAILING_LOG_EVERY.as_millis() as u64)));
        *all += 1;
        let failing = now.saturating_duration_since(*first);
        log.due(u64::try_from(failing.as_millis()).unwrap_or(u64::MAX))
            .map(|unlogged| (unlogged, failing))
    }

    /// A success at `now`: if writes were failing, how many failed and for how long.
    fn succeeded(&mut self, now: Instant) -> Option<(u64, Duration)> {
        self.since
            .take()
            .map(|(first, all, _)| (all, now.saturating_duration_since(first)))
    }
}

/// How a segment is opened, direct or not: created afresh (what a file of its name held goes),
/// write-only, each write durable when it completes (`O_DSYNC`).
fn options() -> glommio::io::OpenOptions {
    let mut o = glommio::io::OpenOptions::new();
    o.write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DSYNC);
    o
}

/// Whether opening a file failed because its filesystem refuses `O_DIRECT` (`EINVAL`, from
/// the `fcntl` that sets it). Read from glommio's error itself: converted to `io::Error` it
/// keeps the kind, not the OS error.
fn refuses_direct(e: &glommio::GlommioError<()>) -> bool {
    matches!(e, glommio::GlommioError::EnhancedIoError { source, .. }
        if source.raw_os_error() == Some(libc::EINVAL))
}

/// Reserves `bytes` for a segment (`fallocate`, the file's size with it). A disk too full for
/// them still takes the segment, unreserved: its writes then grow the file, each a metadata
/// change to sync, as buffered ones were.
/// Returns how far zeros may be written ahead in it: its last whole `block` (zeros go out in
/// whole blocks), or 0 if it failed (ext4 may keep part of a reservation that ran out of space,
/// with the file's size grown to it: zeros are then not written ahead, and writes past the
/// part kept grow the file).
async fn reserve_space(
    file: &glommio::io::DmaFile,
    bytes: u64,
    block: u64,
) -> Result<u64, glommio::GlommioError<()>> {
    file.pre_allocate(bytes, false)
        .await
        .map(|()| bytes / block * block)
}

/// A write of `want` bytes that wrote `written`: a short one is an error.
fn whole(written: usize, want: u64) -> std::io::Result<()> {
    if written as u64 == want {
        Ok(())
    } else {
        Err(std::io::Error::other("short write to the spool"))
    }
}

impl Segment {
    /// Creates a segment, `O_DSYNC`: each write is durable when it completes, as if followed by
    /// `fdatasync` (`open(2)`). Direct where the filesystem allows it, with `reserve` bytes
    /// reserved ([`reserve_space`]). Opened write-only: glommio's one probe of the device for
    /// its poll ring (a read) fails, and the writes stay on the shard's main ring.
    ///
    /// One `O_DSYNC` write is one request and one completion; a write and an `fdatasync` were
    /// two (`bench/runs/2026-12-03-vm/README.md`, "Twelfth session").
    async fn create(path: &Path, reserve: u64) -> std::io::Result<Segment> {
        let o = options();
        match o.dma_open(path).await {
            Ok(file) => {
                let block = file.alignment().max(BLOCK);
                let limit = reserve_space(&file, reserve, block).await.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, bytes = reserve, "a spool segment's space could not be reserved; its writes grow it instead");
                    0
                });
                Ok(Segment::Direct {
                    file,
                    tail: Vec::new(),
                    block,
                    reserve,
                    zeroed: 0,
                    limit,
                })
            }
            Err(e) if refuses_direct(&e) => {
                tracing::info!(path = %path.display(), "the spool's filesystem refuses O_DIRECT; writing it through the page cache");
                Segment::buffered(&o, path).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a segment with `o` ([`options`]) through the page cache.
    async fn buffered(o: &glommio::io::OpenOptions, path: &Path) -> std::io::Result<Segment> {
        o.buffered_open(path)
            .await
            .map(Segment::Buffered)
            .map_err(std::io::Error::from)
    }

    /// Writes `head` then `data` at `off`, the segment's end, durably; a short write is an
    /// error. Nothing is kept of a write that failed: the next one begins where it began.
    async fn write(&mut self, off: u64, head: &[u8], data: &[u8]) -> std::io::Result<()> {
        let n = (head.len() + data.len()) as u64;
        match self {
            Segment::Direct {
                file,
                tail,
                block,
                zeroed,
                ..
            } => {
                if tail.len() as u64 != off % *block {
                    // Never, by construction; should it be, the write fails, and the cut after
                    // it reads the block back from the file.
                    return Err(std::io::Error::other(
                        "the spool's last block is not the one held for it",
                    ));
                }
                let (start, len) = blocks(off, n, *block);
                let mut buf = file.alloc_dma_buffer(len as usize);
                let b = buf.as_bytes_mut();
                let mut at = 0;
                for part in [&tail[..], head, data] {
                    b[at..at + part.len()].copy_from_slice(part);
                    at += part.len();
                }
                b[at..].fill(0);
                let keep = ((off + n) % *block) as usize;
                let next = b[at - keep..at].to_vec();
                whole(file.write_at(buf, start).await?, len)?;
                *tail = next;
                *zeroed = (*zeroed).max(start + len);
            }
            Segment::Buffered(file) => {
                let mut buf = Vec::with_capacity(n as usize);
                buf.extend_from_slice(head);
                buf.extend_from_slice(data);
                whole(file.write_at(buf, off).await?, n)?;
            }
        }
        Ok(())
    }

    /// Cuts the file back to `len` bytes, durably (a failed write's partial records go). A
    /// direct segment reserves its space again (the cut gave it back), and reads back what stays
    /// of the block holding `len`: the cut may undo a write that succeeded (a step after it
    /// failed), whose last block the tail holds.
    async fn cut(&mut self, len: u64) -> std::io::Result<()> {
        match self {
            Segment::Direct {
                file,
                tail,
                block,
                reserve,
                zeroed,
                limit,
            } => {
                file.truncate(len).await?;
                file.fdatasync().await?;
                // The blocks past `len` went with the cut.
                *zeroed = len.div_ceil(*block) * *block;
                // Quiet: a cut follows a failed write, already counted and logged (a full
                // disk refuses this at every retry).
                *limit = reserve_space(file, *reserve, *block).await.unwrap_or(0);
                let keep = len % *block;
                tail.clear();
                if keep > 0 {
                    // Read through the page cache, on the blocking pool: a rare path, and one
                    // read of a few KiB (the kernel keeps a direct write and a cached read of
                    // the same block coherent).
                    let path = file
                        .path()
                        .map(|p| p.to_path_buf())
                        .ok_or_else(|| std::io::Error::other("the segment has no path"))?;
                    let kept = glommio::executor()
                        .spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                            use std::os::unix::fs::FileExt;
                            let mut b = vec![0u8; keep as usize];
                            std::fs::File::open(path)?.read_exact_at(&mut b, len - keep)?;
                            Ok(b)
                        })
                        .await?;
                    *tail = kept;
                }
            }
            Segment::Buffered(file) => {
                file.truncate(len).await?;
                file.fdatasync().await?;
            }
        }
        Ok(())
    }

    /// Writes zeros over the next [`ZERO_AHEAD`](sentientiq_core::spool_blocks::ZERO_AHEAD) bytes of reserved space once the records at
    /// `off` come within [`ZERO_AHEAD`](sentientiq_core::spool_blocks::ZERO_AHEAD) of the written blocks' end, so the next writes land on
    /// written blocks ([`ZERO_AHEAD`](sentientiq_core::spool_blocks::ZERO_AHEAD) says why). Only above every record (`zeroed` is past the
    /// last block written) and within the reservation's whole blocks; a failure only leaves the
    /// space unwritten (the writes are slower, not wrong), and stops it for the segment.
    async fn zero_ahead(&mut self, off: u64) {
        let Segment::Direct {
            file,
            zeroed,
            limit,
            ..
        } = self
        else {
            return;
        };
        let Some(len) = zeros_due(off, *zeroed, *limit) else {
            return;
        };
        let mut buf = file.alloc_dma_buffer(len as usize);
        buf.as_bytes_mut().fill(0);
        match file.write_at(buf, *zeroed).await {
            Ok(n) if n as u64 == len => *zeroed += len,
            // Not tried again in this segment: its writes reach unwritten space instead.
            Ok(n) => {
                tracing::warn!(
                    n,
                    len,
                    "a spool zero write was short; no more in this segment"
                );
                *limit = *zeroed;
            }
            Err(e) => {
                tracing::warn!(error = %e, "writing zeros ahead in a spool segment failed; no more in this segment");
                *limit = *zeroed;
            }
        }
    }

    /// Closes a segment whose records end at `len`, giving back the space past them (a crash
    /// before this leaves it to recovery, which stops reading at the zeros and cuts them).
    async fn seal(self, len: u64) -> std::io::Result<()> {
        match self {
            Segment::Direct { file, .. } => {
                file.truncate(len).await?;
                file.close().await?;
            }
            Segment::Buffered(file) => file.close().await?,
        }
        Ok(())
    }
}

/// Makes the entry naming a new segment durable: an `fsync` of its directory (syncing a file
/// does not sync the entry that names it), so a power cut cannot lose a whole acknowledged
/// segment whose data was written. On the first segment since start, the entries above it up
/// to the data directory (`spool/`, the shard's directory) are synced too
/// ([`sentientiq_lake::sync_up`]: the directories may be new, or left unsynced by a process
/// that stopped); the data directory's own entry was made durable at start (`run`).
///
/// It runs on glommio's blocking pool, once per segment: the reactor offers only `fdatasync`,
/// and POSIX asks for `fsync` of the directory.
async fn sync_dir(dir: &Path, up_to: &Path) -> std::io::Result<()> {
    let (dir, up_to) = (dir.to_path_buf(), up_to.to_path_buf());
    glommio::executor()
        .spawn_blocking(move || sentientiq_lake::sync_up(&up_to, &dir).map(|_| ()))
        .await
}

/// The open segment (file, first LSN, bytes written, when opened).
type Open = Option<(Segment, u64, u64, Instant)>;

/// Seals the open segment, if any, at what was written, and publishes that everything up to
/// `synced_upto` is in sealed segments (the shipper may take them). Only with no retry
/// pending: the segment's last write held. A failed seal leaves zeros (and the reservation)
/// past its records, which readers stop at and shipping it frees, as at a rotation.
async fn seal_open(
    file: &mut Open,
    synced_upto: u64,
    active: &std::sync::atomic::AtomicU64,
    open_bytes: &std::sync::atomic::AtomicU64,
) {
    if let Some((f, _, off, _)) = file.take() {
        if let Err(e) = f.seal(off).await {
            tracing::error!(error = %e, "sealing a spool segment");
        }
        active.store(synced_upto, Ordering::Release);
        open_bytes.store(0, Ordering::Release);
    }
}

/// The shard's spool writer: waits for appends, groups them for `interval`, writes them
/// durably (one `O_DSYNC` write), then releases the acks the write covers.
///
/// On a write error (a full disk) nothing is acked, the shard's spool is marked not writable
/// (new frames are refused with `overloaded`, `/readyz` answers 503), and the same bytes are
/// retried **at the same offset of the same segment**, after the segment is cut back to where
/// the failed write began. A short write leaves whole records in the file; writing them again
/// into a new segment would store them twice. Until the cut succeeds nothing else is written.
///
/// When the bell closes (the shard stops: `Shard::stop_spool`), it writes what is buffered,
/// seals the segment (its reserved space past the records goes back) and returns.
pub async fn committer(
    shard: ShardRef,
    dir: PathBuf,
    bell: local_channel::LocalReceiver<()>,
    interval: Duration,
    segment_bytes: u64,
) {
    let (shard_id, node) = {
        let s = shard.borrow();
        (s.id as u32, s.node.clone())
    };
    let max_age = Duration::from_secs(node.lake.max_age_s);
    // `dir` is `<data_dir>/spool/shard-N`: the first segment's syncs go up to `data_dir`.
    let data_dir = node.edge.data_dir.clone();
    let active = &node.spool.active_segment[shard_id as usize];
    let writable = &node.spool.writable[shard_id as usize];
    let open_bytes = &node.spool.open_bytes[shard_id as usize];
    // (file, first lsn, bytes written: 0 until its first commit, opened)
    let mut file: Open = None;
    let mut retry: Vec<u8> = Vec::new();
    let mut retry_upto = 0u64;
    let mut synced_upto = 0u64;
    // Whether the entries above the shard directory have been synced since start (`sync_dir`).
    let mut dir_known = false;
    // The bell closed: once a gather finds nothing more to write, the segment is sealed (its
    // reserved space given back) and the writer stops. A write failing meanwhile is retried.
    let mut stopping = false;
    // Failing writes, and failing cuts of a failed write, for the log.
    let (mut failing, mut cutting) = (Failing::default(), Failing::default());
    loop {
        if retry.is_empty() && !stopping {
            // Idle: wait for appends, but seal an open segment once it is `max_age` old so
            // the lake gets it without waiting for more traffic.
            let woke = match &file {
                Some((_, _, _, opened)) => {
                    let left = max_age.saturating_sub(opened.elapsed());
                    futures_lite::future::or(async { Some(bell.recv().await) }, async {
                        glommio::timer::sleep(left).await;
                        None
                    })
                    .await
                }
                None => Some(bell.recv().await),
            };
            match woke {
                // The shard is stopping (`Shard::stop_spool`): what is buffered is written
                // below, then the segment is sealed.
                Some(None) => stopping = true,
                Some(Some(())) => {}
                None => {
                    seal_open(&mut file, synced_upto, active, open_bytes).await;
                    continue;
                }
            }
        }
        // The appends gather for `interval`; zeros are written ahead meanwhile, so they delay
        // a commit only when they take longer than that.
        let gather = glommio::timer::sleep(interval);
        // (Not at a stop: the seal is about to give that space back.)
        match file.as_mut() {
            Some((f, _, off, _)) if !stopping => {
                futures_lite::future::zip(gather, f.zero_ahead(*off)).await;
            }
            _ => gather.await,
        }
        let (mut data, upto) = shard.borrow_mut().take_spool();
        if !retry.is_empty() {
            retry.extend_from_slice(&data);
            data = std::mem::take(&mut retry);
        }
        let upto = upto.max(retry_upto);
        if data.is_empty() {
            shard.borrow_mut().durable(upto);
            if stopping {
                // Everything it was given is written (a retry would be in `data`).
                seal_open(&mut file, synced_upto, active, open_bytes).await;
                return;
            }
            continue;
        }
        let start_lsn = upto - data.len() as u64;
        let t0 = Instant::now();
        // Where this write begins in the current segment (to cut back to on failure).
        let mut began: Option<u64> = None;
        let r: std::io::Result<()> = async {
            let rotate = match &file {
                None => true,
                Some((_, _, off, opened)) => {
                    (*off + data.len() as u64 > segment_bytes || opened.elapsed() >= max_age)
                        && *off > spool::HEADER as u64
                }
            };
            if rotate {
                if let Some((f, _, off, _)) = file.take() {
                    f.seal(off).await?;
                }
                // Published before the file exists: the shipper never touches a segment at or
                // above it, and everything below it is closed. Nothing is written to it yet.
                open_bytes.store(0, Ordering::Release);
                active.store(start_lsn, Ordering::Release);
                std::fs::create_dir_all(&dir)?;
                let f =
                    Segment::create(&spool::segment_path(&dir, start_lsn), segment_bytes).await?;
                // Empty until its first commit, which writes the header with the records.
                file = Some((f, start_lsn, 0, Instant::now()));
            }
            let Some((f, _, off, _)) = file.as_mut() else {
                return Err(std::io::Error::other("no segment"));
            };
            began = Some(*off);
            // A new (or cut back to empty) segment's header goes in the same write as its
            // first records: each `O_DSYNC` write is a disk flush of its own.
            let first = *off == 0;
            let header = spool::header(shard_id);
            let head: &[u8] = if first { &header } else { &[] };
            // `O_DSYNC`: the write returns once its data, and the size that reaches it, are
            // on the disk, as a write followed by fdatasync would.
            f.write(*off, head, &data).await?;
            *off += (head.len() + data.len()) as u64;
            if first {
                // After the write, not before: the write's own flush may carry the entry
                // (ext4 commits its journal for it), leaving this sync less to flush.
                let up_to = if dir_known { &dir } else { &data_dir };
                sync_dir(&dir, up_to).await?;
                dir_known = true;
                ShardMetrics::inc(&shard.borrow().metrics().spool_dir_syncs);
            }
            Ok(())
        }
        .await;
        match r {
            Ok(()) => {
                synced_upto = upto;
                writable.store(true, Ordering::Relaxed);
                let us = t0.elapsed().as_micros() as u64;
                if let Some((failures, took)) = failing.succeeded(Instant::now()) {
                    tracing::warn!(
                        failures,
                        ms = took.as_millis() as u64,
                        "spool writes hold again; what they held is acked"
                    );
                }
                let mut s = shard.borrow_mut();
                s.metrics().fsync(us);
                s.durable(upto);
            }
            Err(e) => {
                writable.store(false, Ordering::Relaxed);
                ShardMetrics::inc(&shard.borrow().metrics().spool_write_errors);
                if let Some((unlogged, took)) = failing.failed(Instant::now()) {
                    tracing::error!(error = %e, unlogged, failing_ms = took.as_millis() as u64, "spool write failed; nothing is acked until it succeeds (retried; logged at most once a minute)");
                }
                retry = data;
                retry_upto = upto;
                match (began, file.as_mut()) {
                    // The write began in the open segment: cut it back to where it began, so
                    // the retry writes these records once. Retried until it holds.
                    (Some(at), Some((f, first, off, _))) => {
                        cut_back(f, at, *first, &mut cutting, &shard).await;
                        *off = at;
                    }
                    // Creating the new segment failed: the file, if it was made, holds
                    // nothing; it goes, and is made again.
                    _ => {
                        if let Some((f, _, off, _)) = file.take() {
                            let _ = f.seal(off).await;
                        }
                        let _ = std::fs::remove_file(spool::segment_path(&dir, start_lsn));
                    }
                }
                glommio::timer::sleep(RETRY_PAUSE).await;
            }
        }
        open_bytes.store(
            file.as_ref().map_or(0, |(_, _, off, _)| *off),
            Ordering::Release,
        );
    }
}

/// Cuts segment `first` (`f`) back to `at`, where a write that failed began, so that its retry
/// writes those records once. Retried until it holds: nothing else may be written meanwhile.
/// Each failure is counted; `cutting` keeps the log to a line a minute and says when it holds.
async fn cut_back(f: &mut Segment, at: u64, first: u64, cutting: &mut Failing, shard: &ShardRef) {
    loop {
        match f.cut(at).await {
            Ok(()) => {
                if let Some((failures, took)) = cutting.succeeded(Instant::now()) {
                    tracing::warn!(
                        failures,
                        ms = took.as_millis() as u64,
                        segment = first,
                        "cutting a failed write back holds again"
                    );
                }
                return;
            }
            Err(e) => {
                ShardMetrics::inc(&shard.borrow().metrics().spool_write_errors);
                if let Some((unlogged, took)) = cutting.failed(Instant::now()) {
                    tracing::error!(error = %e, segment = first, unlogged, failing_ms = took.as_millis() as u64, "cutting a failed write back; retrying (logged at most once a minute)");
                }
                glommio::timer::sleep(RETRY_PAUSE).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    /// A failing write is logged first, then once each [`FAILING_LOG_EVERY`] (at cap−1 not,
    /// at cap and past it yes) with the failures not logged since; its first success says how
    /// many failed and for how long, and a success with nothing failing says nothing.
    #[test]
    fn a_failing_spool_write_is_logged_first_then_once_a_minute_then_its_recovery() {
        let t0 = std::time::Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ms = Duration::from_millis;
        let every = FAILING_LOG_EVERY.as_millis() as u64;
        let mut f = Failing::default();
        assert_eq!(f.succeeded(at(0)), None, "nothing was failing");
        assert_eq!(f.failed(at(0)), Some((0, ms(0))), "the first failure");
        for t in (100..every).step_by(100) {
            assert_eq!(f.failed(at(t)), None, "{t} ms");
        }
        assert_eq!(f.failed(at(every - 1)), None, "cap - 1");
        assert_eq!(
            f.failed(at(every)),
            Some((600, ms(every))),
            "cap: the 600 since"
        );
        assert_eq!(f.failed(at(every + 1)), None, "just logged");
        assert_eq!(
            f.failed(at(2 * every - 1)),
            None,
            "cap - 1 after the last line"
        );
        assert_eq!(
            f.failed(at(2 * every)),
            Some((2, ms(2 * every))),
            "cap after the last line"
        );
        assert_eq!(
            f.succeeded(at(2 * every + 100)),
            Some((605, ms(2 * every + 100)))
        );
        assert_eq!(f.succeeded(at(2 * every + 200)), None, "once");
        assert_eq!(
            f.failed(at(2 * every + 300)),
            Some((0, ms(0))),
            "a new spell is logged at once"
        );
    }

    /// The open file's status flags as the kernel holds them (`flags:` in fdinfo, octal).
    fn status_flags(fd: i32) -> i32 {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .expect("a flags line");
        i32::from_str_radix(flags.trim(), 8).expect("octal flags")
    }

    /// Runs `body` on a glommio executor.
    fn on_glommio<F: std::future::Future<Output = ()> + 'static>(
        body: impl FnOnce() -> F + Send + 'static,
    ) {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move { body().await })
            .expect("executor")
            .join()
            .expect("test");
    }

    /// Writes of sizes that end one short of a block, at one, one past one, and across several,
    /// each after the last: the file holds exactly the bytes written, then zeros (its reserved
    /// space, the last block's padding) while open, and exactly the bytes once sealed.
    async fn writes_keep_every_byte(f: &mut Segment, path: &Path, reserve: u64) {
        let mut want: Vec<u8> = Vec::new();
        let header = spool::header(7);
        let sizes = [4095 - HEADER_LEN, 1, 1, 4094, 4096, 4097, 1, 9000, 3];
        for (i, n) in sizes.into_iter().enumerate() {
            let data: Vec<u8> = (0..n).map(|j| (i * 31 + j % 251) as u8 | 1).collect();
            let head: &[u8] = if i == 0 { &header } else { &[] };
            f.write(want.len() as u64, head, &data)
                .await
                .expect("write");
            want.extend_from_slice(head);
            want.extend_from_slice(&data);
            // Zeros written ahead, never over a record (the reads below see the records).
            let off = want.len() as u64;
            f.zero_ahead(off).await;
            if let Segment::Direct { zeroed, limit, .. } = f {
                assert!(
                    *zeroed >= (off + sentientiq_core::spool_blocks::ZERO_AHEAD).min(*limit),
                    "after write {i}"
                );
                assert!(*zeroed <= *limit, "within the reservation");
            }
            let on_disk = std::fs::read(path).expect("read");
            assert_eq!(&on_disk[..want.len()], &want[..], "after write {i}");
            assert!(
                on_disk[want.len()..].iter().all(|&b| b == 0),
                "zeros after write {i}"
            );
            if let Segment::Direct { block, .. } = f {
                let end = (want.len() as u64).div_ceil(*block) * *block;
                assert_eq!(on_disk.len() as u64, end.max(reserve), "after write {i}");
            }
        }
        // A write undone (a step after it failed) is cut back, across a block: the next write
        // begins where it began, over the bytes before it.
        let at = want.len() as u64;
        f.write(at, &[], &[0xee; 5000]).await.expect("write");
        f.cut(at).await.expect("cut");
        let on_disk = std::fs::read(path).expect("read");
        assert_eq!(&on_disk[..want.len()], &want[..]);
        assert!(on_disk[want.len()..].iter().all(|&b| b == 0));
        // The cut gave the reservation back; it is made again.
        assert_eq!(on_disk.len() as u64, reserve.max(at), "after the cut");
        // Zeros ahead after the cut start past the block the records end in.
        f.zero_ahead(at).await;
        let on_disk = std::fs::read(path).expect("read");
        assert_eq!(
            &on_disk[..want.len()],
            &want[..],
            "zeros ahead after the cut"
        );
        f.write(at, &[], b"again").await.expect("write");
        want.extend_from_slice(b"again");
        let on_disk = std::fs::read(path).expect("read");
        assert_eq!(&on_disk[..want.len()], &want[..]);
        assert!(on_disk[want.len()..].iter().all(|&b| b == 0));
    }

    const HEADER_LEN: usize = spool::HEADER;

    /// Only `EINVAL` from opening (the `fcntl` setting `O_DIRECT`) falls back to the page
    /// cache; the conversion to `io::Error` loses the OS error, so it is read before.
    #[test]
    fn only_a_refused_o_direct_falls_back_to_the_page_cache() {
        let open_failed = |errno| glommio::GlommioError::<()>::EnhancedIoError {
            source: std::io::Error::from_raw_os_error(errno),
            op: "Creating",
            path: None,
            fd: None,
        };
        assert!(refuses_direct(&open_failed(libc::EINVAL)));
        assert!(!refuses_direct(&open_failed(libc::ENOSPC)));
        assert!(!refuses_direct(&open_failed(libc::EACCES)));
        let converted = std::io::Error::from(open_failed(libc::EINVAL));
        assert_eq!(converted.raw_os_error(), None, "why it is read before");
    }

    #[test]
    fn a_segment_is_direct_synchronous_reserved_and_keeps_exactly_what_it_is_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seg");
        std::fs::write(&path, b"an old segment's bytes").expect("an old file");
        on_glommio(move || async move {
            // Room for one chunk of zeros ahead and part of a second: the second stops at the
            // reservation.
            let reserve = sentientiq_core::spool_blocks::ZERO_AHEAD + 3 * BLOCK;
            let mut f = Segment::create(&path, reserve).await.expect("create");
            let Segment::Direct { file, block, .. } = &f else {
                panic!("this test's filesystem takes O_DIRECT (ext4 in CI)");
            };
            assert_eq!(*block, BLOCK);
            let flags = status_flags(file.as_raw_fd());
            assert_eq!(flags & libc::O_DSYNC, libc::O_DSYNC, "O_DSYNC in {flags:o}");
            assert_eq!(
                flags & libc::O_DIRECT,
                libc::O_DIRECT,
                "O_DIRECT in {flags:o}"
            );
            assert_eq!(flags & libc::O_ACCMODE, libc::O_WRONLY, "write only");
            // Created afresh (what a file of that name held is gone), its space reserved.
            let on_disk = std::fs::read(&path).expect("read");
            assert_eq!(on_disk.len() as u64, reserve);
            assert!(on_disk.iter().all(|&b| b == 0));
            writes_keep_every_byte(&mut f, &path, reserve).await;
            let len = std::fs::read(&path)
                .expect("read")
                .iter()
                .rposition(|&b| b != 0);
            let len = len.map_or(0, |i| i as u64 + 1);
            f.seal(len).await.expect("seal");
            assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
        });
    }

    #[test]
    fn a_segment_through_the_page_cache_keeps_exactly_what_it_is_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seg");
        std::fs::write(&path, b"an old segment's bytes").expect("an old file");
        on_glommio(move || async move {
            let mut f = Segment::buffered(&options(), &path).await.expect("open");
            let Segment::Buffered(file) = &f else {
                panic!("buffered");
            };
            let flags = status_flags(file.as_raw_fd());
            assert_eq!(flags & libc::O_DSYNC, libc::O_DSYNC, "O_DSYNC in {flags:o}");
            assert_eq!(flags & libc::O_DIRECT, 0, "not O_DIRECT: {flags:o}");
            assert_eq!(std::fs::read(&path).expect("read"), b"");
            writes_keep_every_byte(&mut f, &path, 0).await;
            let len = std::fs::metadata(&path).expect("meta").len();
            f.seal(len).await.expect("seal");
            assert_eq!(std::fs::metadata(&path).expect("meta").len(), len);
        });
    }
}
