//! The gRPC port's accepted connections: each must send its first bytes in time.
//!
//! hyper's server reads a connection's first bytes (HTTP/2's 24-byte preface) with no deadline,
//! and HTTP/2's keepalive pings only start after them, so a client that opened TCP
//! connections and sent nothing held each one, a task and a file descriptor, for ever. Now a
//! connection that has not sent [`FIRST_BYTES`] within `grpc_handshake_timeout_ms` fails its
//! read and is closed. Over TLS the same bytes are the start of the ClientHello, and the TLS
//! handshake itself is bounded by the same timeout (`ServerTlsConfig::timeout`); a TLS client
//! that completes its handshake and then sends nothing is not cut off here (tonic does the TLS
//! under this wrapper: timing the preface inside TLS means doing the TLS here).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// Bytes a connection must send within the deadline: HTTP/2's connection preface
/// (RFC 9113 §3.4, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`), every gRPC client's first bytes.
pub const FIRST_BYTES: usize = 24;
/// The deadline by default: ten seconds, far past a TLS handshake across the world (a few
/// round trips of at most ~300 ms) and the time an edge takes to send its preface.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;

/// A connection that fails its reads if it has not sent [`FIRST_BYTES`] by its deadline.
#[derive(Debug)]
pub struct FirstBytes<IO> {
    io: IO,
    /// Bytes still owed; 0 once they came (then nothing is timed here).
    owed: usize,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl<IO> FirstBytes<IO> {
    pub fn new(io: IO, timeout: Duration) -> FirstBytes<IO> {
        FirstBytes {
            io,
            owed: FIRST_BYTES,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for FirstBytes<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.owed == 0 {
            return r;
        }
        match r {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() - before;
                this.owed = this.owed.saturating_sub(got);
                Poll::Ready(Ok(()))
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the connection's first bytes did not arrive in time",
                ))),
                Poll::Pending => Poll::Pending,
            },
            r => r,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FirstBytes<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<IO: Connected> Connected for FirstBytes<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// `listener`'s connections (TCP_NODELAY set: config pushes and acks are small writes), each
/// owing its first bytes within `timeout`.
pub fn first_bytes(
    listener: tokio::net::TcpListener,
    timeout: Duration,
) -> impl tokio_stream::Stream<Item = std::io::Result<FirstBytes<tokio::net::TcpStream>>> {
    use tokio_stream::StreamExt;
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map(move |c| c.map(|s| FirstBytes::new(s, timeout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the server's side wrapped.
    async fn pair(timeout: Duration) -> (FirstBytes<tokio::net::TcpStream>, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = tokio::net::TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        (FirstBytes::new(server, timeout), client)
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_fails_at_its_deadline() {
        let deadline = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let (mut server, _client) = pair(deadline).await;
        let mut buf = [0u8; 64];
        let e = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .expect_err("timed out");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= deadline, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn one_byte_short_of_the_preface_still_fails_and_the_preface_frees_it() {
        let deadline = Duration::from_millis(300);
        // cap - 1 bytes: still owed one at the deadline.
        let (mut server, mut client) = pair(deadline).await;
        client
            .write_all(&[b'P'; FIRST_BYTES - 1])
            .await
            .expect("write");
        let mut buf = [0u8; 64];
        let mut got = 0;
        let e = loop {
            let read = tokio::time::timeout(Duration::from_secs(10), server.read(&mut buf));
            match read.await.expect("an answer within 10 s") {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert_eq!(
            (got, e.kind()),
            (FIRST_BYTES - 1, std::io::ErrorKind::TimedOut)
        );
        // The preface (cap) in two writes: read, and no deadline after it, however long the
        // connection then idles.
        let (mut server, mut client) = pair(deadline).await;
        client.write_all(&[b'P'; 10]).await.expect("write");
        client
            .write_all(&[b'P'; FIRST_BYTES - 10])
            .await
            .expect("write");
        let mut got = 0;
        while got < FIRST_BYTES {
            got += server.read(&mut buf).await.expect("the preface");
        }
        let idle = tokio::time::timeout(2 * deadline, server.read(&mut buf)).await;
        assert!(idle.is_err(), "still waiting past the deadline: {idle:?}");
        client.write_all(b"x").await.expect("write");
        assert_eq!(server.read(&mut buf).await.expect("read"), 1);
        // Writes pass through, and the peer's address is the connection's.
        server.write_all(b"ok").await.expect("write");
        let mut two = [0u8; 2];
        client.read_exact(&mut two).await.expect("read");
        assert_eq!(&two, b"ok");
        let info = server.connect_info();
        assert_eq!(info.remote_addr(), client.local_addr().ok());
    }
}
