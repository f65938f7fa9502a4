//! `sentientiq-floor-glommio`: the edge's transport and nothing else, to measure what receiving
//! a frame and sending its ack costs on the edge's own stack. One glommio executor per core
//! (as the edge: `PoolPlacement::MaxSpread`, the same ring depth and I/O memory as its default
//! config), each accepting on its own `SO_REUSEPORT` socket, async-tungstenite over glommio's
//! `TcpStream` with the edge's WebSocket settings; each frame is decoded for its seq and acked
//! at once. No session routing, detection, spool, fsync, identity or lake shipping. The tokio
//! counterpart is `sentientiq-baseline --floor`.
//!
//! ```text
//! sentientiq-floor-glommio --listen 127.0.0.1:7400 [--shards N] [--key KEY]
//! ```
//!
//! `BENCH_SERVER=floor-glommio scripts/bench-case.sh CASE` serves a case with it.
#![allow(clippy::print_stdout)]

use anyhow::{Result, bail};
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
use sentientiq_bench::servers::{FloorArgs, FloorReply, floor_reply, ws_config};
use sentientiq_proto::{Limits, decode_client, edge_to_vec};

/// The edge's defaults (`edge/server/src/config/edge.rs`: `ring_depth`; `io_memory_bytes` as in
/// `bench/cases/*/edge.toml`).
const RING_DEPTH: usize = 4096;
const IO_MEMORY: usize = 512 * 1024;

fn main() -> Result<()> {
    let FloorArgs {
        listen,
        shards,
        key,
    } = FloorArgs::parse(|_, _| Ok(false))?;
    eprintln!("floor-glommio listening on {listen} with {shards} shards");
    let handles = LocalExecutorPoolBuilder::new(PoolPlacement::MaxSpread(shards, None))
        .io_memory(IO_MEMORY)
        .ring_depth(RING_DEPTH)
        .on_all_shards(move || {
            let key = key.clone();
            async move {
                let l = TcpListener::bind(listen)?;
                loop {
                    let s = l.accept().await?;
                    let key = key.clone();
                    glommio::spawn_local(async move {
                        let _ = conn(s, &key).await;
                    })
                    .detach();
                }
                #[allow(unreachable_code)]
                Ok::<(), glommio::GlommioError<()>>(())
            }
        })
        .map_err(|e| anyhow::anyhow!("starting executors: {e}"))?;
    for r in handles.join_all() {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("shard failed: {e}"),
            Err(e) => bail!("shard failed: {e}"),
        }
    }
    Ok(())
}

async fn conn(s: TcpStream, key: &str) -> Result<()> {
    let _ = s.set_nodelay(true); // as the edge's listener
    let mut ws = async_tungstenite::accept_async_with_config(s, Some(ws_config())).await?;
    while let Some(m) = ws.next().await {
        let Message::Binary(b) = m? else { continue };
        let Ok(frame) = decode_client(&b, &Limits::DEFAULT) else {
            continue;
        };
        let reply = match floor_reply(&frame, key, "floor-glommio") {
            FloorReply::Send(r) => r,
            FloorReply::Nothing => continue,
            FloorReply::Refuse => break,
        };
        ws.send(Message::Binary(edge_to_vec(&reply).into())).await?;
    }
    Ok(())
}
