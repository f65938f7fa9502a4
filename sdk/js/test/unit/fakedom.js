// Just enough of a browser for the client: event targets, storage, a WebSocket the test drives,
// fetch and sendBeacon that record what they were given. Not a DOM: the real one is exercised
// by the browser suite.

import * as ref from '@msgpack/msgpack'
import { webcrypto } from 'node:crypto'

// The browser's global `crypto` (store.js's session ids): Node has it from 19 on, Node 18
// (Debian 12's) only as node:crypto's webcrypto.
globalThis.crypto ??= webcrypto

export class Target {
  constructor() {
    this.l = {}
  }
  addEventListener(t, f) {
    ;(this.l[t] ||= []).push(f)
  }
  removeEventListener(t, f) {
    this.l[t] = (this.l[t] || []).filter((x) => x !== f)
  }
  dispatch(t, e = {}) {
    for (const f of this.l[t] || []) f({ type: t, target: this, timeStamp: 0, ...e })
  }
}

export class Mem {
  constructor() {
    this.m = new Map()
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null
  }
  setItem(k, v) {
    this.m.set(k, String(v))
  }
  removeItem(k) {
    this.m.delete(k)
  }
  key(i) {
    return [...this.m.keys()][i] ?? null
  }
  get length() {
    return this.m.size
  }
}

/** A WebSocket the test opens, feeds and closes. `sent` holds the decoded frames. */
export function fakeSockets() {
  const all = []
  class FakeWS {
    constructor(url) {
      this.url = url
      this.readyState = 0
      this.sent = []
      all.push(this)
    }
    send(b) {
      if (this.readyState != 1) throw new Error('not open')
      this.sent.push(ref.decode(b))
    }
    open() {
      this.readyState = 1
      this.onopen?.({})
    }
    recv(f) {
      const b = ref.encode(f)
      this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) })
    }
    close() {
      if (this.readyState == 3) return
      this.readyState = 3
      this.onclose?.({})
    }
  }
  return { FakeWS, all }
}

/**
 * A window. Options: storage (false: every access throws), dnt, beacon (sendBeacon's answer),
 * fetch (handler (url, init) => {status, body, headers?}).
 */
export function fakeWindow({ storage = true, dnt = false, beacon = true, fetch, local, session } = {}) {
  const w = new Target()
  const d = new Target()
  const { FakeWS, all } = fakeSockets()
  const calls = { beacon: [], fetch: [] }
  Object.assign(d, {
    hidden: false,
    referrer: '',
    title: 'Test page',
    currentScript: null,
    documentElement: { append() {} },
  })
  Object.assign(w, {
    document: d,
    history: { pushState() {}, replaceState() {} },
    location: { href: 'https://shop.example/p' },
    performance: { now: () => performance.now(), timeOrigin: 1764500000000, getEntriesByName: () => [] },
    navigator: {
      doNotTrack: dnt ? '1' : null,
      sendBeacon(u, b) {
        calls.beacon.push({ u, b: ref.decode(b), n: b.byteLength })
        return typeof beacon == 'function' ? beacon(u, b) : beacon
      },
    },
    innerWidth: 1280,
    innerHeight: 800,
    devicePixelRatio: 2,
    scrollX: 0,
    scrollY: 0,
    matchMedia: () => ({ matches: false }),
    requestAnimationFrame: (f) => setTimeout(f, 1),
    MutationObserver: class {
      observe() {}
      disconnect() {}
    },
    getSelection: () => '',
    WebSocket: FakeWS,
    async fetch(u, i = {}) {
      calls.fetch.push({ u, i, body: i.body && ref.decode(i.body) })
      const r = fetch ? await fetch(u, i) : { status: 404, body: {} }
      const headers = new Map(Object.entries(r.headers || {}))
      return {
        ok: r.status >= 200 && r.status < 300,
        status: r.status,
        url: u,
        headers: { get: (k) => headers.get(k.toLowerCase()) ?? null },
        json: async () => r.body,
        arrayBuffer: async () => new ArrayBuffer(0),
      }
    },
  })
  if (storage) {
    w.localStorage = local || new Mem()
    w.sessionStorage = session || new Mem()
  } else {
    const deny = () => {
      throw new DOMException('denied', 'SecurityError')
    }
    Object.defineProperty(w, 'localStorage', { get: deny })
    Object.defineProperty(w, 'sessionStorage', { get: deny })
  }
  // store.js reads `window[kind]`.
  globalThis.window = w
  return {
    w,
    d,
    sockets: all,
    calls,
  }
}

export const wait = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until f() is truthy (real time, bounded). */
export async function until(f, what, ms = 3000) {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what)
    await wait(5)
  }
  return f()
}
