//! What the edge relies on from its (patched) glommio reactor: `vendor/glommio`, see
//! `vendor/README.md`. The patch's changes remove work from the reactor's loop, so these tests
//! check that nothing it guaranteed went with it:
//!
//! - a busy task queue is still preempted, again and again: the preemption timer, which the
//!   reactor now keeps armed across loop passes, is armed again once it has fired (each pass
//!   here follows a fired timer, so this guards preemption, not the keep path; that one's
//!   saving is measured in the bench record);
//! - an executor that went to sleep is always woken by a shared-channel send: the fences that
//!   replace the per-sleep `membarrier()` never lose a wakeup (Dekker's pattern; a lost wakeup
//!   would hang a round trip, caught by the watchdog). The store-load reordering the fences
//!   prevent is too rare to provoke here (the test passed with both fences removed, on x86):
//!   it catches a wake path or a sweep that went missing; the ordering rests on the fence
//!   argument in vendor/README.md;
//! - a sleeping executor wakes for its earliest timer even when its previous sleep was bounded
//!   by a later one: each sleep's wait carries the earliest timer as its timeout (change 6),
//!   or, on kernels before 5.11, the sleep timeout the reactor keeps armed from one sleep to
//!   the next is re-armed when a timer earlier than it appears (a sleep bounded too late hangs
//!   the test); an idle sleep ends (each idle test's watchdog);
//! - an idle executor stops waking up: the preemption timer kept through a sleep fires at most
//!   once per idle spell, instead of once per slice for as long as the executor is idle.
//! - an executor with a sleep policy (change 5) lets completions gather in its sleeps: a
//!   socket written a byte at a time wakes it about once per window, not once per byte, and
//!   the policy is told the completions it had; and an idle executor whose policy gathers
//!   still sleeps until there is something to do, not once per window, and wakes for
//!   completions that io_uring's workers post directly (an `fsync`) after an empty window.
//!   A kernel without io_uring min-wait (before Linux 6.12) cannot run these three: on one,
//!   each checks instead that an executor given a policy refuses to start, and says it skipped.
//!
//! The time limits are watchdogs for liveness (a broken patch hangs), not speed assertions.
use anyhow::{Result, bail};
use glommio::channels::shared_channel;
use glommio::timer::sleep;
use glommio::{LocalExecutorBuilder, Placement};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test may take before its work is presumed stuck (a lost preemption or wakeup).
const WATCHDOG: Duration = Duration::from_secs(120);

/// The reports of a test's two executors (each a count, or what went wrong), failing with
/// `stuck` when they do not both arrive within the watchdog.
fn both_reports(done: &mpsc::Receiver<Result<u64, String>>, stuck: &str) -> Result<Vec<u64>> {
    let deadline = Instant::now() + WATCHDOG;
    let mut results = Vec::new();
    while results.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        match done.recv_timeout(left) {
            Ok(r) => results.push(r.map_err(anyhow::Error::msg)?),
            Err(_) => bail!(
                "no answer within {WATCHDOG:?} after {} of 2 executors finished: {stuck}",
                results.len()
            ),
        }
    }
    Ok(results)
}

#[test]
fn a_busy_task_queue_is_preempted_again_and_again() -> Result<()> {
    const PREEMPTIONS: u32 = 50;
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .preempt_timer(Duration::from_millis(2))
        .spawn(|| async {
            let give_up = Instant::now() + WATCHDOG;
            let mut preempted = 0;
            // The task never awaits anything but `yield_if_needed`: only the preemption timer
            // firing in the latency ring can make `need_preempt` true.
            while preempted < PREEMPTIONS {
                if glommio::executor().need_preempt() {
                    preempted += 1;
                    glommio::yield_if_needed().await;
                } else if Instant::now() > give_up {
                    return preempted;
                }
                std::hint::spin_loop();
            }
            preempted
        })
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))?;
    let preempted = handle
        .join()
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))?;
    if preempted < PREEMPTIONS {
        bail!(
            "preempted {preempted} times, then never again: the preemption timer was not re-armed"
        );
    }
    Ok(())
}

