// Our encoder/decoder against the full @msgpack/msgpack implementation (never bundled) and
// against the Rust codec's golden fixtures (proto/tests/fixtures).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as ref from '@msgpack/msgpack'
import { encode, decode, Raw } from '../../src/msgpack.js'

const hex = (b) => Buffer.from(b).toString('hex')
const same = (v, msg) => assert.equal(hex(encode(v)), hex(ref.encode(v, { ignoreUndefined: true })), msg)

// A seeded PRNG: the same corpus every run.
function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const INTS = [
  0, 1, 31, 127, 128, 200, 255, 256, 1000, 65535, 65536, 100000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1,
  2 ** 32, 1763780000000, 2 ** 53 - 1, -1, -5, -31, -32, -33, -100, -127, -128, -129, -1000, -32767,
  -32768, -32769, -(2 ** 31) + 1, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 32), -1763780000000, -(2 ** 53 - 1),
]

test('integers use the smallest encoding (byte-identical to @msgpack/msgpack)', () => {
  for (const i of INTS) {
    same(i, `int ${i}`)
    assert.equal(decode(encode(i)), i)
    assert.equal(decode(ref.encode(i)), i)
  }
  // The smallest form, spelled out for the boundaries.
  const width = (v) => encode(v).length
  assert.deepEqual(
    [127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32].map(width),
    [1, 2, 2, 3, 3, 5, 5, 9],
  )
  assert.deepEqual([-32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1].map(width), [1, 2, 2, 3, 3, 5, 5, 9])
})

test('floats, booleans and nil', () => {
  for (const v of [0.5, -0.25, 1.5, 249.99, 1e-300, -1e300, Math.PI, 2 ** 53, -(2 ** 60), NaN, Infinity, -Infinity, true, false, null]) {
    same(v, `value ${v}`)
    const back = decode(encode(v))
    if (Number.isNaN(v)) assert.ok(Number.isNaN(back))
    else assert.equal(back, v)
  }
  // f32 from another encoder decodes.
  assert.equal(decode(ref.encode(0.5, { forceFloat32: true })), 0.5)
})

test('strings: fixstr, str8, str16, str32 and UTF-8 (multi-byte, emoji, lone surrogate)', () => {
  const lens = [0, 1, 31, 32, 255, 256, 65535, 65536, 70000]
  for (const n of lens) {
    const s = 'x'.repeat(n)
    same(s, `string of ${n}`)
    assert.equal(decode(encode(s)), s)
  }
  for (const s of ['é', 'ü'.repeat(20), '日本語のテキスト', '👋🏽 hello', 'a\u0000b', 'é'.repeat(130)]) {
    same(s, s)
    assert.equal(decode(encode(s)), s)
    assert.equal(ref.decode(encode(s)), s)
  }
  // str8 threshold is in bytes, not characters: 16 × 'é' = 32 bytes.
  assert.equal(encode('é'.repeat(16))[0], 0xd9)
  assert.equal(encode('é'.repeat(15))[0], 0xa0 | 30)
  // A lone surrogate is replaced (U+FFFD), as every UTF-8 encoder does.
  assert.equal(decode(encode('\ud800')), '\ufffd')
})

test('arrays and maps: fix, 16 and 32-bit lengths; nested maps', () => {
  for (const n of [0, 1, 15, 16, 65535, 65536]) {
    const a = Array.from({ length: n }, (_, i) => i % 300)
    same(a, `array of ${n}`)
    assert.deepEqual(decode(encode(a)), a)
  }
  for (const n of [0, 15, 16, 17, 300, 65536]) {
    const m = Object.fromEntries(Array.from({ length: n }, (_, i) => ['k' + i, i]))
    same(m, `map of ${n}`)
    assert.deepEqual(decode(encode(m)), m)
  }
  const nested = { t: 'id', seq: 9, traits: { plan: 'pro', deep: { x: [1, { y: -2.5 }], z: null } } }
  same(nested)
  assert.deepEqual(decode(encode(nested)), nested)
  assert.deepEqual(ref.decode(encode(nested)), nested)
})

test('undefined map values are left out (optional fields), undefined in arrays is nil', () => {
  assert.deepEqual(ref.decode(encode({ a: 1, b: undefined, c: 2 })), { a: 1, c: 2 })
  assert.deepEqual(ref.decode(encode([1, undefined])), [1, null])
})

