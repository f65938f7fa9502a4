// Delivery (PROTOCOL.md §3, §5, §6), without I/O: seq numbering, the outbox of frames not yet
// acknowledged, what to (re)send on a connection, and beacon bodies. The transport calls
// `up(welcomeAck)` when a connection is ready, `down()` when it is lost, `acked(n)` for each
// cumulative ack, `pause()` / `resume()` around an `err` with `retry_ms`.

import { encode, Raw } from './msgpack.js'

/** Frames kept at most while nothing acknowledges them (the oldest go first, counted). */
export const MAX_OUTBOX = 2000

export class Pipe {
  /**
   * @param {(bytes: Uint8Array) => boolean|void} send writes one frame to the live connection;
   *   returning false means it could not (the frame stays unsent on this connection)
   * @param {number} seq the last seq already used by this session (0 for a new one)
   * @param {number} ack the highest seq seen acknowledged
   */
  constructor(send, seq = 0, ack = 0) {
    this.send = send
    this.seq = seq
    this.ack = ack
    /** @type {{q: number, b: Uint8Array}[]} unacknowledged frames, in seq order */
    this.out = []
    this.sent = 0 // highest seq written on the current connection
    this.live = false
    this.paused = false
    this.dropped = 0
  }

  /** Numbers, encodes and queues a frame; sends it at once when a connection is ready. */
  push(f) {
    f.seq = ++this.seq
    this.keep(f.seq, encode(f))
    this.pump()
    return f.seq
  }

  /** Queues an already encoded frame (restored from a previous page of the session). */
  keep(q, b) {
    if (q <= this.ack || this.out.some((f) => f.q == q)) return
    this.out.push({ q, b })
    this.out.sort((x, y) => x.q - y.q)
    while (this.out.length > MAX_OUTBOX) {
      this.out.shift()
      this.dropped++
    }
    if (q > this.seq) this.seq = q
  }

  /** A connection is ready: the edge holds everything up to `ack`; the rest goes again. An ack
   * beyond our last seq (the stored seq was stale: storage refused a write) moves seq past it, so
   * that no new frame reuses a seq the edge already holds (it would be dropped as a duplicate). */
  up(ack) {
    if (ack > this.seq) this.seq = ack
    this.live = true
    this.paused = false
    this.acked(ack)
    this.sent = 0
    this.pump()
  }

  down() {
    this.live = false
  }

  /** A cumulative ack: every seq <= n is durable. */
  acked(n) {
    if (!(n >= 0)) return
    if (n > this.ack) this.ack = n
    // While paused (a frame was refused), acks of later frames do not prove the refused one
    // durable: keep everything until it has been sent again.
    if (this.paused) return
    while (this.out.length && this.out[0].q <= n) this.out.shift()
  }

  /** Writes what this connection has not carried yet, in order. */
  pump() {
    if (!this.live || this.paused) return
    for (const f of this.out) {
      if (f.q <= this.sent) continue
      if (this.send(f.b) === false) break
      this.sent = f.q
    }
  }

  /** The edge refused a frame for now (`rate_limited`, `overloaded`): stop sending. */
  pause() {
    this.paused = true
  }

  /** After `retry_ms`: everything unacknowledged goes again. The edge re-acks what it already
   * holds, so frames are forgotten only on an ack that came after they were sent again. */
  resume() {
    this.paused = false
    this.sent = 0
    this.pump()
  }

  /** Unacknowledged frames with seq above `after`. */
  pending(after = 0) {
    return this.out.filter((f) => f.q > after && f.q > this.ack)
  }
}

/**
 * Beacon bodies `{key, sid, hello, frames}` for `frames`, each under `limit` bytes and
 * `maxFrames` frames (PROTOCOL.md §7: 256). A frame larger than the limit alone goes alone.
 * @returns {{b: Uint8Array, q: number}[]} each body and the highest seq it carries
 */
export function bodies(head, frames, limit = 65536 - 512, maxFrames = 256) {
  const base = encode({ ...head, frames: [] }).length + 4
  const out = []
  let cur = []
  let size = base
  const flush = () => {
    if (cur.length)
      out.push({
        b: encode({ ...head, frames: cur.map((f) => new Raw(f.b)) }),
        q: cur[cur.length - 1].q,
      })
    cur = []
    size = base
  }
  for (const f of frames) {
    if (cur.length && (size + f.b.length > limit || cur.length >= maxFrames)) flush()
    cur.push(f)
    size += f.b.length
  }
  flush()
  return out
}
