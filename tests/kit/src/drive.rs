//! Sessions driven like an SDK drives them, for fault tests: each on its own thread, sending
//! frames on a schedule, keeping every frame until it is acknowledged, resending the unacked
//! ones after an `err` with a retry hint and after every reconnect (from the welcome's ack),
//! reconnecting when the edge goes away. What each session sent and what was acknowledged is
//! recorded for the conservation oracle ([`Oracle`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::{self, Message};
use sentientiq_proto::{ClientFrame, EdgeFrame, ErrorCode, Limits, client_to_vec, decode_edge};

use crate::frames::{hello, moves};
use crate::lake::LakeRow;

/// What one session did.
#[derive(Debug, Default, Clone)]
pub struct Record {
    pub sid: String,
    /// seq → samples, for every frame sent at least once.
    pub sent: BTreeMap<u64, usize>,
    /// The highest cumulative ack received.
    pub acked: u64,
    /// `err` frames received, by code.
    pub errors: BTreeMap<String, u64>,
    pub reconnects: u64,
    /// Frames still unacknowledged when the session stopped.
    pub unacked_at_end: usize,
    /// Each acknowledged frame's latency, ms: from when it was first sent to the ack covering it.
    pub ack_ms: Vec<u64>,
}

/// How sessions are driven.
#[derive(Debug, Clone)]
pub struct Plan {
    pub key: String,
    pub sessions: usize,
    pub frames: u64,
    pub samples: usize,
    /// Pause between a session's frames.
    pub every: Duration,
    /// How long a session waits for its last acks before it gives up.
    pub drain: Duration,
    /// Session ids start with this (they must be unique per test).
    pub prefix: String,
    /// Extra `hello` fields: the session's uid hint, when it has one.
    pub uid: Option<String>,
}

/// Running sessions.
#[derive(Debug)]
pub struct Drive {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<Record>>,
}

/// The edge port sessions connect to; changeable while they run (a restarted edge).
pub type Target = Arc<Mutex<u16>>;

impl Drive {
    /// Starts `plan.sessions` sessions against the edge at `target`.
    pub fn start(target: Target, plan: &Plan) -> Drive {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..plan.sessions)
            .map(|i| {
                let (target, plan, stop) = (target.clone(), plan.clone(), stop.clone());
                std::thread::spawn(move || session(i, &target, &plan, &stop))
            })
            .collect();
        Drive { stop, handles }
    }

    /// Waits for every session to finish its frames and drain (or be stopped).
    pub fn join(self) -> Vec<Record> {
        self.handles
            .into_iter()
            .map(|h| h.join().expect("session thread"))
            .collect()
    }

    /// Asks every session to stop now.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn connect(port: u16) -> Option<tungstenite::WebSocket<TcpStream>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .ok()?;
    stream.set_nodelay(true).ok()?;
    tungstenite::client(format!("ws://127.0.0.1:{port}/v1/ws"), stream)
        .ok()
        .map(|(ws, _)| ws)
}