#[test]
fn a_sleeping_executor_is_always_woken_by_a_shared_channel_send() -> Result<()> {
    // Each round trip puts both executors to sleep in turn (nothing else runs on them), so each
    // is a fresh race between a sleeper's last sweep of its channels and the sender's check of
    // whether it sleeps.
    const ROUND_TRIPS: u64 = 20_000;
    let (ping_tx, ping_rx) = shared_channel::new_bounded::<u64>(1);
    let (pong_tx, pong_rx) = shared_channel::new_bounded::<u64>(1);
    let (done_tx, done_rx) = mpsc::channel::<Result<u64, String>>();

    let echo_done = done_tx.clone();
    let echo = LocalExecutorBuilder::new(Placement::Unbound)
        .name("echo")
        .spawn(move || async move {
            let rx = ping_rx.connect().await;
            let tx = pong_tx.connect().await;
            let mut echoed = 0;
            while let Some(n) = rx.recv().await {
                if tx.send(n).await.is_err() {
                    let _ = echo_done.send(Err(format!("pong {n} refused")));
                    return;
                }
                echoed += 1;
            }
            let _ = echo_done.send(Ok(echoed));
        })
        .map_err(|e| anyhow::anyhow!("echo executor: {e:?}"))?;
    let pinger = LocalExecutorBuilder::new(Placement::Unbound)
        .name("ping")
        .spawn(move || async move {
            let tx = ping_tx.connect().await;
            let rx = pong_rx.connect().await;
            for n in 0..ROUND_TRIPS {
                if tx.send(n).await.is_err() {
                    let _ = done_tx.send(Err(format!("ping {n} refused")));
                    return;
                }
                match rx.recv().await {
                    Some(m) if m == n => {}
                    other => {
                        let _ = done_tx.send(Err(format!("ping {n} answered by {other:?}")));
                        return;
                    }
                }
            }
            let _ = done_tx.send(Ok(ROUND_TRIPS));
        })
        .map_err(|e| anyhow::anyhow!("ping executor: {e:?}"))?;

    let results = both_reports(&done_rx, "a wakeup was lost")?;
    pinger.join().map_err(|e| anyhow::anyhow!("ping: {e:?}"))?;
    echo.join().map_err(|e| anyhow::anyhow!("echo: {e:?}"))?;
    // The pinger reports its round trips, the echo how many it answered.
    assert_eq!(results.iter().sum::<u64>(), 2 * ROUND_TRIPS, "{results:?}");
    Ok(())
}

