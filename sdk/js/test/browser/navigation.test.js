// 3. Navigation mid-stream and tab close: a three-page visit (real navigations while the pointer
// moves, an SPA navigation) is one session, and every frame the page produced (seq 1 up to the
// final `bye` sent as the tab closes) is in the edge's lake exactly once.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const fx = h.oneEdge(skip)

test('a multi-page visit is one session; every frame is stored exactly once, the tab-close ones too', { skip, timeout: 60000 }, async () => {
  const sdk = h.sdkTag({ edges: [fx.edge.url] })
  fx.srv.page('/nav-c', h.shopPage({ sdk }))
  fx.srv.page('/nav-b', h.shopPage({ sdk, next: '/nav-c' }))
  const url = fx.srv.page('/nav-a', h.shopPage({ sdk, next: '/nav-b' }))
  const ctx = await fx.browser.newContext()
  const page = await ctx.newPage()
  const rec = h.record(page, decode)
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome')
  const sid = await page.evaluate(() => SentientIQ.state().sid)

  const wiggle = async (n) => {
    for (let i = 0; i < n; i++) await page.mouse.move(50 + ((i * 71) % 900), 80 + ((i * 29) % 500), { steps: 3 })
  }
  await wiggle(30)
  await page.click('#spa') // SPA navigation: a `page` sample
  await page.keyboard.type('hi')
  await wiggle(10)
  // Real navigation while the pointer is still moving (no wait for acks).
  const moving = wiggle(20)
  await Promise.all([page.waitForURL('**/nav-b'), page.click('#next')])
  await moving.catch(() => {})
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome on page two')
  assert.equal(await page.evaluate(() => SentientIQ.state().sid), sid, 'the same session on page two')
  await wiggle(25)
  await Promise.all([page.waitForURL('**/nav-c'), page.click('#next')])
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome on page three')
  await wiggle(25)
  await page.mouse.click(600, 400)
  const seqBeforeClose = await page.evaluate(() => SentientIQ.state().seq)
  // Close the tab at once: the last batch and the `bye` leave by beacon.
  await page.close({ runBeforeUnload: true })
  await ctx.close()
  assert.deepEqual(rec.errors, [])

  const rows = await h.until(async () => {
    const r = await fx.edge.rows({ session: sid })
    return r.some((x) => x.kind == 'bye' && Number(x.seq) > seqBeforeClose) && r
  }, 'the bye of the closed tab in the lake', 20000)
  const c = h.conservation(rows)
  const kinds = {}
  for (const r of rows) kinds[r.kind] = (kinds[r.kind] || 0) + 1
  const m = await fx.edge.metrics()
  console.log(
    `# navigation: ${c.max} frames (seq 1..${c.max}), ${rows.length} rows; kinds ${JSON.stringify(kinds)}; ` +
      `edge: ${m.siq_frames_total} frames accepted, ${m.siq_seq_duplicates_total} duplicates re-acked, ${m.siq_seq_gaps_total ?? 0} gaps`,
  )
  assert.deepEqual(c.missing, [], 'no frame missing')
  assert.equal(c.duplicates, 0, 'no frame twice')
  // The tab-close `bye` (pagehide) and after it only the `hidden` visibility sample (Chrome fires
  // visibilitychange after pagehide when a document unloads): both arrived.
  const bye = Math.max(...rows.filter((r) => r.kind == 'bye').map((r) => Number(r.seq)))
  assert.ok(bye > seqBeforeClose)
  assert.deepEqual([...new Set(rows.filter((r) => Number(r.seq) > bye).map((r) => r.kind))].filter((k) => k != 'visibility'), [])
  assert.ok(kinds.page >= 4, 'three page views and one SPA navigation')
  assert.ok(kinds.move > 50 && kinds.key >= 2 && kinds.click >= 3)
  assert.equal(m.siq_frames_total, c.max, 'the edge accepted each frame once')
})
