// The columnar `b` frame (PROTOCOL.md §4).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as ref from '@msgpack/msgpack'
import { Batch, cut } from '../../src/batch.js'
import { encode } from '../../src/msgpack.js'

const ORIGIN = 1763780000000.25 // performance.timeOrigin has sub-millisecond precision

test('t0 is the first sample in epoch ms, dt microseconds since the previous sample', () => {
  const b = new Batch(ORIGIN)
  b.add(0, 1000.5, 10.4, 20.6) // epoch 1763780001000.75
  b.add(0, 1016.5, 11, 21)
  b.add(1, 1016.5, 11, 21, 0)
  b.add(3, 1100.123, 11, 21, 0, 'button#buy "Buy"')
  const f = b.frame()
  assert.equal(f.t0, 1763780001000)
  assert.deepEqual(f.dt, [750, 16000, 0, 83623])
  assert.deepEqual(f.x, [10, 11, 11, 11])
  assert.deepEqual(f.y, [21, 21, 21, 21])
  assert.deepEqual(f.k, [0, 0, 1, 3])
  assert.equal(f.a, undefined, 'all zeros: `a` absent means all 0')
  assert.deepEqual(f.s, ['button#buy "Buy"'])
  // Client time of sample i = t0 + Σ dt[0..=i] / 1000 (the lake's `client_time`).
  const sum = f.dt.reduce((a, x) => a + x, 0) / 1000
  assert.ok(Math.abs(f.t0 + sum - (ORIGIN + 1100.123)) < 0.001)
})

test('the string table is per frame and deduplicated; `a` indexes into it', () => {
  const b = new Batch(ORIGIN)
  b.add(7, 1, 0, 0, 0, 'pricing')
  b.add(3, 2, 5, 5, 0, 'a#x')
  b.add(7, 3, 0, 0, 0, 'pricing')
  b.add(5, 4, 0, 0, 2)
  const f = b.frame()
  assert.deepEqual(f.s, ['pricing', 'a#x'])
  assert.deepEqual(f.a, [0, 1, 0, 2])
})

test('a and s are left out when unused; t comes first', () => {
  const b = new Batch(ORIGIN)
  b.add(0, 5, 1, 2)
  const f = b.frame()
  f.seq = 4
  const d = ref.decode(encode(f))
  assert.deepEqual(Object.keys(d), ['t', 'seq', 't0', 'k', 'dt', 'x', 'y'])
})

test('timestamps never go backwards (event types are not ordered with each other)', () => {
  const b = new Batch(ORIGIN)
  b.add(0, 100, 0, 0)
  b.add(0, 90, 0, 0)
  b.add(0, 120, 0, 0)
  assert.deepEqual(b.frame().dt.slice(1), [0, 20000])
})

test('fits: max samples, 256 strings, and a dt that fits u32', () => {
  const b = new Batch(ORIGIN)
  assert.ok(b.fits(0, 'x', 2))
  b.add(0, 0, 0, 0)
  assert.ok(b.fits(1, null, 2))
  b.add(0, 1, 0, 0)
  assert.ok(!b.fits(2, null, 2), 'max_batch')
  const c = new Batch(ORIGIN)
  for (let i = 0; i < 256; i++) c.add(8, i, 0, 0, 0, 'u' + i)
  assert.ok(c.fits(300, 'u3', 4096), 'a string already in the table fits')
  assert.ok(!c.fits(300, 'new', 4096), 'a 257th string does not')
  assert.ok(!c.fits(256 + 4294968, null, 4096), 'a gap over u32 microseconds does not')
})

test('strings are cut so that no string exceeds 2 KiB of UTF-8', () => {
  const b = new Batch(ORIGIN)
  b.add(11, 0, 0, 0, 0, '😀'.repeat(2000))
  assert.ok(Buffer.byteLength(b.frame().s[0]) <= 2048)
  assert.equal(cut('abc', 2), 'ab')
})

test('coordinates are integers (i32)', () => {
  const b = new Batch(ORIGIN)
  b.add(4, 0, 0.5, -1200.4)
  b.add(0, 1, -3.6, 7.49)
  const f = b.frame()
  assert.deepEqual([f.x, f.y], [[1, -4], [-1200, 7]])
})
