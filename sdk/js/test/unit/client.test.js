// The client over a fake window (test/unit/fakedom.js): hello, batching, acks, reconnects,
// err retry_ms, the pagehide beacon path, the session across page loads, Do-Not-Track,
// auto-identify, storage that throws. The real browser and edge are in test/browser/.

import { test, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { start } from '../../src/client.js'
import * as ref from '@msgpack/msgpack'
import { fakeWindow, until, wait, Mem } from './fakedom.js'

const KEY = 'siq_pk_unit_000000000000000000'
const EDGE = 'https://edge.example'
let running = []

function boot(env, opts = {}) {
  const errors = { n: 0 }
  const cbs = { det: [], iv: [] }
  const c = start(env.w, KEY, { edges: [EDGE], widget: false, autoIdentify: false, ...opts }, () => errors.n++, cbs)
  running.push(c)
  return { c, errors, cbs }
}

afterEach(() => {
  for (const c of running) c.stop()
  running = []
})

/** Opens the current socket and answers its hello with a welcome. */
async function welcome(env, n, w = {}) {
  const ws = await until(() => env.sockets[n], `socket ${n}`)
  ws.open()
  assert.equal(ws.sent[0].t, 'hello')
  ws.recv({ t: 'welcome', v: 1, edge: 'e1', region: 'us-east-1', ack: 0, flush_ms: 20, max_batch: 512, emit: true, ...w })
  return ws
}

const seqs = (ws) => ws.sent.filter((f) => f.t != 'hello').map((f) => f.seq)

test('hello first, then numbered frames; the first page view is a `page` sample', async () => {
  const env = fakeWindow()
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  const h = ws.sent[0]
  assert.equal(ws.url, 'wss://edge.example/v1/ws')
  assert.deepEqual(
    Object.keys(h),
    ['t', 'v', 'key', 'sid', 'aid', 'url', 'title', 'vw', 'vh', 'dpr', 'tz', 'ptr', 'sdk'],
  )
  assert.equal(h.key, KEY)
  assert.match(h.sid, /^[\w-]{16,64}$/)
  assert.equal(h.sdk, 'js/1.0.0')
  assert.deepEqual([h.vw, h.vh, h.dpr, h.ptr], [1280, 800, 2, 'mouse'])
  await until(() => ws.sent.length > 1, 'the first batch')
  const b = ws.sent[1]
  assert.equal(b.t, 'b')
  assert.equal(b.seq, 1)
  assert.equal(b.k[0], 8)
  assert.equal(b.s[b.a?.[0] ?? 0], 'https://shop.example/p')
  // Moves are coalesced per animation frame; a click is sent at once.
  for (let i = 0; i < 5; i++) env.w.dispatch('pointermove', { clientX: i, clientY: 2 * i })
  env.w.dispatch('pointerdown', { clientX: 4, clientY: 8, button: 0 })
  env.w.dispatch('pointerup', { clientX: 4, clientY: 8, button: 0 })
  env.w.dispatch('click', { clientX: 4, clientY: 8, detail: 1 })
  await until(() => ws.sent.length > 2, 'the click batch')
  const f = ws.sent[2]
  assert.deepEqual(f.k, [0, 1, 2, 3], 'one coalesced move, then down, up, click')
  assert.deepEqual([f.x, f.y], [[4, 4, 4, 4], [8, 8, 8, 8]])
  assert.equal(c.state().seq, 2)
})

test('acks forget frames; after a reconnect the hello carries the ack and the rest is resent', async () => {
  const env = fakeWindow()
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  for (let i = 0; i < 3; i++) {
    c.track('t' + i)
    await wait(2)
  }
  await until(() => seqs(ws).length >= 4, 'four frames') // the page view + three tracks
  ws.recv({ t: 'ack', seq: 2 })
  assert.equal(c.state().ack, 2)
  assert.equal(c.state().unacked, 2)
  ws.close()
  c.track('while-down')
  const ws2 = await until(() => env.sockets[1], 'a reconnect')
  ws2.open()
  assert.equal(ws2.sent[0].ack, 2, 'hello.ack')
  assert.equal(ws2.sent.length, 1, 'nothing before the welcome')
  ws2.recv({ t: 'welcome', v: 1, edge: 'e1', region: 'us-east-1', ack: 3, flush_ms: 20, max_batch: 512, emit: true })
  assert.deepEqual(seqs(ws2), [4, 5], 'resent from welcome.ack, in order')
  ws2.recv({ t: 'ack', seq: 5 })
  assert.equal(c.state().unacked, 0)
})

test('err with retry_ms: nothing sent meanwhile, then everything unacknowledged again', async () => {
  const env = fakeWindow()
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  await until(() => seqs(ws).length == 1, 'the page view')
  c.track('a')
  c.track('b')
  ws.recv({ t: 'ack', seq: 1 })
  ws.recv({ t: 'err', code: 'rate_limited', msg: 'slow down', fatal: false, retry_ms: 40 })
  c.track('c')
  ws.recv({ t: 'ack', seq: 3 }) // a later frame acked: must not make the client forget seq 2
  assert.deepEqual(seqs(ws), [1, 2, 3], 'd not sent while paused')
  await until(() => seqs(ws).length > 3, 'the resend', 1000)
  assert.deepEqual(seqs(ws), [1, 2, 3, 2, 3, 4])
})

test('a fatal bad_key stops the SDK: no reconnect, nothing more collected', async () => {
  const env = fakeWindow()
  const { c } = boot(env)
  const ws = await until(() => env.sockets[0], 'socket')
  assert.ok(env.w.l.pointermove?.length, 'capturing')
  ws.open()
  ws.recv({ t: 'err', code: 'bad_key', msg: 'unknown key', fatal: true })
  ws.close()
  const seq = c.state().seq
  c.track('after')
  env.w.dispatch('click', { clientX: 1, clientY: 1, detail: 1 })
  await wait(400)
  assert.equal(env.sockets.length, 1)
  assert.equal(c.state().seq, seq, 'no frame made after the refusal')
  assert.deepEqual(env.w.l.pointermove, [], 'capture listeners removed')
})

test('stop(): a pending reconnect never fires, every listener is gone', async () => {
  const env = fakeWindow()
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  ws.close() // a reconnect is now scheduled (250 ms, jittered)
  c.stop()
  await wait(700)
  assert.equal(env.sockets.length, 1, 'no reconnect after stop()')
  for (const [ev, l] of Object.entries(env.w.l)) assert.deepEqual(l, [], `no ${ev} listener left`)
})

test('pagehide: unacked frames and a bye by sendBeacon, in bodies under 64 KiB; kept for the next page', async () => {
  const session = new Mem()
  const env = fakeWindow({ session })
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  // Many big frames nobody acknowledges.
  for (let i = 0; i < 70; i++) c.track('big', { blob: 'x'.repeat(500), n: i, more: { a: 'y'.repeat(500), b: 'z'.repeat(500) } })
  ws.readyState = 3 // the connection is gone
  env.w.dispatch('pagehide')
  const bodies = env.calls.beacon
  assert.ok(bodies.length >= 2, `split into ${bodies.length} bodies`)
  for (const b of bodies) {
    assert.equal(b.u, EDGE + '/v1/batch')
    assert.ok(b.n < 65536, `${b.n} bytes`)
    assert.deepEqual(Object.keys(b.b), ['key', 'sid', 'hello', 'frames'])
    assert.equal(b.b.hello.t, 'hello')
  }
  const sent = bodies.flatMap((b) => b.b.frames.map((f) => f.seq))
  assert.deepEqual(sent, Array.from({ length: sent.length }, (_, i) => i + 1), 'every unacked frame once, in order')
  assert.equal(bodies.at(-1).b.frames.at(-1).t, 'bye')
  // visibilitychange right after: nothing new, nothing sent twice.
  env.d.hidden = true
  env.d.dispatch('visibilitychange')
  assert.equal(env.calls.beacon.length, bodies.length)

  // The next page of the session: same sid, seq continues, the kept frames go again.
  const last = c.state()
  c.stop()
  const env2 = fakeWindow({ session })
  const { c: c2 } = boot(env2)
  const ws2 = await until(() => env2.sockets[0], 'socket on page two')
  ws2.open()
  assert.equal(ws2.sent[0].sid, last.sid)
  ws2.recv({ t: 'welcome', v: 1, edge: 'e1', region: 'us-east-1', ack: 30, flush_ms: 20, max_batch: 512, emit: true })
  const again = seqs(ws2)
  assert.equal(again[0], 31, 'resent from the welcome ack')
  assert.ok(again.includes(last.seq), 'including the bye')
  await until(() => c2.state().seq > last.seq, 'a new frame')
  assert.equal(c2.state().seq, last.seq + 1, 'seq continues across pages')
})

test('sendBeacon refused: fetch(keepalive) carries the body', async () => {
  const env = fakeWindow({ beacon: false, fetch: () => ({ status: 200, body: { ack: 3 } }) })
  const { c } = boot(env)
  await welcome(env, 0)
  c.track('x')
  env.w.dispatch('pagehide')
  const keep = env.calls.fetch.filter((f) => f.i.keepalive)
  assert.equal(keep.length, 1)
  assert.equal(keep[0].i.credentials, 'omit')
  assert.equal(keep[0].i.headers, undefined, 'no custom header: no preflight')
  assert.ok(keep[0].body.frames.some((f) => f.t == 'bye'))
  await until(() => c.state().ack == 3, 'the keepalive answer applied')
})

test('WebSocket refused but HTTP answers: frames go by POST /v1/batch', async () => {
  const env = fakeWindow({ fetch: (u, i) => ({ status: 200, body: { ack: 0 } }) })
  env.w.WebSocket = function () {
    throw new Error('blocked')
  }
  const { c } = boot(env)
  await until(() => c.state().http, 'HTTP mode')
  c.track('over-http')
  await until(() => env.calls.fetch.some((f) => f.body?.frames?.some((x) => x.t == 'tr')), 'a POST carrying it')
  const post = env.calls.fetch.find((f) => f.body?.frames?.some((x) => x.t == 'tr'))
  assert.equal(post.u, EDGE + '/v1/batch')
  assert.equal(post.i.method, 'POST')
  assert.equal(post.i.headers, undefined)
})

test('HTTP 429 with Retry-After: nothing is posted until it has passed, then everything', async () => {
  const posts = []
  let refuse = true
  const env = fakeWindow({
    fetch: (u, i) => {
      const frames = i.body ? ref.decode(i.body).frames : []
      posts.push({ at: Date.now(), n: frames.length })
      if (refuse && frames.some((f) => f.t == 'tr')) {
        refuse = false
        return { status: 429, headers: { 'retry-after': '1' }, body: { code: 'rate_limited', msg: 'slow down' } }
      }
      return { status: 200, body: { ack: Math.max(0, ...frames.map((f) => f.seq)) } }
    },
  })
  env.w.WebSocket = function () {
    throw new Error('blocked')
  }
  const { c } = boot(env)
  await until(() => c.state().http, 'HTTP mode')
  c.track('a')
  await until(() => !refuse, 'the 429')
  const refused = posts.length
  const at = Date.now()
  for (let i = 0; i < 5; i++) {
    c.track('b' + i)
    await wait(100)
  }
  assert.equal(posts.length, refused, 'no post while refused')
  await until(() => c.state().unacked == 0, 'everything acked after the wait', 3000)
  assert.ok(posts[refused].at - at >= 900, `the next post waited for Retry-After (${posts[refused].at - at} ms)`)
})

test('an explicit identify() wins over auto-identify, on this page and the next', async () => {
  const local = new Mem()
  const session = new Mem()
  local.setItem('sb-abcd-auth-token', JSON.stringify({ access_token: 'eyJsecret', user: { id: 'uuid-1', email: 'cy@example.com' } }))
  const env = fakeWindow({ local, session })
  const { c } = boot(env, { autoIdentify: true })
  const ws = await welcome(env, 0)
  await until(() => ws.sent.some((f) => f.t == 'id'), 'the auto id')
  c.identify('crm-42', { email: 'cy@example.com' })
  await until(() => ws.sent.filter((f) => f.t == 'id').length == 2, 'the explicit id')
  assert.equal(c.state().uid, 'crm-42')
  // Both acknowledged: the next page has nothing of this one to send again.
  ws.recv({ t: 'ack', seq: c.state().seq })
  assert.equal(c.state().unacked, 0)
  c.stop()
  const env2 = fakeWindow({ local, session })
  const { c: c2 } = boot(env2, { autoIdentify: true })
  const ws2 = await welcome(env2, 0)
  assert.equal(ws2.sent[0].uid, 'crm-42')
  await wait(150)
  assert.equal(ws2.sent.filter((f) => f.t == 'id').length, 0, 'auto-identify did not override it')
  assert.equal(c2.state().uid, 'crm-42')
})

test('three failed connects move to the next edge (and it is remembered)', async () => {
  const env = fakeWindow()
  const c = start(env.w, KEY, { edges: ['https://a.example', 'https://b.example'], widget: false, autoIdentify: false }, () => {}, { det: [], iv: [] })
  running.push(c)
  // The ranking is probed with fetch (404 here: neither answers), then a comes first as listed.
  for (let i = 0; i < 3; i++) (await until(() => env.sockets[i], `attempt ${i}`, 5000)).close()
  const ws = await until(() => env.sockets[3], 'the failover attempt', 5000)
  assert.equal(ws.url, 'wss://b.example/v1/ws')
  assert.deepEqual(JSON.parse(env.w.localStorage.getItem('siq:edges')).r, ['https://b.example', 'https://a.example'])
})

test('Do-Not-Track: dnt in hello, no device id, identify sends nothing', async () => {
  const env = fakeWindow({ dnt: true })
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  assert.equal(ws.sent[0].dnt, true)
  assert.equal(ws.sent[0].aid, undefined)
  c.identify('u1', { email: 'a@b.example' })
  c.track('after')
  await until(() => ws.sent.some((f) => f.t == 'tr'), 'the track')
  assert.equal(ws.sent.filter((f) => f.t == 'id').length, 0)
})

test('identify: id frame with email and flat traits; the uid goes into later hellos', async () => {
  const session = new Mem()
  const env = fakeWindow({ session })
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  c.identify('u_1001', { email: 'dana@acme.example', plan: 'enterprise', ltv: 120000, beta: true, f: () => 1 })
  const id = await until(() => ws.sent.find((f) => f.t == 'id'), 'the id frame')
  assert.deepEqual(id, { t: 'id', seq: id.seq, uid: 'u_1001', email: 'dana@acme.example', traits: { plan: 'enterprise', ltv: 120000, beta: true } })
  c.stop()
  const env2 = fakeWindow({ session })
  boot(env2)
  const ws2 = await until(() => env2.sockets[0], 'page two')
  ws2.open()
  assert.equal(ws2.sent[0].uid, 'u_1001')
})

test('auto-identify from a Supabase session in localStorage: id and email only', async () => {
  const local = new Mem()
  local.setItem('sb-abcd-auth-token', JSON.stringify({ access_token: 'eyJsecret', refresh_token: 'r-secret', user: { id: 'uuid-1', email: 'cy@example.com' } }))
  const env = fakeWindow({ local })
  const { c } = boot(env, { autoIdentify: true })
  const ws = await welcome(env, 0)
  const id = await until(() => ws.sent.find((f) => f.t == 'id'), 'the id frame')
  assert.equal(id.uid, 'uuid-1')
  assert.equal(id.email, 'cy@example.com')
  assert.ok(!JSON.stringify(ws.sent).includes('secret'))
  assert.equal(c.state().uid, 'uuid-1')
})

test('storage that throws: the SDK still runs (a session per page)', async () => {
  const env = fakeWindow({ storage: false })
  const { c, errors } = boot(env)
  const ws = await welcome(env, 0)
  c.track('x')
  await until(() => ws.sent.some((f) => f.t == 'tr'), 'the track')
  env.w.dispatch('pagehide')
  assert.equal(errors.n, 0)
})

test('det and iv frames reach the callbacks; a throwing callback is contained', async () => {
  const env = fakeWindow()
  const { cbs, errors } = boot(env)
  const seen = []
  cbs.det.push((d) => seen.push(d.e))
  cbs.det.push(() => {
    throw new Error('tenant bug')
  })
  cbs.iv.push((iv) => seen.push(iv.kind))
  const ws = await welcome(env, 0)
  ws.recv({ t: 'det', id: 'd1', e: 'rage', c: 0.9, at: 3 })
  ws.recv({ t: 'iv', id: 'i1', kind: 'chat', variant: 'a', e: 'rage', payload: { text: 'Hi' } })
  assert.deepEqual(seen, ['rage', 'chat'])
  assert.equal(errors.n, 1)
})

test('corrupt session state in storage: a fresh session, nothing thrown', async () => {
  const session = new Mem()
  session.setItem('siq:s', JSON.stringify({ sid: 'short', seq: 'x' }))
  session.setItem('siq:o', JSON.stringify({ sid: 'short', f: 5 }))
  const env = fakeWindow({ session })
  const { c } = boot(env)
  const ws = await welcome(env, 0)
  assert.match(ws.sent[0].sid, /^[\w-]{16,64}$/)
  await until(() => seqs(ws)[0] == 1, 'seq 1')
  const session2 = new Mem()
  session2.setItem('siq:s', JSON.stringify({ sid: 'a'.repeat(20), seq: 'x', ack: null }))
  session2.setItem('siq:o', JSON.stringify({ sid: 'a'.repeat(20), f: [[1, null]] }))
  const env2 = fakeWindow({ session: session2 })
  const { c: c2, errors } = boot(env2)
  const ws2 = await welcome(env2, 0)
  assert.equal(ws2.sent[0].sid, 'a'.repeat(20))
  await until(() => seqs(ws2)[0] == 1, 'seq 1 on the kept session')
  assert.equal(errors.n, 1, 'the unreadable kept frames were counted, not thrown')
  assert.ok(c.state() && c2.state())
})

test('an edge that welcomes and drops at once, three times, is failed over too', async () => {
  const env = fakeWindow()
  const c = start(env.w, KEY, { edges: ['https://a.example', 'https://b.example'], widget: false, autoIdentify: false }, () => {}, { det: [], iv: [] })
  running.push(c)
  for (let i = 0; i < 3; i++) {
    const ws = await welcome(env, i)
    assert.equal(ws.url, 'wss://a.example/v1/ws')
    ws.close()
  }
  const ws = await until(() => env.sockets[3], 'the failover attempt', 5000)
  assert.equal(ws.url, 'wss://b.example/v1/ws')
})
