//! `sentientiq-baseline`: the default design the edge exists to beat, doing the same work per
//! frame: a plain tokio multi-thread server with async-tungstenite, one `DashMap` of sessions,
//! the same dedup and detection (`sentientiq-core`), and one spool writer that group-commits
//! every `--commit-ms` (2 ms, as the edge) with fdatasync before any ack. No lake shipping, no
//! identity store, no QUIC. Speaks siq/1 over `GET /v1/ws` (hello → welcome, frames → acks and
//! `det`), enough for the loadgen.
//!
//! ```text
//! sentientiq-baseline --listen 127.0.0.1:7400 --data DIR [--commit-ms 2] [--key KEY] [--floor]
//!                     [--threads N]
//! ```
//!
//! `--floor` does none of the work: each frame is decoded for its seq and acked at once, with no
//! detection, no spool and no fsync. It measures what receiving a frame and sending its ack over
//! tokio, tungstenite and this machine's TCP costs by itself, the floor under any server's CPU
//! per frame in the same case (`BENCH_SERVER=floor scripts/bench-case.sh CASE`).
//!
//! `--threads N` sets tokio's worker threads (default: one per core, tokio's own default), to
//! compare with an edge of as many shards.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use async_tungstenite::tokio::accept_async_with_config;
use async_tungstenite::tungstenite::Message;
use dashmap::DashMap;
use futures_util::StreamExt;
use sentientiq_bench::servers::{DEMO_KEY, flag_value, ws_config};
use sentientiq_core::{AccountCooldowns, Aggregates, Ctx, Output, Session, TenantPolicy};
use sentientiq_proto::{
    ClientFrame, Det, EdgeFrame, Limits, Seq, Welcome, decode_client, edge_to_vec,
};
use tokio::sync::mpsc;

/// One append waiting for the group commit, and whom to ack when it is durable.
struct Append {
    record: Vec<u8>,
    ack: Option<(mpsc::UnboundedSender<Vec<u8>>, Seq)>,
}

struct SessionState {
    core: Session,
    accounts: AccountCooldowns,
    aggregates: Aggregates,
}

fn main() -> Result<()> {
    let mut listen: SocketAddr = "127.0.0.1:7400".parse()?;
    let mut data = PathBuf::from("data/baseline");
    let mut commit_ms = 2u64;
    let mut key = DEMO_KEY.to_string();
    let mut floor = false;
    let mut threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = flag_value(&mut args, "--listen ADDR")?,
            "--data" => data = flag_value(&mut args, "--data DIR")?,
            "--commit-ms" => commit_ms = flag_value(&mut args, "--commit-ms N")?,
            "--key" => key = flag_value(&mut args, "--key KEY")?,
            "--floor" => floor = true,
            "--threads" => {
                let n: usize = flag_value(&mut args, "--threads N")?;
                if n == 0 {
                    bail!("--threads must be at least 1");
                }
                threads = Some(n);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    std::fs::create_dir_all(&data)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("spool.log"))?;
    let (spool_tx, spool_rx) = std::sync::mpsc::channel::<Append>();
    std::thread::spawn(move || writer(file, spool_rx, Duration::from_millis(commit_ms)));
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build()?;
    let sessions: Arc<DashMap<String, SessionState>> = Arc::new(DashMap::new());
    let policy = Arc::new(TenantPolicy::default());
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen).await?;
        eprintln!("baseline listening on {listen}");
        loop {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            let (sessions, policy, spool, key) = (
                sessions.clone(),
                policy.clone(),
                spool_tx.clone(),
                key.clone(),
            );
            tokio::spawn(async move {
                let _ = conn(s, sessions, policy, spool, key, floor).await;
            });
        }
    })
}

/// The group commit: collects appends for `every`, writes them, fdatasyncs, then acks.
fn writer(mut file: std::fs::File, rx: std::sync::mpsc::Receiver<Append>, every: Duration) {
    let mut buf = Vec::new();
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        std::thread::sleep(every);
        for a in std::iter::once(first).chain(rx.try_iter()) {
            buf.extend_from_slice(&a.record);
            acks.extend(a.ack);
        }
        if !buf.is_empty() && (file.write_all(&buf).is_err() || file.sync_data().is_err()) {
            eprintln!("spool write failed; nothing acked");
            buf.clear();
            acks.clear();
            continue;
        }
        buf.clear();
        for (tx, seq) in acks.drain(..) {
            let _ = tx.send(edge_to_vec(&EdgeFrame::Ack { seq }));
        }
    }
}

async fn conn(
    s: tokio::net::TcpStream,
    sessions: Arc<DashMap<String, SessionState>>,
    policy: Arc<TenantPolicy>,
    spool: std::sync::mpsc::Sender<Append>,
    key: String,
    floor: bool,
) -> Result<()> {
    let ws = accept_async_with_config(s, Some(ws_config())).await?;
    let (mut out, mut inp) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if out.send(Message::Binary(m.into())).await.is_err() {
                break;
            }
        }
    });
    let mut sid: Option<String> = None;
    while let Some(m) = inp.next().await {
        let Message::Binary(b) = m? else { continue };
        let Ok(frame) = decode_client(&b, &Limits::DEFAULT) else {
            continue;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if let ClientFrame::Hello(h) = &frame {
            if h.key.as_str() != key {
                break;
            }
            let id = h.sid.as_str().to_string();
            let ack = sessions
                .entry(id.clone())
                .or_insert_with(|| SessionState {
                    core: Session::new(h),
                    accounts: AccountCooldowns::default(),
                    aggregates: Aggregates::default(),
                })
                .core
                .high_seq();
            sid = Some(id);
            let w = EdgeFrame::Welcome(Welcome {
                edge: "baseline".into(),
                region: "local".into(),
                ack,
                flush_ms: 250,
                max_batch: 512,
                emit: true,
            });
            let _ = tx.send(edge_to_vec(&w));
            continue;
        }
        let (Some(id), Some(seq)) = (&sid, frame.seq()) else {
            continue;
        };
        if floor {
            let _ = tx.send(edge_to_vec(&EdgeFrame::Ack { seq }));
            continue;
        }
        let mut outputs = Vec::new();
        let disposition = {
            let Some(mut st) = sessions.get_mut(id) else {
                break;
            };
            let st = &mut *st;
            let mut ctx = Ctx {
                now_ms: now,
                tenant: &policy,
                accounts: &mut st.accounts,
                aggregates: &mut st.aggregates,
            };
            st.core.handle_frame(&mut ctx, &frame, &mut outputs)
        };
        let mut record = Vec::new();
        if disposition.is_new() {
            // The edge's spool record layout, so the write volume is the same.
            record.extend_from_slice(&(b.len() as u32 + 40).to_le_bytes());
            record.extend_from_slice(&[0u8; 36]);
            record.extend_from_slice(&b);
        }
        for o in &outputs {
            if let Output::Detection(d) = o {
                let f = EdgeFrame::Det(Det {
                    id: format!("d{}", d.n),
                    e: d.emotion.as_str().to_string(),
                    c: (d.confidence * 1000.0).round() / 1000.0,
                    sec: None,
                    at: d.at,
                });
                let _ = tx.send(edge_to_vec(&f));
            }
        }
        if spool
            .send(Append {
                record,
                ack: Some((tx.clone(), seq)),
            })
            .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
    Ok(())
}
