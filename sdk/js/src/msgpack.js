// The MessagePack subset siq/1 needs (PROTOCOL.md §1), small enough for the 8 KB budget.
//
// Encoder: nil (null/undefined), booleans, numbers (integers in the smallest encoding that fits,
// other numbers as float64), strings (UTF-8, fixstr/str8/str16/str32), arrays,
// plain objects as string-keyed maps (undefined values are left out) and `Raw` (bytes already
// encoded, copied as they are: a beacon body embeds frames encoded earlier).
// Decoder: every type the edge sends (welcome, ack, det, iv, err; no bin, no ext).

const te = new TextEncoder()
const td = new TextDecoder()

/** Bytes that are already one encoded MessagePack value. */
export class Raw {
  constructor(b) {
    this.b = b
  }
}

let buf = new Uint8Array(1024)
let pos = 0

function room(n) {
  if (pos + n > buf.length) {
    const b = new Uint8Array((pos + n) * 2)
    b.set(buf)
    buf = b
  }
}

function put(b) {
  room(1)
  buf[pos++] = b
}

function bytes(b) {
  room(b.length)
  buf.set(b, pos)
  pos += b.length
}

// Marker `m`, then `v` big-endian in `w` bytes: two's complement for negatives, exact for every
// safe integer (`& 255` is exact modulo 2^32, and the division by 256 is exact).
function be(m, v, w) {
  put(m)
  room(w)
  for (let i = w; i--; v = Math.floor(v / 256)) buf[pos + i] = v & 255
  pos += w
}

// The smallest of 1, 2, 4 or 8 bytes (index 0..3) for `v`, given the first limit `lim`.
const width = (v, lim) => (v < lim ? 0 : v < lim * 256 ? 1 : v < lim * 2 ** 24 ? 2 : 3)

// A length prefix: the fix form below `fix` (fixstr 32, fixarray/fixmap 16), then 8-bit (strings
// only: `m8`), 16-bit or 32-bit.
function len(n, fixBase, fix, m8, m16) {
  if (n < fix) put(fixBase | n)
  else if (m8 && n < 256) be(m8, n, 1)
  else be(m16 + (n > 65535), n, n > 65535 ? 4 : 2)
}

function num(v) {
  if (!Number.isSafeInteger(v)) {
    put(0xcb)
    room(8)
    new DataView(buf.buffer).setFloat64(pos, v)
    pos += 8
  } else if (v >= -32 && v < 128) put(v & 255)
  else {
    // uint 8/16/32/64 from 0xcc, int 8/16/32/64 from 0xd0; signed limits are half the range.
    const w = v < 0 ? width(-v - 1, 128) : width(v, 256)
    be((v < 0 ? 0xd0 : 0xcc) + w, v, 1 << w)
  }
}

function val(v) {
  if (v == null) put(0xc0)
  else if (v === false || v === true) put(v ? 0xc3 : 0xc2)
  else if (typeof v == 'number') num(v)
  else if (typeof v == 'string') {
    const b = te.encode(v)
    len(b.length, 0xa0, 32, 0xd9, 0xda)
    bytes(b)
  } else if (v instanceof Raw) bytes(v.b)
  else if (Array.isArray(v)) {
    len(v.length, 0x90, 16, 0, 0xdc)
    for (const x of v) val(x)
  } else {
    const ks = Object.keys(v).filter((k) => v[k] !== undefined)
    len(ks.length, 0x80, 16, 0, 0xde)
    for (const k of ks) {
      val(k)
      val(v[k])
    }
  }
}

/** Encodes one value; returns a fresh Uint8Array. */
export function encode(v) {
  pos = 0
  val(v)
  return buf.slice(0, pos)
}

/** Decodes one value from `b` (Uint8Array). Throws on malformed or truncated input. */
export function decode(b) {
  let p = 0
  const need = (n) => {
    if ((p += n) > b.length) throw Error('msgpack')
    return p - n
  }
  // A big-endian unsigned integer of n bytes (n <= 8; exact up to 2^53).
  const uint = (n) => {
    let v = 0
    for (let i = need(n); i < p; i++) v = v * 256 + b[i]
    return v
  }
  const str = (n) => td.decode(b.subarray(need(n), p))
  const list = (n, map) => {
    const o = map ? {} : []
    while (n--) {
      if (map) {
        const k = one()
        o[k] = one()
      } else o.push(one())
    }
    return o
  }
  const one = () => {
    const m = b[need(1)]
    if (m < 0x80) return m
    if (m < 0xa0) return list(m & 15, m < 0x90)
    if (m < 0xc0) return str(m & 31)
    if (m > 0xdf) return m - 256
    if (m == 0xc0) return null
    if (m == 0xc2 || m == 0xc3) return m == 0xc3
    if (m == 0xca || m == 0xcb) {
      const n = m == 0xca ? 4 : 8
      const v = new DataView(b.slice(need(n), p).buffer)
      return n == 4 ? v.getFloat32(0) : v.getFloat64(0)
    }
    if (m >= 0xcc && m <= 0xcf) return uint(1 << (m - 0xcc))
    if (m >= 0xd0 && m <= 0xd3) {
      // Signed. 64-bit: the signed high word, then the low word (exact for safe integers).
      const n = 1 << (m - 0xd0)
      if (n > 4) return (uint(4) | 0) * 4294967296 + uint(4)
      const v = uint(n)
      return v >= 2 ** (8 * n - 1) ? v - 2 ** (8 * n) : v
    }
    if (m >= 0xd9 && m <= 0xdb) return str(uint(1 << (m - 0xd9)))
    if (m >= 0xdc) return list(uint(2 << (m & 1)), m > 0xdd)
    throw Error('msgpack ' + m)
  }
  const v = one()
  if (p != b.length) throw Error('msgpack')
  return v
}
