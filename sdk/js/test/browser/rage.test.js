// 2. Rage by real input (page.mouse) on the shop page: the edge detects it (`det`) and its rule
// intervenes (`iv`): the widget appears. Click-to-widget latency over 24 trials, p50/p95
// (target p95 <= 300 ms; reported, not asserted), measured on the page's own clock: from the click that completed the
// evidence to the widget's insertion. A screenshot of the widget goes to test-artifacts/.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const TRIALS = 24
const fx = h.oneEdge(skip)

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

test(`rage clicks show the intervention widget; click-to-widget latency over ${TRIALS} trials (measured, reported)`, { skip, timeout: 90000 }, async () => {
  const url = fx.srv.page('/rage', h.shopPage({ sdk: h.sdkTag({ edges: [fx.edge.url] }) }))
  const page = await fx.browser.newPage({ viewport: { width: 1280, height: 900 } })
  const rec = h.record(page, decode)
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome')
  const lat = []
  for (let i = 0; i < TRIALS; i++) {
    const btn = page.locator(`#add-${i}`)
    await btn.scrollIntoViewIfNeeded()
    const box = await btn.boundingBox()
    const widgets = await page.evaluate(() => __t.widgets.length)
    // Four quick clicks a few pixels apart on a button that does nothing.
    for (let c = 0; c < 4; c++) {
      await page.mouse.move(box.x + 20 + c * 6, box.y + box.height / 2, { steps: 2 })
      await page.mouse.down()
      await page.mouse.up()
      await page.waitForTimeout(90)
    }
    await h.until(() => page.evaluate((n) => __t.widgets.length > n, widgets), `the widget of trial ${i}`, 5000, 10)
    const ms = await page.evaluate(() => {
      const w = __t.widgets[__t.widgets.length - 1]
      const click = __t.clicks.filter((c) => c <= w).pop()
      return w - click
    })
    lat.push(ms)
    if (i == 0) {
      await page.waitForTimeout(250) // let the entry animation settle
      await page.screenshot({ path: h.artifact('shop-widget.png') })
    }
    // Dismiss it with the mouse on its close button (inside the widget's shadow root).
    const host = page.locator('siq-widget')
    const x = host.locator('button.x')
    await x.click()
    await h.until(() => page.evaluate(() => !document.querySelector('siq-widget')), 'the widget to go', 2000, 10)
    await page.waitForTimeout(350) // past the refractory time; the next button is > 30 px away: a new chain
  }
  const p50 = pct(lat, 50)
  const p95 = pct(lat, 95)
  const summary = { trials: TRIALS, p50_ms: +p50.toFixed(1), p95_ms: +p95.toFixed(1), max_ms: +Math.max(...lat).toFixed(1), all_ms: lat.map((x) => +x.toFixed(1)) }
  writeFileSync(h.artifact('rage-latency.json'), JSON.stringify(summary, null, 2))
  // Reported against the target, not asserted: a figure of this machine's moment, not behaviour.
  console.log(
    `# click-to-widget latency over ${TRIALS} trials: p50 ${summary.p50_ms} ms, p95 ${summary.p95_ms} ms, max ${summary.max_ms} ms ` +
      `(target p95 <= 300 ms: ${p95 <= 300 ? 'met' : 'NOT MET'})`,
  )

  const t = await page.evaluate(() => ({ det: __t.det, iv: __t.iv, errors: __t.errors, sdkErrors: SentientIQ.errors, sid: SentientIQ.state().sid }))
  assert.ok(t.det.filter((d) => d.e == 'rage').length >= TRIALS, `a rage det per trial (got ${t.det.length})`)
  assert.equal(t.iv.length, TRIALS)
  assert.deepEqual(t.iv[0].payload.cta, 'Chat with us')
  assert.deepEqual(rec.errors, [])
  assert.equal(t.sdkErrors, 0)
  // Outcomes were reported: shown and dismissed for every trial.
  const outs = rec.frames.filter((x) => x.dir == 'sent' && x.f.t == 'out').map((x) => x.f)
  assert.equal(outs.filter((o) => o.r == 'shown').length, TRIALS)
  assert.equal(outs.filter((o) => o.r == 'dismissed').length, TRIALS)
  // And they reached the store: `outcome` rows in the lake.
  await page.close({ runBeforeUnload: true })
  await h.until(async () => (await fx.edge.rows({ session: t.sid })).filter((r) => r.kind == 'outcome').length == 2 * TRIALS, 'outcome rows in the lake')
  const m = await fx.edge.metrics()
  assert.ok(m.siq_interventions_total >= TRIALS)
})
