// 8. A host page with hostile CSS and a strict Content-Security-Policy (no inline script or
// style, connect-src only the edge): the SDK connects, no CSP violation is caused, and the
// intervention widget shows with its own styles and works with the mouse.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const fx = h.oneEdge(skip)

test('hostile CSS and a strict CSP: connected, no violation, widget intact and clickable', { skip, timeout: 60000 }, async () => {
  const host = new URL(fx.edge.url).host
  // A site that loads the SDK from the edge allows that origin for scripts, as it must.
  const sdkFrom = h.sdkBase({ edges: [fx.edge.url] })
  const csp = `default-src 'none'; script-src 'self'${sdkFrom && ' ' + sdkFrom}; style-src 'self'; img-src 'self'; connect-src http://${host} ws://${host}; base-uri 'none'; form-action 'self'`
  const url = fx.srv.page(
    '/csp',
    h.shopPage({ head: '<link rel="stylesheet" href="/hostile.css"><script src="/csp-hooks.js"></script>', sdk: h.sdkTag({ edges: [fx.edge.url] }) }),
    { 'content-security-policy': csp },
  )
  const page = await fx.browser.newPage({ viewport: { width: 1280, height: 900 } })
  const rec = h.record(page, decode)
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome under the CSP')
  // Rage on a dead button (found by id: the hostile CSS hides most of the page's own boxes).
  const box = await page.locator('#buy').boundingBox()
  assert.ok(box, 'the button is laid out')
  for (let c = 0; c < 4; c++) {
    await page.mouse.click(box.x + 5 + c * 5, box.y + box.height / 2)
    await page.waitForTimeout(80)
  }
  await h.until(() => page.evaluate(() => __t.widgets.length > 0), 'the widget', 5000)
  await page.waitForTimeout(200)
  await page.screenshot({ path: h.artifact('hostile-csp-widget.png') })
  const w = await page.evaluate(() => {
    const host = document.querySelector('siq-widget')
    const r = host.getBoundingClientRect()
    const card = host.shadowRoot.querySelector('.w')
    const cta = host.shadowRoot.querySelector('.c')
    const cs = getComputedStyle(cta)
    const c = cta.getBoundingClientRect()
    const top = document.elementFromPoint(c.x + c.width / 2, c.y + c.height / 2)
    return {
      rect: { x: r.x, y: r.y, w: r.width, h: r.height },
      hostDisplay: getComputedStyle(host).display,
      hostPosition: getComputedStyle(host).position,
      cardBg: getComputedStyle(card).backgroundColor,
      ctaBg: cs.backgroundColor,
      ctaFont: cs.fontSize,
      ctaColor: cs.color,
      topIsWidget: top === host,
      cta: { x: c.x + c.width / 2, y: c.y + c.height / 2 },
      text: card.textContent,
    }
  })
  assert.equal(w.hostDisplay, 'block')
  assert.equal(w.hostPosition, 'fixed')
  assert.ok(w.rect.w > 250 && w.rect.h > 80, `laid out: ${JSON.stringify(w.rect)}`)
  assert.ok(w.rect.x + w.rect.w <= 1280 && w.rect.y + w.rect.h <= 900, 'inside the viewport')
  assert.equal(w.cardBg, 'rgb(255, 255, 255)')
  assert.equal(w.ctaBg, 'rgb(37, 99, 235)')
  assert.equal(w.ctaColor, 'rgb(255, 255, 255)')
  assert.equal(w.ctaFont, '14px')
  assert.ok(w.topIsWidget, 'nothing covers it')
  assert.ok(w.text.includes('A person can help'))
  // The CTA works with the mouse.
  await page.mouse.click(w.cta.x, w.cta.y)
  await h.until(() => rec.frames.some((x) => x.dir == 'sent' && x.f.t == 'out' && x.f.r == 'clicked'), 'an out frame: clicked')
  const v = await page.evaluate(() => ({ violations: window.__csp, errors: SentientIQ.errors }))
  assert.deepEqual(v.violations, [], 'no CSP violation')
  assert.equal(v.errors, 0)
  assert.deepEqual(rec.errors, [])
  const sid = await page.evaluate(() => SentientIQ.state().sid)
  await page.close({ runBeforeUnload: true })
  await h.until(async () => (await fx.edge.rows({ session: sid })).some((r) => r.kind == 'outcome' && r.label == 'clicked'), 'the outcome in the lake')
})

test("a nonce-based strict CSP ('strict-dynamic'): the loader passes its nonce on and the SDK connects", { skip, timeout: 40000 }, async () => {
  const host = new URL(fx.edge.url).host
  const nonce = 'r4nd0m-n0nce-42'
  const csp = `script-src 'nonce-${nonce}' 'strict-dynamic'; object-src 'none'; base-uri 'none'; style-src 'self'; connect-src http://${host} ws://${host}`
  const html = h
    .shopPage({ head: '<script src="/csp-hooks.js"></script>', sdk: h.sdkTag({ edges: [fx.edge.url], loader: true, from: fx.srv.origin }) })
    .replaceAll('<script ', `<script nonce="${nonce}" `)
  const url = fx.srv.page('/csp-nonce', html, { 'content-security-policy': csp })
  const page = await fx.browser.newPage()
  const rec = h.record(page, decode)
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state?.()?.region), 'a welcome under a nonce CSP')
  // The versioned SDK that loader injects (the edge's own copy with SIQ_SDK_FROM=edge).
  const { path } = await h.servedSdk(h.sdkBase({ edges: [fx.edge.url], from: fx.srv.origin }))
  const injected = await page.evaluate((p) => [...document.scripts].filter((s) => new URL(s.src || 'x:').pathname == p).map((s) => s.nonce), path)
  assert.deepEqual(injected, [nonce], `the injected SDK ${path} carries the nonce`)
  assert.deepEqual(await page.evaluate(() => window.__csp), [])
  assert.deepEqual(rec.errors, [])
  await page.close()
})
