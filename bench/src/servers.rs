//! What the comparison servers (`sentientiq-baseline`, `sentientiq-floor-glommio`,
//! `sentientiq-floor-uring`) share with the edge and with each other, so a difference between
//! them is the design, not a setting.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use sentientiq_proto::{ClientFrame, EdgeFrame, Limits, Seq, Welcome};

/// The write key the comparison servers accept by default: the demo tenant's, which the
/// loadgen sends unless told otherwise.
pub const DEMO_KEY: &str = "siq_pk_demo_00000000000000000000";

/// The edge's WebSocket read buffer (`WS_READ_BYTES` in `edge/server/src/ingest/ws.rs`): the
/// most one read takes from a socket, and the buffer every connection holds. The edge went from
/// 4 KiB to 1 KiB on 2026-12-05 (`bench/runs/2026-12-05-vm/README.md`, "Twenty-seventh
/// session"); this stayed at 4 KiB until the thirty-first session, so the baseline's memory in
/// the runs between held 3 KiB per connection more than the edge's setting would give it.
pub const READ_BUFFER: usize = 1024;

/// The edge's WebSocket settings (`ws_config` in `edge/server/src/ingest/ws.rs`). The library's
/// default read buffer is 128 KiB, which it zero-fills before every read: a server on the
/// default would pay CPU and memory per frame that the edge does not.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(Limits::DEFAULT.max_frame_bytes))
        .max_frame_size(Some(Limits::DEFAULT.max_frame_bytes))
}

/// The value after a flag on a server's command line, parsed: `usage` (`--commit-ms N`) names
/// the flag in both errors, a missing value and one that does not parse (with the value and
/// why), e.g. `--commit-ms N: "2ms": invalid digit found in string`.
pub fn flag_value<T>(args: &mut dyn Iterator<Item = String>, usage: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let v = args
        .next()
        .with_context(|| format!("{usage}: the value is missing"))?;
    v.parse()
        .map_err(|e| anyhow::anyhow!("{usage}: {v:?}: {e}"))
}

/// A transport floor's command line: `--listen ADDR [--shards N] [--key KEY]`, plus the
/// options `extra` takes (it gets each unknown argument and the rest of the line, and says
/// whether it took it).
#[derive(Debug)]
pub struct FloorArgs {
    pub listen: SocketAddr,
    /// 0: one per available CPU.
    pub shards: usize,
    pub key: String,
}

impl FloorArgs {
    pub fn parse(
        mut extra: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool>,
    ) -> Result<FloorArgs> {
        let mut f = FloorArgs {
            listen: "127.0.0.1:7400".parse()?,
            shards: 0,
            key: DEMO_KEY.to_string(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--listen" => f.listen = flag_value(&mut args, "--listen ADDR")?,
                "--shards" => f.shards = flag_value(&mut args, "--shards N")?,
                "--key" => f.key = flag_value(&mut args, "--key KEY")?,
                other => {
                    if !extra(other, &mut args)? {
                        bail!("unknown argument {other:?}")
                    }
                }
            }
        }
        if f.shards == 0 {
            f.shards = std::thread::available_parallelism().map_or(1, |n| n.get());
        }
        Ok(f)
    }
}

/// What a transport floor answers to a decoded frame.
#[derive(Debug, PartialEq)]
pub enum FloorReply {
    Send(EdgeFrame),
    /// Nothing to answer (a frame without a seq).
    Nothing,
    /// A `hello` with another key: the connection is dropped.
    Refuse,
}

/// A floor's whole protocol: a `hello` with `key` is welcomed as edge `edge`, any frame with
/// a seq is acked at once.
pub fn floor_reply(frame: &ClientFrame, key: &str, edge: &str) -> FloorReply {
    match frame {
        ClientFrame::Hello(h) if h.key.as_str() != key => FloorReply::Refuse,
        ClientFrame::Hello(_) => FloorReply::Send(EdgeFrame::Welcome(Welcome {
            edge: edge.into(),
            region: "local".into(),
            ack: Seq(0),
            flush_ms: 250,
            max_batch: 512,
            emit: true,
        })),
        f => match f.seq() {
            Some(seq) => FloorReply::Send(EdgeFrame::Ack { seq }),
            None => FloorReply::Nothing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<T>(line: &[&str], usage: &str) -> Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        flag_value(&mut line.iter().map(|s| s.to_string()), usage)
    }

    #[test]
    fn a_flags_value_is_parsed_and_either_error_names_the_flag() {
        assert_eq!(
            value::<u64>(&["25", "--key"], "--commit-ms N").ok(),
            Some(25)
        );
        assert_eq!(
            value::<SocketAddr>(&["127.0.0.1:0"], "--listen ADDR").ok(),
            "127.0.0.1:0".parse().ok()
        );
        assert_eq!(
            value::<String>(&[""], "--key KEY").ok().as_deref(),
            Some("")
        );
        let e = |r: Result<u64>| r.map_or_else(|e| e.to_string(), |v| format!("took {v}"));
        assert_eq!(
            e(value(&[], "--commit-ms N")),
            "--commit-ms N: the value is missing"
        );
        assert_eq!(
            e(value(&["2ms"], "--commit-ms N")),
            "--commit-ms N: \"2ms\": invalid digit found in string"
        );
        assert_eq!(
            e(value(&["-1"], "--shards N")),
            "--shards N: \"-1\": invalid digit found in string"
        );
    }
}
