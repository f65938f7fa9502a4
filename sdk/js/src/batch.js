// The columnar `b` frame (PROTOCOL.md §4): parallel arrays k, dt, x, y, a and a per-frame
// string table s. Times come in as DOMHighResTimeStamps (ms since the page's time origin).

/** Cuts a string to at most `n` UTF-16 units (512 units stay under the 2 KiB string limit). */
export const cut = (s, n = 512) => String(s).slice(0, n)

const MAX_DT = 4294967295 // u32 microseconds: about 71 minutes

export class Batch {
  /** @param {number} origin epoch ms of time 0 (performance.timeOrigin) */
  constructor(origin) {
    this.o = origin
    this.k = []
    this.dt = []
    this.x = []
    this.y = []
    this.a = []
    this.s = []
    this.m = new Map()
    this.t0 = 0
    this.last = 0
  }

  get n() {
    return this.k.length
  }

  /** Whether one more sample (with a new string if `str` is given) fits. */
  fits(t, str, max) {
    if (!this.n) return true
    return (
      this.n < max &&
      (str == null || this.m.has(str) || this.s.length < 256) &&
      (t - this.last) * 1000 <= MAX_DT
    )
  }

  /** Adds a sample; `str` (cut to size) takes `a`'s place as an index into `s`. */
  add(k, t, x, y, a, str) {
    if (!this.n) {
      const e = this.o + t
      this.t0 = Math.floor(e)
      this.last = t - (e - this.t0)
    }
    // Event timestamps are not strictly ordered across event types: never go backwards.
    if (t < this.last) t = this.last
    if (str != null) {
      str = cut(str)
      a = this.m.get(str)
      if (a == null) {
        a = this.s.length
        this.s.push(str)
        this.m.set(str, a)
      }
    }
    this.k.push(k)
    this.dt.push(Math.round((t - this.last) * 1000))
    this.x.push(Math.round(x) | 0)
    this.y.push(Math.round(y) | 0)
    this.a.push(a >>> 0)
    this.last = t
  }

  /** The frame (without seq; `t` first, as the edge decodes fastest). */
  frame() {
    return {
      t: 'b',
      seq: 0,
      t0: this.t0,
      k: this.k,
      dt: this.dt,
      x: this.x,
      y: this.y,
      a: this.a.some((v) => v) ? this.a : undefined,
      s: this.s.length ? this.s : undefined,
    }
  }
}