#[test]
fn a_sleeping_executor_wakes_for_a_timer_earlier_than_the_one_it_armed() -> Result<()> {
    // The sleeper always has a far timer (ten minutes). Each round it sleeps on a channel, so
    // its sleep is bounded by the far timer (its preemption slice, 20 minutes, is longer, so
    // the preemption timer it keeps through the sleep cannot stand in); a send wakes it, it
    // then sleeps 2 ms: that sleep must be bounded by the 2 ms timer, or the round waits for
    // the far timer and the watchdog fails the test. Where the kernel lets the sleep's wait
    // carry its own timeout (Linux 5.11, vendor/README.md change 6) each sleep's wait takes the
    // earliest timer; on older kernels the sleep timeout kept on the latency ring must be
    // replaced by an earlier one (change 4).
    const ROUNDS: u64 = 200;
    let (go_tx, go_rx) = shared_channel::new_bounded::<u64>(1);
    let (ack_tx, ack_rx) = shared_channel::new_bounded::<u64>(1);
    let (done_tx, done_rx) = mpsc::channel::<Result<u64, String>>();

    let sleeper_done = done_tx.clone();
    let sleeper = LocalExecutorBuilder::new(Placement::Unbound)
        .name("sleeper")
        .preempt_timer(Duration::from_secs(1200))
        .spawn(move || async move {
            let far = glommio::spawn_local(sleep(Duration::from_secs(600))).detach();
            let rx = go_rx.connect().await;
            let tx = ack_tx.connect().await;
            let mut rounds = 0;
            while let Some(n) = rx.recv().await {
                sleep(Duration::from_millis(2)).await;
                if tx.send(n).await.is_err() {
                    let _ = sleeper_done.send(Err(format!("ack {n} refused")));
                    return;
                }
                rounds += 1;
            }
            far.cancel();
            let _ = sleeper_done.send(Ok(rounds));
        })
        .map_err(|e| anyhow::anyhow!("sleeper executor: {e:?}"))?;
    let waker = LocalExecutorBuilder::new(Placement::Unbound)
        .name("waker")
        .spawn(move || async move {
            let tx = go_tx.connect().await;
            let rx = ack_rx.connect().await;
            for n in 0..ROUNDS {
                // Give the sleeper time to park on its channel first.
                sleep(Duration::from_millis(1)).await;
                if tx.send(n).await.is_err() {
                    let _ = done_tx.send(Err(format!("go {n} refused")));
                    return;
                }
                if rx.recv().await != Some(n) {
                    let _ = done_tx.send(Err(format!("round {n} not acknowledged")));
                    return;
                }
            }
            let _ = done_tx.send(Ok(ROUNDS));
        })
        .map_err(|e| anyhow::anyhow!("waker executor: {e:?}"))?;

    let results = both_reports(&done_rx, "a timer was overslept")?;
    waker.join().map_err(|e| anyhow::anyhow!("waker: {e:?}"))?;
    sleeper
        .join()
        .map_err(|e| anyhow::anyhow!("sleeper: {e:?}"))?;
    assert_eq!(results.iter().sum::<u64>(), 2 * ROUNDS, "{results:?}");
    Ok(())
}

/// This thread's voluntary context switches: one per sleep of its executor.
fn voluntary_context_switches() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .ok_or_else(|| anyhow::anyhow!("no voluntary_ctxt_switches in /proc/thread-self/status"))?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// The wake-ups of an executor made by `builder` while it sleeps for `idle` after some work
/// (so the reactor has a preemption timer to keep, and has settled). Fails if the sleep has
/// not ended within the watchdog: a sleep that no timeout bounds never ends.
fn wakeups_while_idle(builder: LocalExecutorBuilder, idle: Duration) -> Result<u64> {
    let (done_tx, done_rx) = mpsc::channel::<Result<u64, String>>();
    let _detached = builder
        .spawn(move || async move {
            let slept = async {
                for _ in 0..50 {
                    glommio::yield_if_needed().await;
                    sleep(Duration::from_micros(200)).await;
                }
                let before = voluntary_context_switches()?;
                sleep(idle).await;
                let after = voluntary_context_switches()?;
                Ok::<u64, anyhow::Error>(after.saturating_sub(before))
            }
            .await;
            let _ = done_tx.send(slept.map_err(|e| e.to_string()));
        })
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))?;
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(wakeups) => wakeups.map_err(anyhow::Error::msg),
        Err(_) => bail!(
            "an idle sleep of {idle:?} had not ended after {WATCHDOG:?}: its timer was overslept"
        ),
    }
}

#[test]
fn an_idle_executor_stops_waking_up() -> Result<()> {
    // With a 5 ms slice, an idle spell of 400 ms would be about 80 wake-ups (one per slice) if
    // the preemption timer kept through a sleep were armed again after every idle wake-up; it
    // is at most a couple: the timer fires once, and the next sleep cancels it.
    const SLICE: Duration = Duration::from_millis(5);
    const IDLE: Duration = Duration::from_millis(400);
    const MAX_WAKEUPS: u64 = 10;
    let wakeups = wakeups_while_idle(
        LocalExecutorBuilder::new(Placement::Unbound).preempt_timer(SLICE),
        IDLE,
    )?;
    if wakeups > MAX_WAKEUPS {
        bail!(
            "{wakeups} wake-ups in an idle spell of {IDLE:?} with a {SLICE:?} slice: the \
             preemption timer keeps waking an idle executor"
        );
    }
    Ok(())
}

