//! What the comparison servers (`sentientiq-baseline`, `sentientiq-floor-glommio`) share with
//! the edge, so a difference between them is the design, not a setting.

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use sentientiq_proto::Limits;

/// The write key the comparison servers accept by default: the demo tenant's, which the
/// loadgen sends unless told otherwise.
pub const DEMO_KEY: &str = "siq_pk_demo_00000000000000000000";

/// The edge's WebSocket settings (`ws_config` in `edge/server/src/ingest/ws.rs`). The library's
/// default read buffer is 128 KiB, which it zero-fills before every read: a server on the
/// default would pay CPU and memory per frame that the edge does not.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(Limits::DEFAULT.max_frame_bytes))
        .max_frame_size(Some(Limits::DEFAULT.max_frame_bytes))
}