test('Raw embeds already-encoded bytes as they are', () => {
  const inner = { t: 'bye', seq: 3 }
  assert.equal(hex(encode({ frames: [new Raw(encode(inner))] })), hex(ref.encode({ frames: [inner] })))
})

test('random nested values: byte-identical to @msgpack/msgpack and round trip both ways', () => {
  const r = rng(42)
  const pick = (a) => a[Math.floor(r() * a.length)]
  const gen = (depth) => {
    const kind = depth > 3 ? Math.floor(r() * 4) : Math.floor(r() * 7)
    switch (kind) {
      case 0:
        return pick(INTS)
      case 1:
        return Math.floor((r() - 0.5) * 2 ** Math.floor(r() * 54))
      case 2:
        return pick(['', 'a', 'x'.repeat(40), 'é✓😀', 'y'.repeat(300), null, true, false, 0.125, -7.75])
      case 3:
        return String.fromCharCode(...Array.from({ length: Math.floor(r() * 50) }, () => 32 + Math.floor(r() * 20000)))
      case 4:
      case 5:
        return Array.from({ length: Math.floor(r() * 20) }, () => gen(depth + 1))
      default:
        return Object.fromEntries(Array.from({ length: Math.floor(r() * 20) }, (_, i) => ['f' + i + pick(['', 'é', 'long_key_name']), gen(depth + 1)]))
    }
  }
  for (let i = 0; i < 500; i++) {
    const v = gen(0)
    const mine = encode(v)
    assert.equal(hex(mine), hex(ref.encode(v)), `case ${i}`)
    assert.deepEqual(ref.decode(mine), v)
    assert.deepEqual(decode(ref.encode(v)), v)
  }
})

test('the decoder reads what other encoders write: f32, int64, map/array 32 (not bin: the edge never sends it)', () => {
  assert.throws(() => decode(ref.encode(new Uint8Array([1, 2, 3]))))
  // int64 / uint64 forms with small values (some encoders always write 64-bit).
  assert.equal(decode(Uint8Array.from([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])), -2)
  assert.equal(decode(Uint8Array.from([0xcf, 0, 0, 0, 0, 0, 0, 0, 5])), 5)
  assert.equal(decode(Uint8Array.from([0xd1, 0xff, 0x38])), -200)
  assert.deepEqual(decode(Uint8Array.from([0xdd, 0, 0, 0, 2, 1, 2])), [1, 2])
  assert.deepEqual(decode(Uint8Array.from([0xdf, 0, 0, 0, 1, 0xa1, 0x61, 0x01])), { a: 1 })
  assert.equal(decode(Uint8Array.from([0xdb, 0, 0, 0, 1, 0x61])), 'a')
})

test('the decoder refuses truncated input and trailing bytes', () => {
  for (const bad of [[0xcd, 1], [0xa5, 0x61], [0x92, 1], [0xde, 0, 1, 0xa1, 0x61], [1, 2], [0xc1]])
    assert.throws(() => decode(Uint8Array.from(bad)))
})

const FIX = new URL('../../../../proto/tests/fixtures/', import.meta.url)
const fixture = (n) => new Uint8Array(readFileSync(new URL(n + '.msgpack', FIX)))
const view = (n) => JSON.parse(readFileSync(new URL(n + '.json', FIX), 'utf8'))

test('edge frames: the Rust golden fixtures decode to their JSON view', () => {
  for (const n of ['welcome', 'ack', 'det', 'iv', 'err']) assert.deepEqual(decode(fixture(n)), view(n), n)
})

test('client frames: byte-identical to the Rust golden fixtures (same key order)', () => {
  // Key order is the Rust encoder's (`t` first); JSON cannot express it, so take it from the bytes.
  for (const n of ['b', 'id', 'tr', 'out', 'bye']) {
    const v = ref.decode(fixture(n))
    assert.equal(hex(encode(v)), hex(fixture(n)), n)
  }
  // hello and the HTTP batch carry `dpr: 2.0`, which Rust writes as a float and JavaScript (which
  // has one number type) as the integer 2: the edge reads `dpr` as any number. Equal as values.
  for (const n of ['hello', 'http_batch']) assert.deepEqual(ref.decode(encode(ref.decode(fixture(n)))), view(n), n)
})
