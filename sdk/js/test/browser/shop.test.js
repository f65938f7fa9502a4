// 10. The edge's demo shop (issue 18, `make demo`): `GET /demo/shop` on an edge with
// `[edge] demo_shop = true` is a page that loads that edge's own SDK with the write key and user
// from its URL fragment, under its strict CSP. Rage on its Checkout button (which does nothing)
// shows the SDK's intervention widget; the edge received the frames (its /metrics, and dead
// clicks on Checkout in the checkout section in its lake). An edge without the flag answers
// 404. Screenshots: test-artifacts/demo-shop-widget.png, demo-shop-no-key.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const w = { shop: undefined, plain: undefined, browser: undefined }
before(async () => {
  if (skip) return
  w.shop = await h.startEdge({ demoShop: true })
  w.plain = await h.startEdge({ region: 'us-west-2' })
  w.browser = await h.launch()
})
after(async () => {
  await w.browser?.close()
  for (const e of [w.shop, w.plain]) {
    await e?.stop()
    if (e) h.cleanup(e)
  }
})

/** Records CSP violations from the first script on (before the page's own). */
const watchCsp = (page) =>
  page.addInitScript(() => {
    window.__csp = []
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`))
  })

test('/demo/shop is served only with demo_shop = true, under a strict CSP', { skip, timeout: 30000 }, async () => {
  for (const p of ['/demo/shop', '/demo/shop.js', '/demo/shop.css']) {
    const off = await fetch(w.plain.url + p)
    assert.equal(off.status, 404, `${p} without demo_shop`)
    const on = await fetch(w.shop.url + p)
    assert.equal(on.status, 200, `${p} with demo_shop`)
    const csp = on.headers.get('content-security-policy')
    assert.match(csp, /script-src 'self';/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
  }
  const html = await (await fetch(w.shop.url + '/demo/shop')).text()
  assert.match(html, /<script src="\/demo\/shop\.js"/)
  assert.doesNotMatch(html, /siq_pk_/, 'the key comes from the URL fragment, never the server')
  assert.equal((await fetch(w.shop.url + '/demo/other')).status, 404)
})

test('the demo shop without a key says how to open it', { skip, timeout: 30000 }, async () => {
  const page = await w.browser.newPage({ viewport: { width: 1280, height: 900 } })
  await page.goto(w.shop.url + '/demo/shop')
  const text = await page.evaluate(() => document.getElementById('siq-console').shadowRoot.textContent)
  assert.match(text, /No write key/)
  assert.equal(await page.evaluate(() => !!window.SentientIQ), false, 'no SDK without a key')
  await page.screenshot({ path: h.artifact('demo-shop-no-key.png') })
  await page.close()
})

test('rage on the demo shop: the widget appears and the edge has the frames', { skip, timeout: 60000 }, async () => {
  const uid = 'u_shop_1'
  const email = 'dana@acme.example'
  const page = await w.browser.newPage({ viewport: { width: 1280, height: 900 } })
  await watchCsp(page)
  const rec = h.record(page, decode)
  const m0 = await w.shop.metrics()
  await page.goto(`${w.shop.url}/demo/shop#key=${h.KEY}&uid=${uid}&email=${encodeURIComponent(email)}`)
  await h.until(() => page.evaluate(() => window.SentientIQ?.state?.()?.region), 'a welcome')
  const st = await page.evaluate(() => SentientIQ.state())
  assert.equal(st.uid, uid, 'identified from the fragment')
  assert.equal(st.edge, w.shop.url, 'connected to the edge that served the page')
  // The SDK is the edge's own: its loader, and the versioned file it injected, from this origin.
  const scripts = await page.evaluate(() => [...document.scripts].map((s) => new URL(s.src).pathname))
  const { path } = await h.servedSdk(w.shop.url)
  assert.ok(scripts.includes('/v1/sdk.js') && scripts.includes(path), JSON.stringify(scripts))
  await h.until(
    () => page.evaluate(() => document.getElementById('siq-console').shadowRoot.textContent.includes('Connected to us-east-1')),
    'the console to say connected',
  )

  // Rage on Checkout, which does nothing: five quick clicks a few pixels apart.
  const btn = page.locator('#checkout')
  await btn.scrollIntoViewIfNeeded()
  const box = await btn.boundingBox()
  for (let c = 0; c < 5; c++) {
    await page.mouse.move(box.x + 40 + c * 6, box.y + box.height / 2, { steps: 2 })
    await page.mouse.down()
    await page.mouse.up()
    await page.waitForTimeout(90)
  }
  await h.until(() => page.evaluate(() => !!document.querySelector('siq-widget')), 'the intervention widget', 5000, 20)
  await h.until(
    () => page.evaluate(() => document.getElementById('siq-console').shadowRoot.textContent.includes('Intervention: chat')),
    'the console to show the intervention',
  )
  // Wait for the clicks after the widget to be sent as dead before the screenshot: Playwright's
  // screenshot injects a caret-hiding <style>, a DOM mutation that would answer them.
  const sentDead = () => rec.frames.some((x) => x.dir == 'sent' && x.f.t == 'b' && x.f.k.includes(10))
  await h.until(() => sentDead(), 'dead clicks sent', 5000, 20)
  await page.screenshot({ path: h.artifact('demo-shop-widget.png') })
  const widget = await page.evaluate(() => {
    const host = document.querySelector('siq-widget')
    const r = host.getBoundingClientRect()
    return { text: host.shadowRoot.textContent, pos: getComputedStyle(host).position, w: r.width, h: r.height }
  })
  assert.match(widget.text, /A person can help/)
  assert.equal(widget.pos, 'fixed')
  assert.ok(widget.w > 250 && widget.h > 80, JSON.stringify(widget))
  const feed = await page.evaluate(() => [...document.getElementById('siq-console').shadowRoot.querySelectorAll('li')].map((l) => l.textContent))
  assert.ok(feed.some((l) => /^Detected rage/.test(l)), JSON.stringify(feed))
  const iv = rec.frames.filter((x) => x.dir == 'received' && x.f.t == 'iv')
  assert.ok(iv.length >= 1, 'an iv frame')
  assert.equal(iv[0].f.e, 'rage')
  // The key and the user were taken off the address before the SDK loaded (kept for reloads).
  assert.equal(await page.evaluate(() => location.href), `${w.shop.url}/demo/shop`)
  assert.deepEqual(await page.evaluate(() => window.__csp), [], 'no CSP violation')
  assert.deepEqual(rec.errors, [])
  assert.equal(await page.evaluate(() => SentientIQ.errors), 0)

  // What the edge received: frames, the detection and the intervention on its /metrics ...
  const m1 = await w.shop.metrics()
  assert.ok(m1.siq_frames_total > (m0.siq_frames_total || 0), `frames ${m0.siq_frames_total} -> ${m1.siq_frames_total}`)
  assert.ok(m1.siq_detections_total > (m0.siq_detections_total || 0), 'a detection')
  assert.ok(m1.siq_interventions_total > (m0.siq_interventions_total || 0), 'an intervention')
  // ... and in its lake: the clicks on Checkout were dead, in the checkout section, and the
  // session identified as the fragment's user.
  await page.waitForTimeout(1100) // the last click's dead-click window
  await page.close({ runBeforeUnload: true })
  let rows = []
  await h.until(async () => {
    rows = await w.shop.rows({ session: st.sid })
    return rows.some((x) => x.kind == 'bye')
  }, 'the session in the lake').catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(rows.map((r) => [Number(r.seq), r.kind, r.section, r.label]))}`)
  })
  const clicks = rows.filter((r) => r.kind == 'click')
  const dead = rows.filter((r) => r.kind == 'dead')
  const what = JSON.stringify(rows.filter((r) => r.kind != 'move').map((r) => [Number(r.seq), r.kind, r.section, r.label]))
  // Every click was on Checkout, in the checkout section; those after the widget appeared got no
  // answer from the page (dead: the widget's insertion answered the ones before it).
  assert.equal(clicks.length, 5, what)
  assert.ok(dead.length >= 1, what)
  for (const r of [...clicks, ...dead]) assert.ok(r.section == 'checkout' && String(r.label).includes('"Checkout"'), what)
  // The page view is the bare URL: no key, no email in the lake.
  const pages = rows.filter((r) => r.kind == 'page').map((r) => r.label)
  assert.deepEqual(pages, [`${w.shop.url}/demo/shop`], what)
  assert.ok(rows.some((r) => r.kind == 'identify'), 'the identify row')
  console.log(`# demo shop: ${rows.length} rows stored for the session, ${dead.length} dead clicks on Checkout; widget: ${widget.text.slice(0, 60)}`)
})

test('"New visit" starts a new session as the same user (the holdout or a cooldown need not end the demo)', { skip, timeout: 40000 }, async () => {
  const page = await w.browser.newPage()
  await page.goto(`${w.shop.url}/demo/shop#key=${h.KEY}&uid=u_shop_2`)
  await h.until(() => page.evaluate(() => window.SentientIQ?.state?.()?.region), 'a welcome')
  const a = await page.evaluate(() => SentientIQ.state())
  await page.locator('#siq-new-visit').click()
  await page.waitForLoadState('load')
  await h.until(() => page.evaluate(() => window.SentientIQ?.state?.()?.region), 'a welcome after the reload')
  const b = await page.evaluate(() => SentientIQ.state())
  assert.notEqual(b.sid, a.sid, 'a new session')
  assert.equal(b.uid, 'u_shop_2', 'the same user, from the kept fragment')
  assert.equal(await page.evaluate(() => location.hash), '')
  // The console folds away (it must not stand in the way of the shop).
  await page.locator('#siq-console button[aria-label=Minimise]').click()
  assert.equal(await page.locator('#siq-new-visit').isVisible(), false)
  await page.close()
})
