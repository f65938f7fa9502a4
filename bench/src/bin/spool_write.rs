//! `sentientiq-spool-write`: what one durable spool commit costs, by how the segment is
//! written. One glommio executor appends `--commits` writes of `--bytes` each to a fresh file,
//! each durable before the next (`O_DSYNC`), as a shard's committer does (issue 20):
//!
//! - `buffered`: through the page cache (the edge until 2026-12-07);
//! - `direct-reserved`: `O_DIRECT` whole blocks into space preallocated with `fallocate` (the
//!   space is unwritten until a write reaches it);
//! - `direct-ahead`: as `direct-reserved`, and after each commit 1 MiB of zeros written ahead
//!   of the records once they come within 1 MiB of the written blocks' end (timed: the edge
//!   since 2026-12-07, `shard/committer.rs`' `ZERO_AHEAD`);
//! - `direct-zeroed`: `O_DIRECT` into space written with zeros first (untimed);
//! - `direct-grow`: `O_DIRECT`, each write growing the file.
//!
//! It prints the process's CPU per commit (every thread, the kernel's io-wq workers included:
//! `CLOCK_PROCESS_CPUTIME_ID`), the machine's busy CPU per commit (`/proc/stat`, every CPU: kernel threads
//! that finish a write elsewhere count too, so does anything else running) and the commits'
//! latencies. `--pace-ms` sleeps between commits, as the committer's interval does.
//!
//! ```text
//! sentientiq-spool-write MODE [--commits 3000] [--bytes 16000] [--pace-ms 0] [--file PATH]
//! ```
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sentientiq_core::spool_blocks::{BLOCK, blocks, zeros_due};

/// A segment's size in the edge's default config (`spool_segment_bytes`).
const SEGMENT: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Buffered,
    DirectReserved,
    DirectAhead,
    DirectZeroed,
    DirectGrow,
}

/// The CPU time of every thread of this process, the kernel's io-wq workers included (they
/// are threads of the process that submitted the work), in µs.
fn cpu_us() -> Result<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Ok(t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000)
}

/// An open file's status flags as the kernel holds them (`flags:` in fdinfo, octal).
fn status_flags(fd: i32) -> Result<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .context("no flags in fdinfo")?;
    Ok(i32::from_str_radix(flags.trim(), 8)?)
}

/// The machine's busy time in clock ticks (user, nice, system, irq, softirq, steal).
fn busy_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().context("/proc/stat is empty")?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    Ok([0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("buffered") => Mode::Buffered,
        Some("direct-reserved") => Mode::DirectReserved,
        Some("direct-ahead") => Mode::DirectAhead,
        Some("direct-zeroed") => Mode::DirectZeroed,
        Some("direct-grow") => Mode::DirectGrow,
        _ => bail!(
            "usage: sentientiq-spool-write buffered|direct-reserved|direct-ahead|direct-zeroed|direct-grow [--commits N] [--bytes N] [--pace-ms N] [--file PATH]"
        ),
    };
    let (mut commits, mut bytes, mut pace_ms) = (3000usize, 16_000usize, 0u64);
    let mut path = PathBuf::from("spool-write.seg");
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--commits" => commits = value.parse()?,
            "--bytes" => bytes = value.parse()?,
            "--pace-ms" => pace_ms = value.parse()?,
            "--file" => path = value.into(),
            _ => bail!("unknown flag {flag}"),
        }
    }
    if commits == 0 || bytes == 0 || (commits as u64) * (bytes as u64 + BLOCK) > SEGMENT {
        bail!("--commits × (--bytes + {BLOCK}) must be within one {SEGMENT}-byte segment");
    }
    let _ = std::fs::remove_file(&path);
    match mode {
        Mode::DirectZeroed => {
            use std::io::Write;
            let mut f = std::fs::File::create(&path)?;
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..SEGMENT >> 20 {
                f.write_all(&zeros)?;
            }
            f.sync_all()?;
        }
        Mode::DirectReserved | Mode::DirectAhead => {
            let f = std::fs::File::create(&path)?;
            rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), 0, SEGMENT)?;
            f.sync_all()?;
        }
        Mode::Buffered | Mode::DirectGrow => {}
    }
    let file = path.clone();
    let line = glommio::LocalExecutorBuilder::default()
        .spawn(move || async move { run(mode, &file, commits, bytes, pace_ms).await })
        .map_err(|e| anyhow::anyhow!("starting the executor: {e}"))?
        .join()
        .map_err(|e| anyhow::anyhow!("the executor failed: {e}"))??;
    let _ = std::fs::remove_file(&path);
    println!("{line}");
    Ok(())
}

