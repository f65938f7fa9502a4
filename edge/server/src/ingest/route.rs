//! Where one session's frames go from the connection that carries them.

use glommio::channels::local_channel::LocalSender;
use sentientiq_proto::{ClientFrame, EdgeFrame, ErrorCode, Sid, client_to_vec, edge_to_vec};

use crate::shard::{ConnRef, Inbound, Out, ShardRef, owner};
use crate::telemetry::ShardMetrics;

pub(crate) fn err_frame(code: ErrorCode, msg: &str, fatal: bool) -> Vec<u8> {
    edge_to_vec(&EdgeFrame::Err(sentientiq_proto::Err {
        code,
        msg: msg.to_string(),
        fatal,
        retry_ms: None,
    }))
}

/// Where one session's frames go from this connection: registered with the shard, owner
/// computed once. (QUIC streams use it too.)
#[derive(Debug)]
pub(crate) struct Route {
    shard: ShardRef,
    own: usize,
    pub(crate) conn: ConnRef,
    tenant: u32,
    sid: Sid,
    peer: std::net::IpAddr,
}

impl Route {
    pub(crate) fn open(
        shard: &ShardRef,
        tenant: usize,
        sid: Sid,
        peer: std::net::IpAddr,
        tx: LocalSender<Out>,
    ) -> Route {
        let mut s = shard.borrow_mut();
        let own = owner(
            &s.node.tenants.load().get(tenant).id,
            sid.as_str(),
            s.node.nshards,
        );
        let conn = s.register(tx);
        drop(s);
        Route {
            shard: shard.clone(),
            own,
            conn,
            tenant: tenant as u32,
            sid,
            peer,
        }
    }

    /// Routes one decoded frame to its owner. Emails and card numbers are redacted here, so
    /// neither the core nor the spool ever sees them; `raw` (the bytes as received) is kept
    /// when nothing changed, otherwise the frame is re-encoded.
    pub(crate) fn send(&self, raw: Option<Vec<u8>>, mut frame: ClientFrame, recv_ms: u64) {
        let mut s = self.shard.borrow_mut();
        let redacted = sentientiq_core::privacy::redact(&mut frame);
        if redacted {
            ShardMetrics::inc(&s.metrics().redacted);
        }
        let raw = match raw {
            // A hello is never spooled: its bytes are not kept.
            _ if matches!(frame, ClientFrame::Hello(_)) => Vec::new(),
            Some(r) if !redacted => r,
            _ => client_to_vec(&frame),
        };
        s.route(
            self.own,
            Inbound {
                conn: self.conn,
                tenant: self.tenant,
                sid: self.sid.clone(),
                peer: self.peer,
                recv_ms,
                raw,
                frame,
            },
        );
    }
}