/// A sleep policy's precondition, io_uring min-wait (Linux 6.12). Where the kernel has it,
/// returns true and the test goes on. Where it does not (Debian 12's 6.1, say), the test
/// cannot run: this checks instead that an executor given a policy refuses to start and says
/// why, and that the kernel is indeed older than 6.12 (the edge then runs without a policy, or
/// refuses to start if `edge.wait_gather_us` asks for one: `gather::sleeps`), prints that the
/// test was skipped (shown with `--show-output`), and returns false.
fn min_wait_or_skip(test: &str) -> Result<bool> {
    if glommio::sleep_policy_supported() {
        return Ok(true);
    }
    let refused = LocalExecutorBuilder::new(Placement::Unbound)
        .sleep_policy(Box::new(AlwaysGather(
            1,
            std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
        )))
        .spawn(|| async {})
        .map_err(|e| format!("{e:?}"))
        .and_then(|h| h.join().map_err(|e| format!("{e:?}")));
    match refused {
        Err(e) if e.contains("needs io_uring min-wait") => {
            sentientiq_testkit::kernel::refused_for_min_wait(
                test,
                &format!("an executor with a sleep policy refuses to start: {e}"),
            );
            Ok(false)
        }
        Err(e) => bail!("an executor with a sleep policy failed for another reason: {e}"),
        Ok(()) => bail!(
            "this kernel has no io_uring min-wait, yet an executor with a sleep policy started"
        ),
    }
}

/// A policy that always gathers for its window (µs) and adds up the completions it is told of.
#[derive(Debug)]
struct AlwaysGather(u32, std::sync::Arc<std::sync::atomic::AtomicU64>);

impl glommio::SleepPolicy for AlwaysGather {
    fn min_wait_us(&mut self, _now: Instant, completions: u64) -> u32 {
        self.1
            .fetch_add(completions, std::sync::atomic::Ordering::Relaxed);
        self.0
    }
}

#[test]
fn a_sleep_policy_lets_completions_gather() -> Result<()> {
    use futures_lite::AsyncReadExt;
    use std::io::Write;
    // A byte a millisecond for at least 100 ms. An executor that wakes on every completion
    // wakes about once per byte (100 times); one that gathers for 50 ms wakes about twice per
    // 100 ms of writing, however slow the writer is made (a writer a tenth as fast still gives
    // about 20).
    const BYTES: usize = 100;
    const MAX_WAKEUPS: u64 = 40;
    const WINDOW_US: u32 = 50_000;
    if !min_wait_or_skip("a_sleep_policy_lets_completions_gather")? {
        return Ok(());
    }
    let told = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let policy = AlwaysGather(WINDOW_US, told.clone());
    let (addr_tx, addr_rx) = mpsc::channel::<std::net::SocketAddr>();
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .sleep_policy(Box::new(policy))
        .spawn(move || async move {
            let glommio_err = |e: glommio::GlommioError<()>| anyhow::anyhow!("{e}");
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").map_err(glommio_err)?;
            addr_tx.send(listener.local_addr().map_err(glommio_err)?)?;
            let mut stream = listener.accept().await.map_err(glommio_err)?;
            let mut buf = [0u8; BYTES];
            let mut got = 0;
            let mut reads = 0u64;
            let before = voluntary_context_switches()?;
            while got < BYTES {
                let n = stream.read(&mut buf[got..]).await?;
                if n == 0 {
                    bail!("the writer closed after {got} bytes");
                }
                got += n;
                reads += 1;
            }
            let after = voluntary_context_switches()?;
            // One more sleep: the policy hears of a sleep's completions as the next begins.
            sleep(Duration::from_millis(1)).await;
            Ok::<(u64, u64), anyhow::Error>((after.saturating_sub(before), reads))
        })
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))?;
    let mut writer = std::net::TcpStream::connect(addr_rx.recv_timeout(WATCHDOG)?)?;
    writer.set_nodelay(true)?;
    for _ in 0..BYTES {
        writer.write_all(b"x")?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let (wakeups, reads) = handle
        .join()
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))??;
    eprintln!("{wakeups} wake-ups, {reads} reads for {BYTES} bytes");
    if wakeups > MAX_WAKEUPS {
        bail!(
            "{wakeups} wake-ups ({reads} reads) for {BYTES} bytes a millisecond apart with a \
             {WINDOW_US} µs window: the sleeps do not gather"
        );
    }
    let told = told.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("the policy was told of {told} completions");
    // glommio reads a socket only once a readiness poll armed on the main ring has completed
    // (one is armed when the stream is made, and again after each read that did not fill the
    // buffer): each read that returned bytes followed a completion of its own, and the sleep
    // after the reads told the policy of all of them. A lower bound only: the accept and the
    // timers complete too.
    assert!(
        told >= reads,
        "the policy was told of {told} completions for {reads} reads"
    );
    Ok(())
}

