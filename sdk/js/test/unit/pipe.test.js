// Delivery without I/O: seq numbering, the outbox, acks, resends, pauses and beacon bodies.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as ref from '@msgpack/msgpack'
import { Pipe, bodies, MAX_OUTBOX } from '../../src/pipe.js'
import { encode } from '../../src/msgpack.js'

/** A pipe over a fake connection that records the seqs written to it. */
function rig(seq = 0, ack = 0) {
  const wire = []
  let open = true
  const p = new Pipe((b) => (open ? void wire.push(ref.decode(b).seq) : false), seq, ack)
  return { p, wire, close: () => (open = false), open: () => (open = true) }
}
const frame = (t = 'bye') => ({ t, seq: 0 })

test('seq starts at 1 and grows by 1 per frame; nothing is sent before a welcome', () => {
  const { p, wire } = rig()
  assert.deepEqual([p.push(frame()), p.push(frame()), p.push(frame())], [1, 2, 3])
  assert.deepEqual(wire, [])
  p.up(0)
  assert.deepEqual(wire, [1, 2, 3])
  p.push(frame())
  assert.deepEqual(wire, [1, 2, 3, 4])
})

test('the seq of a previous page continues (session kept in sessionStorage)', () => {
  const { p } = rig(41, 40)
  assert.equal(p.push(frame()), 42)
})

test('acks are cumulative: every seq <= ack is forgotten, the rest kept', () => {
  const { p } = rig()
  p.up(0)
  for (let i = 0; i < 5; i++) p.push(frame())
  p.acked(3)
  assert.deepEqual(p.out.map((f) => f.q), [4, 5])
  p.acked(2) // a stale ack changes nothing
  assert.equal(p.ack, 3)
  assert.deepEqual(p.pending().map((f) => f.q), [4, 5])
  p.acked(5)
  assert.deepEqual(p.out, [])
})

test('after a reconnect, resend from welcome.ack, in order, exactly the unacknowledged frames', () => {
  const { p, wire } = rig()
  p.up(0)
  for (let i = 0; i < 6; i++) p.push(frame())
  p.acked(2)
  p.down()
  p.push(frame()) // 7, while disconnected
  wire.length = 0
  p.up(4) // the edge held 3 and 4 durably but their acks were lost with the connection
  assert.deepEqual(wire, [5, 6, 7])
  assert.equal(p.ack, 4)
})

test('a welcome ack beyond the stored seq (a stale seq: storage refused a write) moves seq past it', () => {
  const { p, wire } = rig(5, 5)
  p.up(9) // the edge holds 1..9 of this session
  assert.equal(p.push(frame()), 10, 'a new frame never reuses a seq the edge holds')
  assert.deepEqual(wire, [10])
})

test('a welcome from another region (ack 0) resends everything still unacknowledged', () => {
  const { p, wire } = rig()
  p.up(0)
  for (let i = 0; i < 4; i++) p.push(frame())
  p.acked(2)
  p.down()
  wire.length = 0
  p.up(0)
  assert.deepEqual(wire, [3, 4])
  assert.equal(p.ack, 2, 'the ack seen never goes down')
})

test('a frame the connection could not take is sent when it can', () => {
  const r = rig()
  r.p.up(0)
  r.close()
  r.p.push(frame())
  r.p.push(frame())
  assert.deepEqual(r.wire, [])
  r.open()
  r.p.pump()
  assert.deepEqual(r.wire, [1, 2])
})

test('err with retry_ms: pause, keep frames acked meanwhile, resend all after the wait', () => {
  const { p, wire } = rig()
  p.up(0)
  for (let i = 0; i < 3; i++) p.push(frame())
  p.acked(1)
  // seq 2 was refused (rate_limited); 3 was accepted and acked before the client resends:
  // the ack of 3 must not make the client forget 2.
  p.pause()
  p.push(frame()) // 4: queued, not sent while paused
  p.acked(3)
  assert.deepEqual(p.out.map((f) => f.q), [2, 3, 4])
  wire.length = 0
  p.resume()
  assert.deepEqual(wire, [2, 3, 4], 'everything unacked goes again, in order')
  assert.deepEqual(p.out.map((f) => f.q), [2, 3, 4], 'kept until an ack after the resend')
  p.acked(4)
  assert.deepEqual(p.out, [])
})

test('the outbox is bounded: the oldest frames go first and are counted', () => {
  const { p } = rig()
  for (let i = 0; i < MAX_OUTBOX + 5; i++) p.push(frame())
  assert.equal(p.out.length, MAX_OUTBOX)
  assert.equal(p.out[0].q, 6)
  assert.equal(p.dropped, 5)
})

test('frames restored from the previous page are merged in seq order, without duplicates', () => {
  const { p, wire } = rig(10, 7)
  p.keep(9, encode({ t: 'bye', seq: 9 }))
  p.keep(8, encode({ t: 'bye', seq: 8 }))
  p.keep(9, encode({ t: 'bye', seq: 9 }))
  p.keep(6, encode({ t: 'bye', seq: 6 })) // already acknowledged
  p.push(frame())
  p.up(7)
  assert.deepEqual(wire, [8, 9, 11])
})

test('beacon bodies: {key, sid, hello, frames}, each under 64 KiB and 256 frames, in order', () => {
  const head = { key: 'siq_pk_x', sid: 's'.repeat(22), hello: { t: 'hello', v: 1 } }
  const frames = []
  for (let q = 1; q <= 700; q++) {
    // Frames of ~300 bytes and a few big ones.
    const f = { t: 'tr', seq: q, name: 'x'.repeat(q % 100 == 0 ? 30000 : 280) }
    frames.push({ q, b: encode(f) })
  }
  const out = bodies(head, frames)
  let next = 1
  for (const { b, q } of out) {
    assert.ok(b.length < 65536, `body of ${b.length} bytes`)
    const d = ref.decode(b)
    assert.deepEqual(Object.keys(d), ['key', 'sid', 'hello', 'frames'])
    assert.equal(d.key, head.key)
    assert.ok(d.frames.length <= 256)
    for (const f of d.frames) assert.equal(f.seq, next++)
    assert.equal(q, d.frames[d.frames.length - 1].seq)
  }
  assert.equal(next, 701, 'every frame once')
  // Split by frame count alone.
  const small = Array.from({ length: 600 }, (_, i) => ({ q: i + 1, b: encode({ t: 'bye', seq: i + 1 }) }))
  assert.deepEqual(bodies(head, small).map((x) => ref.decode(x.b).frames.length), [256, 256, 88])
  // A frame bigger than the limit goes alone; nothing is empty.
  const big = [{ q: 1, b: encode({ t: 'tr', seq: 1, name: 'y'.repeat(70000) }) }, ...small.slice(1, 3)]
  assert.deepEqual(bodies(head, big).map((x) => ref.decode(x.b).frames.length), [1, 2])
  assert.deepEqual(bodies(head, []), [])
})
