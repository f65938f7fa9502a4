//! `sentientiq-edge-probe`: quick measurements of a running edge (not the loadgen).
//!
//! ```text
//! sentientiq-edge-probe --addr 127.0.0.1:7400 --pid PID [--idle 10000] [--load 200]
//!                       [--rate 20] [--samples 32] [--seconds 10]
//! ```
//! 1. Opens `--idle` WebSocket sessions (hello → welcome) and reports the edge's resident memory
//!    per idle connection (VmRSS of `--pid` before and after).
//! 2. Runs `--load` sessions, each sending a `b` frame of `--samples` samples `--rate` times a
//!    second on an open-loop schedule for `--seconds`, and reports frames/s, samples/s and ack
//!    latency (intended send time → ack) p50/p99/p99.9/max.
#![allow(clippy::print_stdout)] // a command-line tool: stdout is its output

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use glommio::{LocalExecutorBuilder, Placement};
use sentientiq_proto::*;

struct Args {
    addr: SocketAddr,
    pid: Option<u32>,
    idle: usize,
    load: usize,
    rate: f64,
    samples: usize,
    seconds: f64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        addr: "127.0.0.1:7400".parse()?,
        pid: None,
        idle: 10_000,
        load: 200,
        rate: 20.0,
        samples: 32,
        seconds: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--addr" => a.addr = v.parse()?,
            "--pid" => a.pid = Some(v.parse()?),
            "--idle" => a.idle = v.parse()?,
            "--load" => a.load = v.parse()?,
            "--rate" => a.rate = v.parse()?,
            "--samples" => a.samples = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            _ => bail!("unknown option {k}"),
        }
    }
    Ok(a)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

type Ws = async_tungstenite::WebSocketStream<glommio::net::TcpStream>;

async fn open(addr: SocketAddr, sid: &str) -> Result<Ws> {
    let s = glommio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {addr}: {e}"))?;
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://{addr}/v1/ws"), s).await?;
    let h = Hello {
        key: WriteKey::parse("siq_pk_demo_00000000000000000000")?,
        sid: Sid::parse(sid)?,
        aid: None,
        url: "https://probe.example/".into(),
        referrer: None,
        title: None,
        vw: 1280,
        vh: 800,
        dpr: None,
        tz: None,
        ptr: None,
        sdk: "probe/1".into(),
        ack: None,
        dnt: None,
        uid: None,
    };
    ws.send(Message::Binary(
        client_to_vec(&ClientFrame::Hello(h)).into(),
    ))
    .await?;
    match ws.next().await {
        Some(Ok(Message::Binary(b))) => match decode_edge(&b, &Limits::DEFAULT)? {
            EdgeFrame::Welcome(_) => Ok(ws),
            f => bail!("expected welcome, got {f:?}"),
        },
        other => bail!("expected welcome, got {other:?}"),
    }
}

fn main() -> Result<()> {
    let a = args()?;
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(1 << 20)
        .make()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    ex.run(async move { probe(a).await })
}

async fn probe(a: Args) -> Result<()> {
    let run = std::process::id();
    // 1. Idle connections.
    let before = a.pid.and_then(rss_kib);
    let mut idle = Vec::with_capacity(a.idle);
    let t0 = Instant::now();
    for i in 0..a.idle {
        idle.push(open(a.addr, &format!("s_probe_idle_{run}_{i:08}")).await?);
    }
    let connect_s = t0.elapsed().as_secs_f64();
    glommio::timer::sleep(Duration::from_millis(500)).await;
    let after = a.pid.and_then(rss_kib);
    let per_conn = match (before, after) {
        (Some(b), Some(x)) if a.idle > 0 => {
            Some((x.saturating_sub(b)) as f64 * 1024.0 / a.idle as f64)
        }
        _ => None,
    };
    println!(
        "idle: {} sessions opened in {:.1} s; edge RSS {:?} KiB -> {:?} KiB; {} bytes per idle connection",
        a.idle,
        connect_s,
        before,
        after,
        per_conn.map_or("?".to_string(), |b| format!("{b:.0}"))
    );

    // 2. Load.
    let lat: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::new()));
    let sent = Rc::new(RefCell::new(0u64));
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    let mut tasks = Vec::new();
    for c in 0..a.load {
        let ws = open(a.addr, &format!("s_probe_load_{run}_{c:08}")).await?;
        let (lat, sent, samples) = (lat.clone(), sent.clone(), a.samples);
        tasks.push(glommio::spawn_local(async move {
            let (mut tx, mut rx) = ws.split();
            let sched: Rc<RefCell<std::collections::VecDeque<(u64, Instant)>>> = Rc::default();
            let s2 = sched.clone();
            let reader = glommio::spawn_local(async move {
                while let Some(Ok(m)) = rx.next().await {
                    if let Message::Binary(b) = m
                        && let Ok(EdgeFrame::Ack { seq }) = decode_edge(&b, &Limits::DEFAULT)
                    {
                        let now = Instant::now();
                        let mut q = s2.borrow_mut();
                        while q.front().is_some_and(|(s, _)| *s <= seq.0) {
                            if let Some((_, at)) = q.pop_front() {
                                lat.borrow_mut()
                                    .push(now.duration_since(at).as_micros() as u64);
                            }
                        }
                    }
                }
            });
            // Stagger connections over one period so sends are spread out.
            let mut next = Instant::now() + period.mul_f64(c as f64 / 97.0 % 1.0);
            let mut seq = 0u64;
            while next < end {
                let now = Instant::now();
                if next > now {
                    glommio::timer::sleep(next - now).await;
                }
                seq += 1;
                let mut b = Batch {
                    seq: Seq(seq),
                    t0: 1_763_780_000_000 + seq * 50,
                    ..Batch::default()
                };
                for i in 0..samples {
                    b.push(
                        kind::MOVE,
                        8000,
                        (i * 7 % 1200) as i32,
                        (seq as usize * 3 % 800) as i32,
                        0,
                    );
                }
                sched.borrow_mut().push_back((seq, next));
                if tx
                    .send(Message::Binary(
                        client_to_vec(&ClientFrame::Batch(b)).into(),
                    ))
                    .await
                    .is_err()
                {
                    break;
                }
                *sent.borrow_mut() += 1;
                next += period;
            }
            glommio::timer::sleep(Duration::from_millis(500)).await;
            drop(reader);
        }));
    }
    let t1 = Instant::now();
    for t in tasks {
        t.await;
    }
    let secs = t1.elapsed().as_secs_f64().max(a.seconds);
    let mut l = lat.borrow_mut();
    l.sort_unstable();
    let q = |p: f64| {
        if l.is_empty() {
            0.0
        } else {
            l[((l.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    let frames = *sent.borrow();
    println!(
        "load: {} sessions × {} frames/s × {} samples for {:.0} s: {} frames sent ({:.0} frames/s, {:.0} samples/s), {} acked; ack latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        a.load,
        a.rate,
        a.samples,
        a.seconds,
        frames,
        frames as f64 / secs,
        frames as f64 * a.samples as f64 / secs,
        l.len(),
        q(0.5),
        q(0.99),
        q(0.999),
        q(1.0)
    );
    drop(idle);
    Ok(())
}
