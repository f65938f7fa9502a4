// 1. Nearest edge: three real edges behind delay proxies (10 / 60 / 120 ms each way). The page
// connects to the fastest; when that one dies it moves to the next; the lakes hold every frame
// the page produced, none twice.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
let edges = []
let proxies = []
let srv
let browser

before(async () => {
  if (skip) return
  const regions = [
    ['us-east-1', 10],
    ['us-west-2', 60],
    ['eu-west-1', 120],
  ]
  edges = await Promise.all(regions.map(([region]) => h.startEdge({ region })))
  proxies = await Promise.all(edges.map((e, i) => h.delayProxy(e.port, regions[i][1])))
  srv = await h.pageServer()
  browser = await h.launch()
})

after(async () => {
  await browser?.close()
  await srv?.close()
  for (const p of proxies) p.kill()
  for (const e of edges) await e.stop()
  for (const e of edges) h.cleanup(e)
})

test('connects to the nearest edge, fails over to the next, loses and doubles nothing', { skip, timeout: 60000 }, async () => {
  // Listed slowest first: the order of the list must not matter, only the measured latency.
  const list = [proxies[2].url, proxies[1].url, proxies[0].url]
  const url = srv.page('/failover', h.shopPage({ sdk: h.sdkTag({ edges: list }) }))
  const ctx = await browser.newContext()
  const page = await ctx.newPage()
  const rec = h.record(page, decode)
  await page.goto(url)
  const s0 = await h.until(() => page.evaluate(() => SentientIQ.state()?.region && SentientIQ.state()), 'a welcome')
  assert.equal(s0.edge, proxies[0].url, 'the 10 ms edge wins')
  assert.equal(s0.region, 'us-east-1')
  // The ranking is remembered for the next page load.
  const cached = await h.until(() => page.evaluate(() => JSON.parse(localStorage.getItem('siq:edges'))), 'the ranking (all probes answered)')
  assert.deepEqual(cached.r, [proxies[0].url, proxies[1].url, proxies[2].url], 'ranked by warm round trip')

  const activity = async (n) => {
    for (let i = 0; i < n; i++) {
      await page.mouse.move(100 + ((i * 37) % 700), 120 + ((i * 53) % 400), { steps: 4 })
      if (i % 5 == 0) await page.mouse.click(300 + i, 500)
    }
  }
  await activity(40)
  await h.until(() => page.evaluate(() => SentientIQ.state().unacked == 0), 'everything acked by us-east-1')
  const before = await page.evaluate(() => SentientIQ.state())

  // The nearest edge dies (its network path goes away; the edge keeps shipping its lake).
  proxies[0].kill()
  await activity(30) // produced while there is no edge
  const s1 = await h.until(() => page.evaluate(() => SentientIQ.state()?.region == 'us-west-2' && SentientIQ.state()), 'failover to us-west-2', 20000)
  assert.equal(s1.edge, proxies[1].url)
  await activity(30)
  await h.until(() => page.evaluate(() => SentientIQ.state().unacked == 0), 'everything acked by us-west-2')
  const last = await page.evaluate(() => SentientIQ.state())
  assert.ok(last.seq > before.seq, 'frames were produced after the failover')
  const sid = last.sid
  await page.close({ runBeforeUnload: true })
  await ctx.close()
  assert.deepEqual(rec.errors, [])

  // What the edges stored: the union of the lakes is 1..max exactly once.
  const rows = await h.until(async () => {
    const all = (await Promise.all(edges.map((e) => e.rows({ session: sid })))).flat()
    const c = h.conservation(all)
    return c.max > last.seq && c.missing.length == 0 && all
  }, 'every frame in the lakes', 20000)
  const per = edges.map((e) => rows.filter((r) => r.file.startsWith(e.lake)))
  const seqsOf = (rs) => new Set(rs.map((r) => Number(r.seq)))
  const [a, b, c] = per.map(seqsOf)
  const cross = [...a].filter((q) => b.has(q)).length
  const c1 = h.conservation(per[0])
  const c2 = h.conservation(per[1])
  console.log(
    `# failover: ${last.seq} frames before close (+ the pagehide ones); us-east-1 stored seq 1..${c1.max} (${a.size} frames), ` +
      `us-west-2 ${b.size} frames, eu-west-1 ${c.size}; in both regions: ${cross}; duplicates within a region: ${c1.duplicates + c2.duplicates}`,
  )
  assert.equal(c1.duplicates, 0, 'no duplicate in us-east-1')
  assert.equal(c2.duplicates, 0, 'no duplicate in us-west-2')
  assert.equal(c.size, 0, 'the 120 ms edge was never used')
  assert.ok(a.size >= before.seq, 'us-east-1 holds what it acknowledged')
  assert.ok(b.size > 0, 'us-west-2 holds the rest')
  // A frame stored but not acknowledged by the dead edge may be sent again to the next one: the
  // lake's readers must count (tenant, session, seq) once (a dedup view; see the report).
  const union = h.conservation(rows.filter((r, i, all) => all.findIndex((x) => x.seq == r.seq && x.idx == r.idx) == i))
  assert.deepEqual(union.missing, [])
  assert.equal(cross, 0, 'with acks cumulative and resends only of unacknowledged frames, none crossed regions')
})
