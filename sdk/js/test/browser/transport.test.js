// 4. WebSockets blocked (a proxy or policy): the data still arrives, by HTTP POST while the page
// lives and by sendBeacon as it goes away. sendBeacon refused: fetch(keepalive) carries the
// pagehide frames. Checked in the edge's lake, not in the page.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as h from './harness.js'

const skip = h.missing() || false
const fx = h.oneEdge(skip)

// Counts the page's sendBeacon / fetch(keepalive) calls in sessionStorage, which survives the
// navigation away (the page that made them is gone by the time the test looks).
const SPY = ({ refuseBeacon }) => `(() => {
  const bump = (k) => sessionStorage.setItem(k, String(+(sessionStorage.getItem(k) || 0) + 1))
  const beacon = navigator.sendBeacon.bind(navigator)
  navigator.sendBeacon = (u, b) => { bump('t:beacon'); return ${refuseBeacon ? 'false' : 'beacon(u, b)'} }
  const f = window.fetch
  window.fetch = (u, i) => { if (i && i.keepalive) bump('t:keepalive'); else if (String(u).endsWith('/v1/batch')) bump('t:post'); return f(u, i) }
})()`

async function visit({ refuseBeacon }) {
  const sdk = h.sdkTag({ edges: [fx.edge.url] })
  fx.srv.page('/t-end', '<!doctype html><title>end</title><p>bye</p>')
  const url = fx.srv.page('/t-' + (refuseBeacon ? 'nobeacon' : 'beacon'), h.shopPage({ sdk, next: '/t-end' }))
  const ctx = await fx.browser.newContext()
  const page = await ctx.newPage()
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  await page.addInitScript(SPY({ refuseBeacon }))
  // Every WebSocket to the edge is refused (closed at once).
  let wsTries = 0
  await page.routeWebSocket(/\/v1\/ws/, (ws) => {
    wsTries++
    ws.close()
  })
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state()?.http), 'the SDK to fall back to HTTP')
  for (let i = 0; i < 30; i++) await page.mouse.move(40 + i * 20, 100 + (i % 7) * 30, { steps: 2 })
  await page.mouse.click(500, 300)
  await h.until(() => page.evaluate(() => SentientIQ.state().unacked == 0), 'HTTP posts acknowledged')
  // Some more, then leave at once: these leave by beacon (or fetch keepalive).
  for (let i = 0; i < 10; i++) await page.mouse.move(500 - i * 30, 200, { steps: 2 })
  const st = await page.evaluate(() => SentientIQ.state())
  await Promise.all([page.waitForURL('**/t-end'), page.click('#next')])
  const spy = await page.evaluate(() => ({ beacon: +sessionStorage.getItem('t:beacon'), keepalive: +sessionStorage.getItem('t:keepalive'), post: +sessionStorage.getItem('t:post') }))
  await ctx.close()
  const rows = await h.until(async () => {
    const r = await fx.edge.rows({ session: st.sid })
    return r.some((x) => x.kind == 'bye') && r
  }, 'the pagehide frames in the lake', 20000)
  return { st, spy, rows, errors, wsTries }
}

test('WebSocket blocked: HTTP while the page lives, sendBeacon when it goes; all stored once', { skip, timeout: 60000 }, async () => {
  const { st, spy, rows, errors, wsTries } = await visit({ refuseBeacon: false })
  const c = h.conservation(rows)
  console.log(`# ws blocked: ${wsTries} WebSocket attempts refused, ${spy.post} HTTP posts, ${spy.beacon} beacons, ${spy.keepalive} keepalive fetches; ${c.max} frames stored`)
  assert.ok(wsTries >= 1)
  assert.ok(spy.post >= 1, 'HTTP posts while the page lived')
  assert.ok(spy.beacon >= 1, 'sendBeacon at pagehide')
  assert.equal(spy.keepalive, 0, 'no fallback needed')
  assert.deepEqual(c.missing, [])
  assert.equal(c.duplicates, 0)
  assert.ok(c.max > st.seq, 'the frames sent at pagehide arrived')
  assert.deepEqual(errors, [])
})

test('sendBeacon refused: fetch(keepalive) carries the pagehide frames', { skip, timeout: 60000 }, async () => {
  const { st, spy, rows, errors } = await visit({ refuseBeacon: true })
  const c = h.conservation(rows)
  console.log(`# beacon refused: ${spy.beacon} beacons refused, ${spy.keepalive} keepalive fetches; ${c.max} frames stored`)
  assert.ok(spy.beacon >= 1, 'sendBeacon was tried')
  assert.ok(spy.keepalive >= 1, 'fetch(keepalive) took over')
  assert.deepEqual(c.missing, [])
  assert.equal(c.duplicates, 0)
  assert.ok(c.max > st.seq)
  assert.deepEqual(errors, [])
})