async fn run(
    mode: Mode,
    path: &std::path::Path,
    commits: usize,
    bytes: usize,
    pace_ms: u64,
) -> Result<String> {
    let payload: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8 + 1).collect();
    let mut lat = Vec::with_capacity(commits);
    let mut o = glommio::io::OpenOptions::new();
    o.write(true)
        .create(true)
        .truncate(matches!(mode, Mode::Buffered | Mode::DirectGrow))
        .custom_flags(libc::O_DSYNC);
    let (cpu0, busy0, t0);
    if mode == Mode::Buffered {
        let f = o.buffered_open(path).await.map_err(std::io::Error::from)?;
        (cpu0, busy0, t0) = (cpu_us()?, busy_ticks()?, Instant::now());
        let mut off = 0u64;
        for _ in 0..commits {
            let t = Instant::now();
            if f.write_at(payload.clone(), off)
                .await
                .map_err(std::io::Error::from)?
                != bytes
            {
                bail!("short write");
            }
            off += bytes as u64;
            lat.push(t.elapsed());
            if pace_ms > 0 {
                glommio::timer::sleep(Duration::from_millis(pace_ms)).await;
            }
        }
        f.close().await.map_err(std::io::Error::from)?;
    } else {
        let f = o.dma_open(path).await.map_err(std::io::Error::from)?;
        // glommio opens a DmaFile without O_DIRECT on tmpfs: that would measure the page cache.
        if status_flags(std::os::fd::AsRawFd::as_raw_fd(&f))? & libc::O_DIRECT == 0 {
            bail!(
                "{} is not open O_DIRECT (tmpfs?): run it on the spool's disk",
                path.display()
            );
        }
        (cpu0, busy0, t0) = (cpu_us()?, busy_ticks()?, Instant::now());
        let mut off = 0u64;
        // The bytes of the block holding `off` already written.
        let mut tail: Vec<u8> = Vec::new();
        // Blocks below it are written (records or zeros ahead of them).
        let mut zeroed = 0u64;
        for _ in 0..commits {
            let t = Instant::now();
            let (start, len) = blocks(off, bytes as u64, BLOCK);
            let end = off + bytes as u64;
            let len = len as usize;
            let mut buf = f.alloc_dma_buffer(len);
            let b = buf.as_bytes_mut();
            b[..tail.len()].copy_from_slice(&tail);
            b[tail.len()..tail.len() + bytes].copy_from_slice(&payload);
            b[tail.len() + bytes..].fill(0);
            let keep = (end % BLOCK) as usize;
            let data_end = tail.len() + bytes;
            tail = b[data_end - keep..data_end].to_vec();
            if f.write_at(buf, start).await.map_err(std::io::Error::from)? != len {
                bail!("short write");
            }
            off = end;
            // The commit's latency; the zeros ahead come after it, as the edge's acks do.
            lat.push(t.elapsed());
            zeroed = zeroed.max(start + len as u64);
            if let Some(n) = zeros_due(off, zeroed, SEGMENT).filter(|_| mode == Mode::DirectAhead) {
                let n = n as usize;
                let mut z = f.alloc_dma_buffer(n);
                z.as_bytes_mut().fill(0);
                if f.write_at(z, zeroed).await.map_err(std::io::Error::from)? != n {
                    bail!("short zero write");
                }
                zeroed += n as u64;
            }
            if pace_ms > 0 {
                glommio::timer::sleep(Duration::from_millis(pace_ms)).await;
            }
        }
        f.close().await.map_err(std::io::Error::from)?;
    }
    let wall = t0.elapsed();
    let cpu = cpu_us()? - cpu0;
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    let busy = (busy_ticks()? - busy0) * 10_000;
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_micros();
    Ok(format!(
        "{mode:?} commits={commits} bytes={bytes} pace_ms={pace_ms} wall_s={:.2} process_cpu_us_per_commit={:.1} machine_busy_us_per_commit={:.1} latency_us p50={} p99={} max={}",
        wall.as_secs_f64(),
        cpu as f64 / commits as f64,
        busy as f64 / commits as f64,
        at(0.5),
        at(0.99),
        at(1.0),
    ))
}
