// One SDK instance: session, capture, batching, the connection to the nearest edge (WebSocket;
// HTTP when WebSockets are blocked; beacons when the page goes away), identity, interventions.

import { encode, decode } from './msgpack.js'
import { Batch, cut } from './batch.js'
import { Pipe, bodies } from './pipe.js'
import { load, save, latin1, bytes, rid } from './store.js'
import { capture } from './capture.js'
import { discover, rank, remember, trim } from './edges.js'
import { detect } from './identity.js'
import { show } from './widget.js'

export const VERSION = '1.0.0'
const SS = 'sessionStorage'
/** Kinds sent at once rather than at the next flush: detection latency depends on them. */
const URGENT = [3, 10, 14]
/** Errors that retrying cannot fix: the SDK stops sending. */
const FINAL = ['bad_key', 'origin', 'version']
const FAILOVER_AFTER = 3
const WELCOME_MS = 6000

/** Props and traits: JSON-like values, 64 entries per map, nesting depth 2 (PROTOCOL.md §7). */
function props(v, depth) {
  if (typeof v == 'string') return cut(v)
  if (v instanceof Date) return v.toISOString()
  if (v && typeof v == 'object') {
    if (depth > 1) return
    const o = Array.isArray(v) ? [] : {}
    for (const k of Object.keys(v).slice(0, 64)) o[Array.isArray(v) ? k : cut(k, 128)] = props(v[k], depth + 1)
    return o
  }
  return typeof v == 'number' ? (isFinite(v) ? v : undefined) : typeof v == 'boolean' ? v : undefined
}

/**
 * Starts the SDK in window `w` with write key `key`. Options: `edges` (base URLs), `edge` (the
 * edge serving `/v1/edges`), `widget` (false: callbacks only), `autoIdentify` (false: off).
 * `count()` is called for every error the SDK contained; `cbs` holds the `det` and `iv`
 * callbacks. Returns the instance's methods.
 */
