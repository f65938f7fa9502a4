// Serving and discovery: the loader injects the versioned SDK (Subresource Integrity) and
// calls queued before it loaded arrive; and the edge features the SDK relies on: the edge
// serving /v1/sdk.js, listing its peers at /v1/edges, and Timing-Allow-Origin on /v1/ping.
// A test of an edge feature that is detectably absent is skipped, saying why.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import * as h from './harness.js'

const skip = h.missing() || false
let edge
let srv
let browser
const has = {}

before(async () => {
  if (skip) return
  edge = await h.startEdge()
  srv = await h.pageServer()
  browser = await h.launch()
  const sdk = await fetch(edge.url + '/v1/sdk.js')
  has.sdk = sdk.status == 200 && (await sdk.text()).includes('/v1/sdk/')
  const edges = await fetch(edge.url + '/v1/edges')
  has.edges = edges.status == 200 && Array.isArray((await edges.json().catch(() => ({}))).edges)
  const ping = await fetch(edge.url + '/v1/ping', { headers: { origin: srv.origin } })
  has.tao = ping.headers.has('timing-allow-origin')
  console.log(`# edge features: serves /v1/sdk.js ${!!has.sdk}, /v1/edges ${!!has.edges}, Timing-Allow-Origin on /v1/ping ${has.tao}`)
})

after(async () => {
  await browser?.close()
  await srv?.close()
  await edge?.stop()
  if (edge) h.cleanup(edge)
})

const QUEUE = `<script src="/queue.js"></script>`

test('the loader injects the versioned SDK with its integrity; queued calls arrive in order', { skip, timeout: 40000 }, async () => {
  const url = srv.page('/loader', h.shopPage({ head: QUEUE, sdk: h.sdkTag({ edges: [edge.url], loader: true, from: srv.origin }) }))
  // What the loader injects: dist/ from the page server, the binary's copy from the edge.
  const sdk = await h.servedSdk(h.sdkBase({ edges: [edge.url], from: srv.origin }))
  const page = await browser.newPage()
  const rec = h.record(page, decode)
  const scripts = []
  page.on('request', (r) => r.resourceType() == 'script' && scripts.push(new URL(r.url()).pathname))
  const open = new Set()
  page.on('websocket', (ws) => {
    open.add(ws)
    ws.on('close', () => open.delete(ws))
  })
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state?.()?.region), 'a welcome through the loader')
  assert.ok(scripts.includes('/v1/sdk.js') && scripts.includes(sdk.path), `scripts: ${scripts}`)
  const tag = await page.evaluate((p) => {
    const s = [...document.scripts].find((x) => x.src.endsWith(p))
    return { integrity: s.integrity, key: s.dataset.key, edges: s.dataset.edges, edge: s.dataset.edge }
  }, sdk.path)
  assert.equal(tag.integrity, sdk.sri)
  assert.equal(tag.key, h.KEY)
  assert.equal(tag.edges, edge.url)
  await h.until(() => rec.frames.filter((x) => x.dir == 'sent' && x.f.t == 'tr').length >= 2, 'the queued track calls')
  const tr = rec.frames.filter((x) => x.dir == 'sent' && x.f.t == 'tr').map((x) => x.f)
  assert.deepEqual(tr.map((f) => f.name), ['queued-before-load', 'purchase'])
  assert.deepEqual(tr[1].props, { amount: 249.99, currency: 'USD' })
  const id = rec.frames.find((x) => x.dir == 'sent' && x.f.t == 'id').f
  assert.equal(id.uid, 'queued-user')
  assert.ok(id.seq < tr[1].seq, 'in the order called')
  // shutdown(): what is unacknowledged goes, then nothing more; the page is as it was.
  assert.equal(await page.evaluate(() => history.pushState.toString().includes('[native code]')), false)
  await page.evaluate(() => SentientIQ.shutdown())
  // What shutdown() sends, and the edge's acks of it, can be reported after it returns (the
  // browser tells Playwright asynchronously): counted once the socket it closes has closed.
  await h.until(() => open.size == 0, 'the socket closed by shutdown()')
  const n = rec.frames.length
  for (let i = 0; i < 10; i++) await page.mouse.move(10 + i * 30, 200)
  await page.click('#spa')
  await page.waitForTimeout(400)
  assert.equal(rec.frames.length, n, `nothing sent after shutdown (then: ${JSON.stringify(rec.frames.slice(n))})`)
  assert.equal(await page.evaluate(() => history.pushState.toString().includes('[native code]')), true, 'history restored')
  assert.equal(await page.evaluate(() => SentientIQ.state()), undefined)
  await page.close()
})

