//! QUIC sessions through `sentientiq-client`.

use sentientiq_proto::{EdgeFrame, Hello, Seq};

/// The SHA-256 pin of the QUIC certificate of an edge whose data dir is `data`.
pub fn quic_pin(data: &std::path::Path) -> String {
    std::fs::read_to_string(data.join("quic/cert.sha256"))
        .expect("the edge's certificate fingerprint")
        .trim()
        .to_string()
}

/// Reads a QUIC session's frames up to the ack of `seq` (within 15 s); returns what came
/// before it.
pub async fn quic_until_ack(s: &mut sentientiq_client::Session, seq: u64) -> Vec<EdgeFrame> {
    let mut got = Vec::new();
    let r = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            match s.recv().await.expect("recv") {
                Some(EdgeFrame::Ack { seq: Seq(a) }) if a >= seq => return,
                Some(f) => got.push(f),
                None => panic!("stream ended before ack {seq}: {got:?}"),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "no ack {seq} in 15 s: {got:?}");
    got
}

/// Opens a QUIC session for `hello` on `conn`, sends `n` moves as seq 1 and waits for its ack.
pub async fn quic_session_acked(
    conn: &sentientiq_client::Connection,
    hello: &Hello,
    n: usize,
) -> sentientiq_client::Session {
    let (mut s, _) = conn.open_session(hello).await.expect("session");
    s.send(&crate::frames::moves(1, n)).await.expect("send");
    quic_until_ack(&mut s, 1).await;
    s
}
