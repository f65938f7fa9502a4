//! A blocking WebSocket client speaking siq/1.

use std::net::TcpStream;
use std::time::Duration;

use async_tungstenite::tungstenite::{self, Message};
use sentientiq_proto::{
    ClientFrame, EdgeFrame, ErrorCode, Limits, Welcome, client_to_vec, decode_edge,
};

/// What came from the edge.
#[derive(Debug, PartialEq)]
pub enum Got {
    Frame(EdgeFrame),
    /// Closed, with the close code when there was one.
    Closed(Option<u16>),
}

#[derive(Debug)]
pub struct Client {
    pub ws: tungstenite::WebSocket<TcpStream>,
}

impl Client {
    /// Connects to `ws://127.0.0.1:port/v1/ws` with extra request headers; `Err` carries the
    /// handshake's failure.
    pub fn connect(port: u16, headers: &[(&str, &str)]) -> Result<Client, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let mut req = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://127.0.0.1:{port}/v1/ws"
        ))
        .map_err(|e| e.to_string())?;
        for (k, v) in headers {
            req.headers_mut().insert(
                tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        let (ws, _) = tungstenite::client(req, stream).map_err(|e| e.to_string())?;
        Ok(Client { ws })
    }

    pub fn send(&mut self, f: &ClientFrame) {
        self.ws
            .send(Message::Binary(client_to_vec(f).into()))
            .expect("send");
    }

    pub fn send_raw(&mut self, m: Message) {
        self.ws.send(m).expect("send");
    }

    /// The next frame or the close.
    pub fn got(&mut self) -> Got {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(b)) => {
                    return Got::Frame(decode_edge(&b, &Limits::DEFAULT).expect("edge frame"));
                }
                Ok(Message::Close(c)) => return Got::Closed(c.map(|c| u16::from(c.code))),
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Got::Closed(None);
                }
                Err(e) => panic!("ws read: {e}"),
            }
        }
    }

    /// The next frame, or `None` once the edge closed the connection (or it broke).
    pub fn recv(&mut self) -> Option<EdgeFrame> {
        loop {
            match self.ws.read() {
                Ok(Message::Binary(b)) => {
                    return Some(decode_edge(&b, &Limits::DEFAULT).expect("edge frame"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame; panics on a close.
    pub fn frame(&mut self) -> EdgeFrame {
        match self.got() {
            Got::Frame(f) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Reads until an ack of at least `seq`, collecting everything else.
    pub fn until_ack(&mut self, seq: u64) -> Vec<EdgeFrame> {
        let mut other = Vec::new();
        loop {
            match self.frame() {
                EdgeFrame::Ack { seq: s } if s.0 >= seq => return other,
                EdgeFrame::Ack { .. } => {}
                f => other.push(f),
            }
        }
    }

    /// Everything up to the ack of `seq`; an `err` frame instead ends it as `Err`.
    pub fn try_until_ack(&mut self, seq: u64) -> Result<Vec<EdgeFrame>, ErrorCode> {
        let mut other = Vec::new();
        loop {
            match self.recv() {
                Some(EdgeFrame::Ack { seq: s }) if s.0 >= seq => return Ok(other),
                Some(EdgeFrame::Ack { .. }) => {}
                Some(EdgeFrame::Err(e)) => return Err(e.code),
                Some(f) => other.push(f),
                None => panic!("closed before ack {seq}"),
            }
        }
    }

    /// Sends `hello` for `sid` with `key` and returns the welcome.
    pub fn hello(&mut self, key: &str, sid: &str, ack: Option<u64>) -> Welcome {
        self.send(&ClientFrame::Hello(crate::frames::hello(key, sid, ack)));
        match self.frame() {
            EdgeFrame::Welcome(w) => w,
            f => panic!("expected welcome, got {f:?}"),
        }
    }
}

/// Detections of rage among `frames`.
pub fn rages(frames: &[EdgeFrame]) -> usize {
    frames
        .iter()
        .filter(|f| matches!(f, EdgeFrame::Det(d) if d.e == "rage"))
        .count()
}
