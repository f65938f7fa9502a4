// 5. Do-Not-Track and Global Privacy Control: the hello says `dnt`, no `id` frame ever leaves the
// page (neither `identify()` nor auto-identify), and the edge keeps nothing identifying: under a
// tenant's `dnt = "drop"` nothing at all, under `anonymous` rows without a user. Input values
// never leave the page either.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const fx = h.oneEdge(skip)

const SIGNALS = {
  dnt: `Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' })`,
  gpc: `Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true })`,
}
// A signed-in Clerk user the SDK would otherwise pick up.
const CLERK = `window.Clerk = { user: { id: 'user_dnt', primaryEmailAddress: { emailAddress: 'dnt@clerk.example' } } }`
const SECRET = '4111 1111 1111 1111'

async function session(signal, key) {
  const url = fx.srv.page(`/privacy-${signal}-${key.length}`, h.shopPage({ sdk: h.sdkTag({ key, edges: [fx.edge.url] }) }))
  const ctx = await fx.browser.newContext()
  const page = await ctx.newPage()
  if (signal) await page.addInitScript(SIGNALS[signal])
  await page.addInitScript(CLERK)
  const rec = h.record(page, decode)
  await page.goto(url)
  await h.until(() => page.evaluate(() => SentientIQ.state()?.region), 'a welcome')
  await page.evaluate(() => SentientIQ.identify('user_explicit', { email: 'x@y.example', plan: 'pro' }))
  // Typing a card number into a field: only key categories and the field's name may leave.
  await page.click('input[name=card]')
  await page.keyboard.type(SECRET)
  await page.click('#pay-btn')
  for (let i = 0; i < 20; i++) await page.mouse.move(100 + i * 10, 100, { steps: 2 })
  await page.waitForTimeout(300)
  await h.until(() => page.evaluate(() => SentientIQ.state().unacked == 0), 'acks')
  const st = await page.evaluate(() => SentientIQ.state())
  await page.close({ runBeforeUnload: true })
  await ctx.close()
  const sent = rec.frames.filter((x) => x.dir == 'sent').map((x) => x.f)
  return { st, sent, rec }
}

// Every string in the frames sent, and every number as digits: the card's digits in none of them.
// (Not the frames' JSON as a whole: a timestamp or a seq can hold "4111" by chance.)
const leaves = (x, numbers) => typeof x == 'string' ? [x]
  : typeof x == 'number' || typeof x == 'bigint' ? (numbers ? [String(x)] : [])
  : x && typeof x == 'object' ? Object.values(x).flatMap((v) => leaves(v, numbers)) : []
const noValue = (sent) => {
  assert.ok(!leaves(sent, true).some((v) => v.includes('4111 1111') || v.includes('41111111')), 'the card number never left the page')
  // The typed prefix alone, as text (a number such as 41.11 is not a card's digits).
  assert.ok(!leaves(sent, false).some((v) => /^[\d\s-]*4111[\d\s-]*$/.test(v)), 'nor its first digits alone')
}

test('Do-Not-Track under dnt = "drop": hello has dnt, no id frames, the edge stores nothing', { skip, timeout: 40000 }, async () => {
  const before = h.pick(await fx.edge.metrics(), 'siq_dropped_frames_total', 'reason="dnt"')
  const { st, sent } = await session('dnt', h.KEY_DROP)
  assert.equal(st.dnt, true)
  assert.equal(sent[0].t, 'hello')
  assert.equal(sent[0].dnt, true)
  assert.equal(sent[0].uid, undefined)
  assert.equal(sent[0].aid, undefined, 'no device id under DNT')
  assert.equal(sent.filter((f) => f.t == 'id').length, 0, 'no id frame')
  noValue(sent)
  assert.ok(st.ack > 0, 'the edge acknowledged the frames')
  await h.sleep(2500) // two lake shipping rounds
  assert.equal((await fx.edge.rows({ session: st.sid })).length, 0, 'nothing stored')
  const after = h.pick(await fx.edge.metrics(), 'siq_dropped_frames_total', 'reason="dnt"')
  assert.ok(after - before >= st.ack, `the edge dropped them as Do-Not-Track (${before} -> ${after})`)
})

test('Global Privacy Control under dnt = "anonymous": stored without any identity', { skip, timeout: 40000 }, async () => {
  const { st, sent } = await session('gpc', h.KEY)
  assert.equal(sent[0].dnt, true)
  assert.equal(sent.filter((f) => f.t == 'id').length, 0)
  noValue(sent)
  const rows = await h.until(async () => {
    const r = await fx.edge.rows({ session: st.sid })
    return h.conservation(r).max >= st.ack && r
  }, 'rows in the lake')
  assert.ok(rows.every((r) => r.user == null && r.account == null), 'no user, no account')
  assert.equal(rows.filter((r) => r.kind == 'identify').length, 0)
  assert.ok(!rows.some((r) => String(r.label ?? '').includes('4111')))
  const forms = rows.filter((r) => r.kind == 'form').map((r) => r.label)
  assert.ok(forms.includes('card'), `form samples name the field (${forms})`)
})

test('without DNT the same page identifies (control)', { skip, timeout: 40000 }, async () => {
  const { st, sent } = await session(null, h.KEY)
  assert.equal(sent[0].dnt, undefined)
  const ids = sent.filter((f) => f.t == 'id')
  assert.ok(ids.some((f) => f.uid == 'user_explicit' && f.email == 'x@y.example' && f.traits.plan == 'pro'))
  noValue(sent)
  const rows = await h.until(async () => {
    const r = await fx.edge.rows({ session: st.sid })
    return r.some((x) => x.kind == 'identify') && r
  }, 'identify rows')
  assert.ok(rows.some((r) => r.user == 'user_explicit' || r.user == 'user_dnt'))
})