#[test]
fn an_idle_executor_that_gathers_still_sleeps_until_its_first_completion() -> Result<()> {
    // The kernel ends a min-wait with no overall timeout after the window even when nothing
    // completed; the reactor gives it one far away, so an idle executor whose policy gathers
    // for 5 ms sleeps through 400 ms (its timer's one wake-up), where waking once per window
    // would be about 80 wake-ups.
    const WINDOW_US: u32 = 5_000;
    const IDLE: Duration = Duration::from_millis(400);
    const MAX_WAKEUPS: u64 = 10;
    if !min_wait_or_skip("an_idle_executor_that_gathers_still_sleeps_until_its_first_completion")? {
        return Ok(());
    }
    let told = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let wakeups = wakeups_while_idle(
        LocalExecutorBuilder::new(Placement::Unbound)
            .sleep_policy(Box::new(AlwaysGather(WINDOW_US, told))),
        IDLE,
    )?;
    if wakeups > MAX_WAKEUPS {
        bail!(
            "{wakeups} wake-ups in an idle spell of {IDLE:?} with a {WINDOW_US} µs window: \
             a gathering sleep ends with its window even when nothing completed"
        );
    }
    Ok(())
}

#[test]
fn a_gathering_executor_wakes_for_completions_that_io_uring_workers_post() -> Result<()> {
    // io_uring hands an fsync to its workers, which post its completion directly, not as task
    // work. With a 1 µs window each fdatasync completes after its sleep's window has ended
    // empty, and must still wake the executor: a wait that went on for more completions after
    // an empty window would not be woken by it, and the watchdog fails the test.
    const SYNCS: u64 = 20;
    if !min_wait_or_skip("a_gathering_executor_wakes_for_completions_that_io_uring_workers_post")? {
        return Ok(());
    }
    // On the target's disk, not a tmpfs, so each fdatasync has something to write.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let path = dir.path().join("synced");
    let (done_tx, done_rx) = mpsc::channel::<Result<u64, String>>();
    let told = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let _detached = LocalExecutorBuilder::new(Placement::Unbound)
        .sleep_policy(Box::new(AlwaysGather(1, told)))
        .spawn(move || async move {
            let synced = async {
                let f = glommio::io::BufferedFile::create(&path).await?;
                for i in 0..SYNCS {
                    f.write_at(vec![7u8; 64 * 1024], i * 64 * 1024).await?;
                    f.fdatasync().await?;
                }
                f.close().await?;
                Ok::<u64, glommio::GlommioError<()>>(SYNCS)
            }
            .await;
            let _ = done_tx.send(synced.map_err(|e| e.to_string()));
        })
        .map_err(|e| anyhow::anyhow!("executor: {e:?}"))?;
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(synced) => assert_eq!(synced.map_err(anyhow::Error::msg)?, SYNCS),
        Err(_) => bail!(
            "no answer within {WATCHDOG:?}: a gathering sleep was not woken by an fdatasync's \
             completion"
        ),
    }
    Ok(())
}
