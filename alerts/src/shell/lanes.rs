//! One lane (a queue and a task) per destination. A lane waits for its destination's rate
//! limit (and any `Retry-After` it was given), performs the request, classifies the answer,
//! and reports. Lanes never wait on one another: a PagerDuty that hangs holds only the
//! PagerDuty lane while Slack's goes on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::http::{HttpSender, SendError};
use super::{now_ms, sleep_until_ms};
use crate::channels::{self, ChannelKind, HttpRequest, HttpResponse, Lookup, Outcome};
use crate::limits::{Limits, Rate};

/// What a request is for, and how to read its answer.
#[derive(Debug, Clone)]
pub enum Read {
    /// A create/send: classified by the channel.
    Send(ChannelKind),
    /// A Twilio lookup: matched on this key (the delivery's link).
    Lookup(String),
}

/// The classified answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Sent(Outcome),
    Looked(Lookup),
}

/// One request for a lane.
#[derive(Debug)]
pub struct Task<T> {
    pub req: HttpRequest,
    pub read: Read,
    /// Rate-limit keys this request spends, with the units it spends in each (destination
    /// first: it names the lane; then the contact).
    pub limits: Vec<(String, Rate, u32)>,
    /// Comes back with the answer.
    pub tag: T,
}

/// What a lane reports.
#[derive(Debug)]
pub struct Done<T> {
    pub tag: T,
    pub answer: Answer,
    /// When the request went out and when its answer came (epoch ms).
    pub sent_ms: u64,
    pub done_ms: u64,
}

/// The lanes of one process.
#[derive(Debug)]
pub struct Lanes<T> {
    http: HttpSender,
    limits: Arc<Mutex<Limits>>,
    lanes: Mutex<HashMap<String, mpsc::UnboundedSender<Task<T>>>>,
    done: mpsc::UnboundedSender<Done<T>>,
}

impl<T: Send + 'static> Lanes<T> {
    pub fn new(http: HttpSender, done: mpsc::UnboundedSender<Done<T>>) -> Self {
        Self {
            http,
            limits: Arc::default(),
            lanes: Mutex::default(),
            done,
        }
    }

    pub fn limits(&self) -> Arc<Mutex<Limits>> {
        self.limits.clone()
    }

    /// Queues `task` on its destination's lane (the first limit key), starting the lane.
    pub fn submit(&self, task: Task<T>) {
        let key = task
            .limits
            .first()
            .map(|(k, _, _)| k.clone())
            .unwrap_or_default();
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let tx = lanes.entry(key.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(lane(
                key,
                rx,
                self.http.clone(),
                self.limits.clone(),
                self.done.clone(),
            ));
            tx
        });
        if let Err(mpsc::error::SendError(task)) = tx.send(task) {
            // The lane's task ended (its runtime is shutting down): report the request as
            // never sent so it is retried.
            let answer = refused(&task.read);
            let now = now_ms();
            let _ = self.done.send(Done {
                tag: task.tag,
                answer,
                sent_ms: now,
                done_ms: now,
            });
        }
    }
}

fn refused(read: &Read) -> Answer {
    match read {
        Read::Send(kind) => Answer::Sent(channels::classify_transport(
            *kind,
            channels::Transport::Refused,
        )),
        Read::Lookup(_) => Answer::Looked(Lookup::Retry {
            after_ms: None,
            reason: "refused".into(),
        }),
    }
}

fn classify(read: &Read, r: Result<HttpResponse, SendError>, now_ms: u64) -> Answer {
    match (read, r) {
        (Read::Send(kind), Ok(resp)) => Answer::Sent(channels::classify(*kind, &resp, now_ms)),
        (Read::Send(kind), Err(SendError::Transport(t))) => {
            Answer::Sent(channels::classify_transport(*kind, t))
        }
        (Read::Send(_), Err(SendError::Invalid(e))) => Answer::Sent(Outcome::Permanent {
            reason: format!("invalid request: {e}"),
            address_broken: false,
        }),
        (Read::Lookup(key), Ok(resp)) => {
            Answer::Looked(channels::twilio::classify_lookup(&resp, key, now_ms))
        }
        (Read::Lookup(_), Err(SendError::Transport(t))) => Answer::Looked(Lookup::Retry {
            after_ms: None,
            reason: format!("{t:?}").to_lowercase(),
        }),
        (Read::Lookup(_), Err(SendError::Invalid(e))) => {
            Answer::Looked(Lookup::Permanent { reason: e })
        }
    }
}

async fn lane<T>(
    key: String,
    mut rx: mpsc::UnboundedReceiver<Task<T>>,
    http: HttpSender,
    limits: Arc<Mutex<Limits>>,
    done: mpsc::UnboundedSender<Done<T>>,
) {
    while let Some(task) = rx.recv().await {
        loop {
            let now = now_ms();
            let keys: Vec<(&str, Rate, u32)> = task
                .limits
                .iter()
                .map(|(k, r, c)| (k.as_str(), *r, *c))
                .collect();
            let admitted = limits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .admit(now, &keys);
            match admitted {
                Ok(()) => break,
                Err(at) => sleep_until_ms(at).await,
            }
        }
        let sent_ms = now_ms();
        let result = http.execute(&task.req).await;
        let done_ms = now_ms();
        let answer = classify(&task.read, result, done_ms);
        let after = match &answer {
            Answer::Sent(Outcome::Retry {
                after_ms: Some(a), ..
            }) => Some(*a),
            Answer::Looked(Lookup::Retry {
                after_ms: Some(a), ..
            }) => Some(*a),
            _ => None,
        };
        if let Some(a) = after {
            // The destination asked for quiet: nothing goes to it before then, whichever
            // alert it is for.
            limits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .block_until(&key, done_ms + a);
        }
        tracing::debug!(lane = %key, ?answer, ms = done_ms - sent_ms, "attempt");
        if done
            .send(Done {
                tag: task.tag,
                answer,
                sent_ms,
                done_ms,
            })
            .is_err()
        {
            return;
        }
    }
}
