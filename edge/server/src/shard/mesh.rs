//! The shard-to-shard mesh: one glommio shared channel per ordered pair of shards.
//!
//! Every channel end is created on the thread that starts the edge, moved once to the shard that
//! owns it, and from then on touched only there.
//!
//! Why not glommio's `MeshBuilder`: in glommio 0.9 it is marked `Send` yet holds an `Rc` that
//! each executor clones and drops on its own thread. Those unsynchronised count updates could
//! free the builder while a shard still used it. The symptom was an edge aborting at start with
//! `malloc(): unaligned tcache chunk detected`, in about 1 of 100 starts under the e2e tests
//! (core dumps: a freed 64-byte chunk whose first word, an `Rc` count, was changed after free).

use std::cell::RefCell;
use std::rc::Rc;

use glommio::channels::local_channel::{self, LocalSender};
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use super::msg::{Handoff, Inbound, Msg, Out};

/// One shard's unconnected ends: `senders[p]` sends to shard `p`, `receivers[p]` receives from
/// shard `p`; both are `None` at the shard's own index.
#[derive(Debug)]
pub struct Ends<T: Send> {
    senders: Vec<Option<SharedSender<T>>>,
    receivers: Vec<Option<SharedReceiver<T>>>,
}

/// Builds a full mesh of `n` shards whose channels each hold `capacity` messages. Element `i`
/// of the result belongs to shard `i`.
pub fn full<T: Send + 'static>(n: usize, capacity: usize) -> Vec<Ends<T>> {
    let mut ends: Vec<Ends<T>> = (0..n)
        .map(|_| Ends {
            senders: (0..n).map(|_| None).collect(),
            receivers: (0..n).map(|_| None).collect(),
        })
        .collect();
    for from in 0..n {
        for to in (0..n).filter(|to| *to != from) {
            let (tx, rx) = shared_channel::new_bounded(capacity);
            ends[from].senders[to] = Some(tx);
            ends[to].receivers[from] = Some(rx);
        }
    }
    ends
}

/// One shard's connected ends, usable on that shard's executor only.
#[derive(Debug)]
pub struct Connected<T: Send> {
    pub senders: Vec<Option<ConnectedSender<T>>>,
    pub receivers: Vec<Option<ConnectedReceiver<T>>>,
}

impl<T: Send + 'static> Ends<T> {
    /// Connects every end on the calling executor. Returns once every peer has connected its
    /// side too (each connect waits for the other end's executor).
    pub async fn connect(self) -> Connected<T> {
        // All connects run at once: awaiting them one by one could wait on a peer that is
        // itself waiting on a different channel of ours.
        let senders: Vec<_> = self
            .senders
            .into_iter()
            .map(|s| s.map(|s| glommio::spawn_local(s.connect())))
            .collect();
        let receivers: Vec<_> = self
            .receivers
            .into_iter()
            .map(|r| r.map(|r| glommio::spawn_local(r.connect())))
            .collect();
        let mut out = Connected {
            senders: Vec::with_capacity(senders.len()),
            receivers: Vec::with_capacity(receivers.len()),
        };
        for s in senders {
            out.senders.push(match s {
                Some(t) => Some(t.await),
                None => None,
            });
        }
        for r in receivers {
            out.receivers.push(match r {
                Some(t) => Some(t.await),
                None => None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorPoolBuilder, PoolPlacement};
    use std::sync::{Arc, Mutex};

    /// Three shards each send their index to every peer; each receives exactly the other two.
    #[test]
    fn every_shard_reaches_every_other_and_only_them() {
        let n = 3;
        let ends: Arc<Mutex<Vec<Option<Ends<usize>>>>> =
            Arc::new(Mutex::new(full(n, 4).into_iter().map(Some).collect()));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handles = LocalExecutorPoolBuilder::new(PoolPlacement::Unbound(n))
            .on_all_shards(move || {
                let (ends, next) = (ends.clone(), next.clone());
                async move {
                    let me = next.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    let mine = ends.lock().expect("lock")[me].take().expect("ends");
                    assert!(mine.senders[me].is_none() && mine.receivers[me].is_none());
                    let c = mine.connect().await;
                    for tx in c.senders.iter().flatten() {
                        tx.send(me).await.expect("send");
                    }
                    let mut got = Vec::new();
                    for rx in c.receivers.iter().flatten() {
                        got.push(rx.recv().await.expect("recv"));
                    }
                    got.sort();
                    (me, got)
                }
            })
            .expect("executors");
        for r in handles.join_all() {
            let (me, got) = r.expect("shard");
            let want: Vec<usize> = (0..n).filter(|p| *p != me).collect();
            assert_eq!(got, want, "shard {me}");
        }
    }
}

/// One item waiting for a peer.
#[derive(Debug)]
pub enum Item {
    In(Box<Inbound>),
    Out(u64, Out),
    Conn(Box<Handoff>),
}

/// Items waiting for one peer, and the doorbell that wakes its flusher.
#[derive(Debug)]
pub struct Outbox {
    items: RefCell<Vec<Item>>,
    bell: LocalSender<()>,
}

/// Queues an item for the peer; the first item of a batch rings the flusher.
pub fn push(ob: &Outbox, item: Item) {
    let was_empty = {
        let mut v = ob.items.borrow_mut();
        let e = v.is_empty();
        v.push(item);
        e
    };
    if was_empty {
        let _ = ob.bell.try_send(());
    }
}

/// Creates the outbox for one peer and the task that flushes it over the mesh in batches.
pub fn outbox_for(peer: usize, tx: ConnectedSender<Msg>) -> Rc<Outbox> {
    let (bell, ring) = local_channel::new_bounded::<()>(1);
    let ob = Rc::new(Outbox {
        items: RefCell::new(Vec::new()),
        bell,
    });
    let o = ob.clone();
    glommio::spawn_local(async move {
        while ring.recv().await.is_some() {
            let items = std::mem::take(&mut *o.items.borrow_mut());
            let (mut ins, mut outs, mut conns) = (Vec::new(), Vec::new(), Vec::new());
            for it in items {
                match it {
                    Item::In(i) => ins.push(*i),
                    Item::Out(id, out) => outs.push((id, out)),
                    Item::Conn(h) => conns.push(*h),
                }
            }
            // A connection whose send fails is closed (its descriptor dropped): it had no
            // frame acknowledged yet, so its client sends them again elsewhere.
            if !conns.is_empty() && tx.send(Msg::Conn(conns)).await.is_err() {
                tracing::error!(peer, "mesh send failed");
            }
            if !ins.is_empty() && tx.send(Msg::In(ins)).await.is_err() {
                tracing::error!(peer, "mesh send failed");
            }
            if !outs.is_empty() && tx.send(Msg::Out(outs)).await.is_err() {
                tracing::error!(peer, "mesh send failed");
            }
        }
    })
    .detach();
    ob
}