test('the edge serves the SDK that dist/ holds (its binary embeds dist/ at build time)', { skip, timeout: 20000 }, async (t) => {
  if (!has.sdk) return t.skip('the edge does not serve /v1/sdk.js yet (404)')
  const served = await h.servedSdk(edge.url)
  const body = await (await fetch(edge.url + served.path)).text()
  const same = served.path == srv.manifest.path && body == readFileSync(new URL('../../dist/siq.js', import.meta.url), 'utf8')
  console.log(`# the edge serves ${served.path}; dist/ holds ${srv.manifest.path}${same ? '' : ' (the edge binary is older than dist/: rebuild it)'}`)
  assert.equal(served.sri, 'sha384-' + createHash('sha384').update(body).digest('base64'), 'the loader names the SDK it serves')
  // Loading the SDK from the edge tests the binary's copy: it must be the one under test.
  if (process.env.SIQ_SDK_FROM == 'edge') assert.ok(same, 'with SIQ_SDK_FROM=edge the edge must serve dist/ as built (rebuild the edge)')
})

test('served by the edge: GET /v1/sdk.js loads and connects', { skip: skip || false, timeout: 40000 }, async (t) => {
  if (!has.sdk) return t.skip('the edge does not serve /v1/sdk.js yet (404)')
  const url = srv.page('/edge-served', h.shopPage({ sdk: h.sdkTag({ edges: [edge.url], loader: true, from: edge.url }) }))
  const page = await browser.newPage()
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state?.()?.region), 'a welcome with the edge-served SDK')
  await page.close()
})

test('discovery: with only data-edge, the SDK asks the edge for its peers (/v1/edges)', { skip: skip || false, timeout: 40000 }, async (t) => {
  if (!has.edges) return t.skip('the edge has no GET /v1/edges yet (404)')
  const url = srv.page('/discover', h.shopPage({ sdk: `<script src="/sdk/siq.js" data-key="${h.KEY}" data-edge="${edge.url}" async></script>` }))
  const page = await browser.newPage()
  const reqs = []
  page.on('request', (r) => reqs.push(new URL(r.url()).pathname))
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state?.()?.region), 'a welcome after discovery')
  assert.ok(reqs.includes('/v1/edges'))
  await page.close()
})

test('nearest-edge probes use Resource Timing when the edge sends Timing-Allow-Origin', { skip: skip || false, timeout: 40000 }, async (t) => {
  if (!has.tao) return t.skip('the edge does not send Timing-Allow-Origin on /v1/ping yet')
  const other = await h.delayProxy(edge.port, 30)
  try {
    const url = srv.page('/tao', h.shopPage({ sdk: h.sdkTag({ edges: [edge.url, other.url] }) }))
    const page = await browser.newPage()
    await page.goto(url)
    await h.until(() => page.evaluate(() => SentientIQ.state?.()?.region), 'a welcome')
    // The SDK starts on the first warm answer; the race goes on for the ranking, which is stored
    // once every edge's pings have answered (3 each: cold, then two warm).
    const kept = await h.until(() => page.evaluate(() => JSON.parse(localStorage.getItem('siq:edges'))), 'the ranking')
    const entries = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('/v1/ping'))
        .map((e) => ({ base: new URL(e.name).origin, requestStart: e.requestStart, rtt: e.responseStart - e.requestStart })),
    )
    assert.equal(entries.length, 6, 'three pings to each of the two edges')
    assert.ok(
      entries.every((e) => e.requestStart > 0),
      `detailed timing visible to the page (Timing-Allow-Origin): ${JSON.stringify(entries)}`,
    )
    // The ranking was made from those entries (the best warm sample of each edge), not from the
    // time around fetch (which a busy main thread inflates).
    for (const base of [edge.url, other.url]) {
      const warm = entries.filter((e) => e.base == base).slice(1)
      assert.equal(warm.length, 2)
      assert.ok(Math.abs(kept.m[base] - Math.min(...warm.map((e) => e.rtt))) < 0.01, `${base}: kept ${kept.m[base]}, entries ${JSON.stringify(warm)}`)
    }
    await page.close()
  } finally {
    other.kill()
  }
})
