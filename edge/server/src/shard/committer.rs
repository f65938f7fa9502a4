//! The shard's spool writer (glommio task): groups appends for `commit_interval_ms`, writes
//! them with io_uring into the current segment (opened `O_DSYNC`: the write is durable when it
//! completes), and only then releases the acks the write covers. Segments roll at
//! `spool_segment_bytes` or `lake.max_age_s`; the segment being written is published
//! (`SpoolShare::active_segment`) before its file exists, so the shipper never touches it.
//! A new segment's first acks also wait for its directory entry to be durable ([`sync_dir`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use glommio::channels::local_channel;

use super::ShardRef;
use crate::storage::spool;
use crate::telemetry::ShardMetrics;

/// Creates a segment opened `O_DSYNC`: each write is durable when it completes.
///
/// A write and then an `fdatasync` were two io_uring requests per commit, and the kernel hands
/// both to an io-wq worker (a buffered ext4 write cannot be done without blocking, nor can a
/// sync): two worker wake-ups and completions per commit. One `O_DSYNC` write is one request
/// and one hand-off, with the same guarantee (`open(2)`: as if each write were followed by
/// `fdatasync`). Measured in `bench/runs/2026-12-03-vm/README.md` ("Twelfth session").
async fn open_segment(path: &std::path::Path) -> std::io::Result<glommio::io::BufferedFile> {
    glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DSYNC)
        .buffered_open(path)
        .await
        .map_err(std::io::Error::from)
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

/// The shard's spool writer: waits for appends, groups them for `interval`, writes them
/// durably (one `O_DSYNC` write), then releases the acks the write covers.
///
/// On a write error (a full disk) nothing is acked, the shard's spool is marked not writable
/// (new frames are refused with `overloaded`, `/readyz` answers 503), and the same bytes are
/// retried **at the same offset of the same segment**, after the segment is cut back to where
/// the failed write began. A short write leaves whole records in the file; writing them again
/// into a new segment would store them twice. Until the cut succeeds nothing else is written.
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
    // (file, first lsn, bytes written: 0 until its first commit, opened)
    let mut file: Option<(glommio::io::BufferedFile, u64, u64, Instant)> = None;
    let mut retry: Vec<u8> = Vec::new();
    let mut retry_upto = 0u64;
    let mut synced_upto = 0u64;
    // Whether the entries above the shard directory have been synced since start (`sync_dir`).
    let mut dir_known = false;
    loop {
        if retry.is_empty() {
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
                Some(None) => return,
                Some(Some(())) => {}
                None => {
                    if let Some((f, _, _, _)) = file.take() {
                        if let Err(e) = f.close().await {
                            tracing::error!(error = %e, "closing a spool segment");
                        }
                        // Everything written so far is in sealed segments.
                        active.store(synced_upto, Ordering::Release);
                    }
                    continue;
                }
            }
        }
        glommio::timer::sleep(interval).await;
        let (mut data, upto) = shard.borrow_mut().take_spool();
        if !retry.is_empty() {
            retry.extend_from_slice(&data);
            data = std::mem::take(&mut retry);
        }
        let upto = upto.max(retry_upto);
        if data.is_empty() {
            shard.borrow_mut().durable(upto);
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
                if let Some((f, _, _, _)) = file.take() {
                    f.close().await?;
                }
                // Published before the file exists: the shipper never touches a segment at or
                // above it, and everything below it is closed.
                active.store(start_lsn, Ordering::Release);
                std::fs::create_dir_all(&dir)?;
                let f = open_segment(&spool::segment_path(&dir, start_lsn)).await?;
                // Empty until its first commit, which writes the header with the records.
                file = Some((f, start_lsn, 0, Instant::now()));
            }
            let Some((f, _, off, _)) = file.as_mut() else {
                return Err(std::io::Error::other("no segment"));
            };
            began = Some(*off);
            // A new (or cut back to empty) segment's header goes in the same write as its
            // first records: each `O_DSYNC` write is a disk flush of its own.
            let buf = if *off == 0 {
                let mut b = Vec::with_capacity(spool::HEADER + data.len());
                b.extend_from_slice(&spool::header(shard_id));
                b.extend_from_slice(&data);
                b
            } else {
                data.clone()
            };
            let n = buf.len() as u64;
            let first = *off == 0;
            // `O_DSYNC`: the write returns once its data, and the size that reaches it, are
            // on the disk, as a write followed by fdatasync would.
            let written = f.write_at(buf, *off).await?;
            if written as u64 != n {
                return Err(std::io::Error::other("short write to the spool"));
            }
            *off += n;
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
                let mut s = shard.borrow_mut();
                s.metrics().fsync(us);
                s.durable(upto);
            }
            Err(e) => {
                writable.store(false, Ordering::Relaxed);
                tracing::error!(error = %e, "spool write failed; nothing is acked until it succeeds");
                retry = data;
                retry_upto = upto;
                match (began, &file) {
                    // The write began in the open segment: cut it back to where it began, so
                    // the retry writes these records once. Retried until it holds.
                    (Some(at), Some((f, first, _, _))) => {
                        let first = *first;
                        loop {
                            let cut = async {
                                f.truncate(at).await?;
                                f.fdatasync().await
                            }
                            .await;
                            match cut {
                                Ok(()) => break,
                                Err(e) => {
                                    tracing::error!(error = %e, segment = first, "cutting a failed write back; retrying");
                                    glommio::timer::sleep(Duration::from_millis(100)).await;
                                }
                            }
                        }
                        if let Some((_, _, off, _)) = file.as_mut() {
                            *off = at;
                        }
                    }
                    // Creating the new segment failed: the file, if it was made, holds
                    // nothing; it goes, and is made again.
                    _ => {
                        if let Some((f, _, _, _)) = file.take() {
                            let _ = f.close().await;
                        }
                        let _ = std::fs::remove_file(spool::segment_path(&dir, start_lsn));
                    }
                }
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    /// The open file's status flags as the kernel holds them (`flags:` in fdinfo, octal).
    fn status_flags(fd: i32) -> i32 {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .expect("a flags line");
        i32::from_str_radix(flags.trim(), 8).expect("octal flags")
    }

    #[test]
    fn a_segment_is_opened_for_synchronous_data_writes_and_keeps_what_it_is_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seg");
        std::fs::write(&path, b"an old segment's bytes").expect("an old file");
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let f = open_segment(&path).await.expect("open");
                let flags = status_flags(f.as_raw_fd());
                assert_eq!(flags & libc::O_DSYNC, libc::O_DSYNC, "O_DSYNC in {flags:o}");
                assert_eq!(flags & libc::O_ACCMODE, libc::O_WRONLY, "write only");
                // Created afresh: what a file of that name held is gone.
                assert_eq!(f.write_at(b"abc".to_vec(), 0).await.expect("write"), 3);
                f.close().await.expect("close");
                assert_eq!(std::fs::read(&path).expect("read"), b"abc");
            })
            .expect("executor")
            .join()
            .expect("test");
    }
}
