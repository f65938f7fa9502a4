//! Stream framing for QUIC (PROTOCOL.md §2): each frame on a session's stream is prefixed by its
//! length as a u32 big-endian. Pure: bytes in, frames out, nothing read beyond the limit.

/// The ALPN protocol id of `siq/1` over QUIC.
pub const ALPN: &[u8] = b"siq/1";

/// Close codes: WebSocket close codes, also the QUIC application error codes of sessions and
/// connections. The fatal errors' codes are [`crate::ErrorCode::ws_close_code`].
pub mod close {
    /// The session or connection ended normally.
    pub const NORMAL: u32 = 1000;
    /// The edge is shutting down, or the connection was idle.
    pub const GOING_AWAY: u32 = 1001;
    /// Overloaded (a slow reader, a cap): try later.
    pub const OVERLOADED: u32 = 1013;
}

/// Appends `frame` with its length prefix to `out`.
pub fn encode_prefixed(frame: &[u8], out: &mut Vec<u8>) {
    let n = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(frame);
}

/// A length prefix announced a frame over the limit; nothing of it was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a frame of {len} bytes is over the limit of {max}")]
pub struct TooBig {
    pub len: usize,
    pub max: usize,
}

/// Reassembles length-prefixed frames from stream chunks of any size.
///
/// Holds at most one partial frame plus whatever whole frames were pushed and not yet taken:
/// a prefix over `max` is refused as soon as its 4 bytes are in, before any of its body is kept.
#[derive(Debug, Clone)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Start of the unread part of `buf`.
    at: usize,
    max: usize,
}

impl Deframer {
    pub fn new(max: usize) -> Deframer {
        Deframer {
            buf: Vec::new(),
            at: 0,
            max,
        }
    }

    /// The frame size limit from now on (a session's tenant may lower it after `hello`).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.at > 0 && self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes held (partial frame included).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.at
    }

    /// The next whole frame, if one is in. After `Err` the stream is unusable (its framing is
    /// lost); the caller refuses it.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, TooBig> {
        let rest = &self.buf[self.at..];
        if rest.len() < 4 {
            self.compact();
            return Ok(None);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > self.max {
            self.buf = Vec::new();
            self.at = 0;
            return Err(TooBig { len, max: self.max });
        }
        if rest.len() < 4 + len {
            self.compact();
            return Ok(None);
        }
        let start = self.at + 4;
        self.at = start + len;
        Ok(Some(&self.buf[start..start + len]))
    }

    /// Moves a partial frame to the front once the consumed part is the larger half, so the
    /// buffer does not grow with the stream.
    fn compact(&mut self) {
        if self.at > 0 && self.at * 2 >= self.buf.len() {
            self.buf.drain(..self.at);
            self.at = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut Deframer) -> Result<Vec<Vec<u8>>, TooBig> {
        let mut v = Vec::new();
        while let Some(f) = d.next_frame()? {
            v.push(f.to_vec());
        }
        Ok(v)
    }

    #[test]
    fn the_limit_holds_at_cap_minus_one_cap_and_cap_plus_one() {
        let max = 1000;
        for (len, ok) in [(max - 1, true), (max, true), (max + 1, false)] {
            let mut d = Deframer::new(max);
            let mut b = Vec::new();
            encode_prefixed(&vec![7u8; len], &mut b);
            d.push(&b);
            match all(&mut d) {
                Ok(f) => assert!(ok && f.len() == 1 && f[0].len() == len, "{len}"),
                Err(e) => assert!(!ok && e == TooBig { len, max }, "{len}"),
            }
        }
    }

    #[test]
    fn an_oversize_prefix_is_refused_before_its_body_arrives() {
        let mut d = Deframer::new(10);
        d.push(&[0, 0, 0, 11]);
        assert_eq!(d.next_frame(), Err(TooBig { len: 11, max: 10 }));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn empty_frames_and_split_prefixes() {
        let mut b = Vec::new();
        encode_prefixed(b"", &mut b);
        encode_prefixed(b"abc", &mut b);
        let mut d = Deframer::new(16);
        for byte in &b {
            d.push(std::slice::from_ref(byte));
        }
        assert_eq!(
            all(&mut d).expect("frames"),
            vec![b"".to_vec(), b"abc".to_vec()]
        );
        assert_eq!(d.buffered(), 0);
    }
}