fn session(i: usize, target: &Target, plan: &Plan, stop: &AtomicBool) -> Record {
    let sid = format!("{}{i:08}", plan.prefix);
    let mut rec = Record {
        sid: sid.clone(),
        ..Record::default()
    };
    // seq → encoded frame, kept until acknowledged, and when it was first sent.
    let mut unacked: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut first_sent: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut next_seq = 1u64;
    let mut next_at = Instant::now();
    let mut resend_at: Option<Instant> = None;
    let mut ws: Option<tungstenite::WebSocket<TcpStream>> = None;
    let mut done_at: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if next_seq > plan.frames && unacked.is_empty() {
            break;
        }
        if next_seq > plan.frames {
            let d = *done_at.get_or_insert_with(Instant::now);
            if d.elapsed() > plan.drain {
                break;
            }
        }
        // (Re)connect and resume from the edge's ack.
        if ws.is_none() {
            let port = *target.lock().unwrap_or_else(|p| p.into_inner());
            match connect(port) {
                Some(mut s) => {
                    let mut h = hello(&plan.key, &sid, Some(rec.acked));
                    h.uid = plan.uid.clone();
                    let sent = s.send(Message::Binary(
                        client_to_vec(&ClientFrame::Hello(h)).into(),
                    ));
                    if sent.is_err() {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                    ws = Some(s);
                    rec.reconnects += 1;
                    resend_at = None;
                }
                None => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let Some(s) = ws.as_mut() else { continue };
        let mut broken = false;
        // Send the next frame when due.
        if next_seq <= plan.frames && Instant::now() >= next_at {
            let f = client_to_vec(&moves(next_seq, plan.samples));
            rec.sent.insert(next_seq, plan.samples);
            unacked.insert(next_seq, f.clone());
            first_sent.insert(next_seq, Instant::now());
            next_seq += 1;
            next_at += plan.every;
            if s.send(Message::Binary(f.into())).is_err() {
                broken = true;
            }
        }
        if resend_at.is_some_and(|t| Instant::now() >= t) {
            resend_at = None;
            for f in unacked.values() {
                if s.send(Message::Binary(f.clone().into())).is_err() {
                    broken = true;
                    break;
                }
            }
        }
        // Read what came.
        match s.read() {
            Ok(Message::Binary(b)) => match decode_edge(&b, &Limits::DEFAULT) {
                Ok(EdgeFrame::Welcome(w)) => {
                    rec.acked = rec.acked.max(w.ack.0);
                    settle(&mut first_sent, w.ack.0, &mut rec.ack_ms);
                    unacked.retain(|seq, _| *seq > w.ack.0);
                    resend_at = Some(Instant::now());
                }
                Ok(EdgeFrame::Ack { seq }) => {
                    rec.acked = rec.acked.max(seq.0);
                    settle(&mut first_sent, seq.0, &mut rec.ack_ms);
                    unacked.retain(|s, _| *s > seq.0);
                }
                Ok(EdgeFrame::Err(e)) => {
                    *rec.errors.entry(e.code.as_str().to_string()).or_default() += 1;
                    if e.fatal {
                        broken = true;
                    } else {
                        let wait = u64::from(e.retry_ms.unwrap_or(100)).min(2000);
                        resend_at = Some(Instant::now() + Duration::from_millis(wait));
                    }
                    if e.code == ErrorCode::BadKey {
                        break;
                    }
                }
                _ => {}
            },
            Ok(Message::Close(_)) => broken = true,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => broken = true,
        }
        if broken {
            ws = None;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    rec.unacked_at_end = unacked.len();
    rec
}

/// Records the latency of every frame an ack (up to `ack`) newly covers.
fn settle(first_sent: &mut BTreeMap<u64, Instant>, ack: u64, out: &mut Vec<u64>) {
    while let Some((&seq, &at)) = first_sent.first_key_value() {
        if seq > ack {
            break;
        }
        out.push(at.elapsed().as_millis() as u64);
        first_sent.remove(&seq);
    }
}

/// The conservation oracle over what sessions recorded and what the lake holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Oracle {
    /// Frames acknowledged (every seq up to each session's last ack).
    pub acked: u64,
    /// Acknowledged frames missing from the lake (or with samples missing).
    pub lost: u64,
    /// Lake rows present more than once (same session, seq, sample index).
    pub duplicated: u64,
    /// Lake frames no session sent.
    pub invented: u64,
    /// Frames sent but never acknowledged (they may or may not be in the lake).
    pub unacked: u64,
}

impl Oracle {
    /// Checks `records` against the lake's `events` rows.
    pub fn check(records: &[Record], rows: &[LakeRow]) -> Oracle {
        let mut seen: HashMap<(&str, u64), HashSet<u32>> = HashMap::new();
        let mut o = Oracle::default();
        for r in rows {
            if !seen.entry((r.0.as_str(), r.1)).or_default().insert(r.2) {
                o.duplicated += 1;
            }
        }
        let mut sessions: HashMap<&str, &Record> = HashMap::new();
        for rec in records {
            sessions.insert(&rec.sid, rec);
            for (seq, samples) in &rec.sent {
                if *seq <= rec.acked {
                    o.acked += 1;
                    let have = seen.get(&(rec.sid.as_str(), *seq)).map_or(0, HashSet::len);
                    if have < *samples {
                        o.lost += 1;
                    }
                } else {
                    o.unacked += 1;
                }
            }
        }
        for (sid, seq) in seen.keys() {
            if !sessions.get(sid).is_some_and(|r| r.sent.contains_key(seq)) {
                o.invented += 1;
            }
        }
        o
    }
}