export function start(w, key, o, count, cbs) {
  const d = w.document
  const nav = w.navigator
  const g = (f) =>
    function () {
      try {
        return f.apply(this, arguments)
      } catch {
        count()
      }
    }
  // Timers that outlive a call (reconnects, retries, auto-identify): cleared by stop(); each
  // leaves the set when it fires (a long session must not collect their ids).
  const timers = new Set()
  const later = (f, ms) => {
    const t = setTimeout(
      g(() => timers.delete(t) && !stopped && f()),
      ms,
    )
    timers.add(t)
    return t
  }
  const dnt = nav.doNotTrack == '1' || nav.globalPrivacyControl == true
  const fetch = (u, i) => w.fetch(u, { credentials: 'omit', ...i })

  // The session survives navigations in this tab.
  let s = load(SS, 'siq:s')
  if (!/^[\w-]{16,64}$/.test(s?.sid)) s = { sid: rid() }
  let uid = s.uid
  // Set once the page called identify() itself: auto-identify then never overrides it.
  let own = s.m
  let aid = !dnt && load('localStorage', 'siq:aid')
  if (!dnt && typeof aid != 'string') save('localStorage', 'siq:aid', (aid = rid()))
  let ws
  const pipe = new Pipe((b) => (ws?.readyState == 1 ? ws.send(b) : false), s.seq | 0, s.ack | 0)
  const persist = () => save(SS, 'siq:s', { sid: s.sid, seq: pipe.seq, ack: pipe.ack, uid, m: own })
  // Frames the previous page of this session could not get acknowledged.
  const kept = load(SS, 'siq:o')
  save(SS, 'siq:o')
  if (kept?.sid == s.sid) g(() => kept.f.map((f) => pipe.keep(f[0], bytes(f[1]))))()

  const hello = () => ({
    t: 'hello',
    v: 1,
    key,
    sid: s.sid,
    aid: aid || undefined,
    url: cut(w.location.href, 680),
    ref: cut(d.referrer, 680) || undefined,
    title: cut(d.title, 200) || undefined,
    vw: w.innerWidth >>> 0,
    vh: w.innerHeight >>> 0,
    dpr: w.devicePixelRatio,
    tz: -new Date().getTimezoneOffset(),
    ptr: w.matchMedia('(pointer:coarse)').matches ? 'touch' : 'mouse',
    sdk: 'js/' + VERSION,
    ack: pipe.ack || undefined,
    dnt: dnt || undefined,
    // An identity hint for the edge's admission under overload (unknown keys are ignored).
    uid: dnt ? undefined : uid,
  })
  const head = () => ({ key, sid: s.sid, hello: hello() })

  // Batching: samples go into one `b` frame until flush_ms passes, max_batch fills or an urgent
  // kind arrives.
  let flushMs = 250
  let maxBatch = 512
  let b
  let timer
  let stopped
  const origin = w.performance.timeOrigin
  const flush = g(() => {
    clearTimeout(timer)
    timer = 0
    if (b) push(b.frame())
    b = 0
  })
  const emit = (k, t, x, y, a = 0, str) => {
    if (b && !b.fits(t, str, maxBatch)) flush()
    b = b || new Batch(origin)
    b.add(k, t, x, y, a, str)
    if (b.n >= maxBatch) flush()
    else if (URGENT.includes(k)) timer = clearTimeout(timer) || setTimeout(flush)
    else timer = timer || setTimeout(flush, flushMs)
  }
  const push = (f) => {
    if (stopped || dead) return
    pipe.push(f)
    persist()
    if (http) post()
  }

  // The connection: `list[0]` is the edge in use, the rest the failover order.
  let list = []
  let orig
  let fails = 0
  let http
  let dead
  let region
  let posting
  let held
  let hide
  const acked = (n) => {
    pipe.acked(n)
    persist()
  }
  // Tenant callbacks: one that throws is contained (and counted) like our own errors.
  const fire = (l, f) => l.map((cb) => g(cb)(f))
  const onFrame = (f) => {
    if (f.t == 'ack') acked(f.seq)
    if (f.t == 'det') fire(cbs.det, f)
    if (f.t == 'iv') {
      fire(cbs.iv, f)
      if (o.widget != false) {
        hide?.()
        hide = show(d, f, (r) => api.outcome(f.id, r), g)
      }
    }
    if (f.t == 'err') {
      if (FINAL.includes(f.code)) die()
      else if (f.retry_ms >= 0 && !f.fatal) {
        pipe.paused = 1
        later(() => pipe.resume(), f.retry_ms)
      } else if (/bad_frame|too_big/.test(f.code) && f.fatal && pipe.out.shift()) pipe.dropped++
    }
  }

  const connect = () => {
    if (stopped || dead || ws || !list[0]) return
    let ready
    let sock
    let since
    try {
      sock = ws = new w.WebSocket(list[0].replace(/^http/, 'ws') + '/v1/ws')
    } catch {
      return lost().catch(count)
    }
    sock.binaryType = 'arraybuffer'
    const t = later(() => ready || sock.close(), WELCOME_MS)
    sock.onopen = g(() => sock.send(encode(hello())))
    sock.onmessage = g((e) => {
      const f = decode(new Uint8Array(e.data))
      if (f.t != 'welcome') return onFrame(f)
      clearTimeout(t)
      ready = 1
      since = Date.now()
      http = 0
      region = f.region
      flushMs = f.flush_ms || flushMs
      maxBatch = Math.min(f.max_batch || maxBatch, 4096)
      pipe.up(f.ack)
      persist()
    })
    sock.onclose = g(() => {
      clearTimeout(t)
      if (ws == sock) {
        ws = pipe.live = 0
        // A connection that lasted is not a failure of the edge; one dropped soon after its
        // welcome is (an edge that accepts and fails must not hold the session forever).
        if (Date.now() - since > 10000) fails = 0
        lost(ready).catch(count)
      }
    })
  }

  // A connection ended (`ready`: after a welcome) or could not be made. Reconnects back off
  // (250 ms, 500 ms, 1 s… 30 s, jittered); FAILOVER_AFTER failures in a row move to the next edge.
  const lost = async (ready) => {
    if (stopped || dead) return
    // No WebSocket: does the edge answer over HTTP (a proxy or a policy blocking WebSockets)?
    if (!ready && (http = await post(1))) {
      fails = 0
      return later(connect, 30000)
    }
    if (++fails >= FAILOVER_AFTER && list[1]) {
      fails = 0
      list.push(list.shift())
      remember(orig, list)
    }
    later(connect, Math.min(125 << fails, 30000) * (0.75 + Math.random() / 2))
  }

  // `POST /v1/batch` with every unacknowledged frame (`probe`: even none). True when the edge
  // answered.
  const post = async (probe) => {
    if (posting || held || !list[0]) return
    posting = 1
    try {
      const bs = bodies(head(), pipe.pending())
      if (probe && !bs[0]) bs.push({ b: encode({ ...head(), frames: [] }) })
      for (const x of bs) {
        const r = await fetch(list[0] + '/v1/batch', { method: 'POST', body: x.b })
        const j = await r.json()
        if (r.ok) acked(j.ack)
        else if (FINAL.includes(j.code)) die()
        else if (r.status == 429 || r.status == 503) {
          // Refused for now: nothing more until its Retry-After (seconds) has passed.
          held = later(() => post((held = 0)), r.headers.get('retry-after') * 1e3 || 2000)
          return 1
        } else throw 0
      }
      // Frames pushed while this post was in flight go with the next one.
      if (http && pipe.pending()[0]) later(post, flushMs)
      return 1
    } catch {
    } finally {
      posting = 0
    }
  }

  // Page hidden or going away: every unacknowledged frame not yet beaconed goes by sendBeacon,
  // else fetch(keepalive), else synchronous XHR, in bodies under 64 KiB. They are kept in
  // sessionStorage too: the next page of the session sends them again if they did not arrive.
  let beaconed = 0
  const gone = g((bye) => {
    cap.flush()
    flush()
    if (bye) push({ t: 'bye', seq: 0 })
    const out = pipe.pending()
    save(SS, 'siq:o', out[0] ? { sid: s.sid, f: out.slice(-500).map((f) => [f.q, latin1(f.b)]) } : null)
    const url = list[0] + '/v1/batch'
    if (list[0])
      for (const x of bodies(head(), pipe.pending(beaconed))) {
        beaconed = x.q
        send(url, x.b)
      }
  })
  const send = (url, body) => {
    try {
      if (nav.sendBeacon(url, body)) return
    } catch {}
    try {
      return fetch(url, { method: 'POST', body, keepalive: true })
        .then((r) => r.ok && r.json())
        .then((j) => j && acked(j.ack), () => {}) // a network failure is not an SDK error
    } catch {}
    try {
      const x = new w.XMLHttpRequest()
      x.open('POST', url, false)
      x.send(body)
      acked(JSON.parse(x.responseText).ack)
    } catch {}
  }

  const cap = capture(w, (...a) => stopped || emit(...a), g)
  // The edge refused the key, the origin or the version: retrying cannot help; stop collecting.
  const die = () => cap.stop((dead = 1))
  const offs = []
  const on = (t, ev, f) => {
    t.addEventListener(ev, (f = g(f)))
    offs.push(() => t.removeEventListener(ev, f))
  }
  on(d, 'visibilitychange', () => (d.hidden ? gone() : (beaconed = 0)))
  on(w, 'pagehide', () => gone(1))
  on(w, 'pageshow', (e) => e.persisted && connect())

  const api = {
    // Identity: `identify`, or the signed-in user of Clerk, Auth0, Supabase or Firebase.
    identify(id, traits, auto) {
      if (dnt || id == null || id === '' || (auto && (own || cut(id, 256) == uid))) return
      own ||= !auto
      traits = props(traits || {}, 0) || {}
      const email = traits.email
      delete traits.email
      push({ t: 'id', seq: 0, uid: (uid = cut(id, 256)), email: email ? cut(email, 256) : undefined, traits })
    },
    track(name, p) {
      if (name) push({ t: 'tr', seq: 0, name: cut(name, 128), props: p && props(p, 0) })
    },
    outcome(iid, r) {
      if (/^(shown|clicked|dismissed|converted)$/.test(r)) push({ t: 'out', seq: 0, iid: cut(iid, 128), r })
    },
    stop() {
      gone()
      stopped = 1
      timers.forEach(clearTimeout)
      cap.stop()
      for (const off of offs) off()
      hide?.()
      const x = ws
      ws = 0
      if (x) x.close()
    },
    state: () => ({ sid: s.sid, seq: pipe.seq, ack: pipe.ack, unacked: pipe.out.length, lost: pipe.dropped, edge: list[0], region, http, dnt, uid }),
  }
  if (!dnt && o.autoIdentify != false)
    for (const ms of [0, 2000, 6000, 15000])
      later(() => detect(w).then((u) => u && !stopped && api.identify(u.uid, { email: u.email }, 1), count), ms)

  // Find the nearest edge, then connect.
  ;(async () => {
    const home = o.edge && trim(o.edge)
    let l = [].concat(o.edges || []).map(trim).filter(Boolean)
    if (!l[0] && home) l = await discover(home, fetch)
    orig = l
    const r = rank(l, fetch, w.performance)
    const first = await r.first
    list = [first, ...l.filter((u) => u != first)]
    connect()
    const all = await r.all
    list = [list[0], ...all.filter((u) => u != list[0])]
  })().catch(count)

  return api
}
