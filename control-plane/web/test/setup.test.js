// The dashboard's setup wizard in headless Chromium, against the real sentientiq-control,
// siqctl and sentientiq-edge binaries: a buyer creates a tenant, issues a key, copies the
// script tag, sets who is paged, and sees the first session, which comes from a page of a
// "customer site" carrying exactly the tag the wizard gave, through a real edge following the
// plane. Assertions are on what the servers did (siqctl, the edge's metrics, the plane's log),
// not only on pages. Screenshots: control-plane/web/test-artifacts/setup-*.png.
'use strict'
const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const h = require('../testkit/plane.js')
const e = require('../testkit/edge.js')

const skip = h.missing() || e.missing()
if (skip) console.log(`# setup wizard browser tests skipped: ${skip}`)

let plane, edge, browser, site
// What the customer's site serves at `/`: its page with the wizard's tag pasted in.
let siteTag = ''

const shot = (page, name) => page.screenshot({ path: path.join(h.ARTIFACTS, name), fullPage: true })

async function signIn (token) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } })
  const page = await ctx.newPage()
  await page.goto(`${plane.url}/login`)
  await page.fill('#token', token)
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')])
  return { ctx, page, resp }
}

/** siqctl's answer, or its failure's stderr as {error}. */
function ctlTry (args) {
  const r = require('node:child_process').spawnSync(path.join(h.BIN, 'siqctl'), args, {
    env: h.childEnv({ RUST_BACKTRACE: '0', SIQ_ENDPOINT: `http://127.0.0.1:${plane.port}`, SIQ_ADMIN_TOKEN: h.ADMIN_TOKEN }),
    encoding: 'utf8',
  })
  return r.status === 0 ? { out: r.stdout } : { error: r.stderr || `exit ${r.status}` }
}

const tenantIds = () => plane.json(['tenant', 'list']).map((t) => t.id).sort()

before(async () => {
  if (skip) return
  fs.mkdirSync(h.ARTIFACTS, { recursive: true })
  plane = await h.startPlane()
  edge = await e.startEdge(plane.port, { region: 'us-east-1' })
  const port = await h.freePort()
  site = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Bluebird Outfitters</title>${siteTag}</head>` +
      '<body><h1>Bluebird Outfitters</h1><p>Rain jackets for every weather.</p><button id="buy">Add to basket</button></body></html>')
  })
  await new Promise((resolve) => site.listen(port, '127.0.0.1', resolve))
  site.url = `http://127.0.0.1:${port}`
  browser = await require(h.PLAYWRIGHT).chromium.launch({ executablePath: h.CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] })
})

after(async () => {
  if (browser) await browser.close()
  if (site) site.close()
  if (edge) await edge.stop()
  if (plane) await plane.stop()
})

test("the wizard is the admin's: a tenant's session gets 404, no session goes to the login", { skip, timeout: 60000 }, async () => {
  plane.ctl(['tenant', 'create', 'existing'])
  const token = plane.json(['dashboard', 'token', 'existing']).token
  const { ctx, page } = await signIn(token)
  assert.match(page.url(), /\/t\/existing$/)
  for (const p of ['/setup', '/setup/existing/key', '/setup/existing/alerts', '/setup/existing/first', '/setup/existing/first.json']) {
    const r = await page.goto(`${plane.url}${p}`)
    assert.equal(r.status(), 404, p)
  }
  // Nor can it POST to the wizard, its own CSRF token included; nothing is created or issued.
  await page.goto(`${plane.url}/t/existing`)
  const statuses = await page.evaluate(async () => {
    const csrf = document.querySelector('input[name=csrf]').value
    const post = (p, body) => fetch(p, { method: 'POST', body: new URLSearchParams({ csrf, ...body }), redirect: 'manual' }).then((r) => r.status)
    return [await post('/setup', { id: 'sneaky' }), await post('/setup/existing/key', { edges: '' })]
  })
  assert.deepEqual(statuses, [404, 404])
  assert.deepEqual(tenantIds(), ['existing'])
  assert.equal(plane.json(['tenant', 'get', 'existing']).key_hashes.length, 0)
  await ctx.close()
  const anon = await h.request(plane.httpPort, 'GET', '/setup')
  assert.equal(anon.status, 303)
  assert.equal(anon.headers.location, '/login')
})

test('bad input shows a clear error, keeps what was typed, and creates nothing', { skip, timeout: 60000 }, async () => {
  const before = tenantIds()
  const { ctx, page } = await signIn(h.ADMIN_TOKEN)
  await page.goto(`${plane.url}/setup`)
  await page.fill('#id', 'Bluebird Outfitters!')
  await page.fill('#name', 'Bluebird Outfitters')
  await page.fill('#origins', 'https://shop.bluebird.example')
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('#tenant-form button[type=submit]')])
  assert.equal(resp.status(), 400)
  const msg = await page.textContent('.error')
  assert.match(msg, /not accepted/)
  assert.match(msg, /Bluebird Outfitters!/)
  assert.equal(await page.inputValue('#id'), 'Bluebird Outfitters!')
  assert.equal(await page.inputValue('#name'), 'Bluebird Outfitters')
  assert.equal(await page.inputValue('#origins'), 'https://shop.bluebird.example')
  await shot(page, 'setup-error.png')
  // The service refused it, and nothing was created.
  assert.deepEqual(tenantIds(), before)
  assert.match(ctlTry(['tenant', 'get', 'Bluebird Outfitters!']).error || '', /not found|invalid/)
  // An id that exists: the service's own words, and the existing tenant untouched.
  await page.fill('#id', 'existing')
  const [dup] = await Promise.all([page.waitForNavigation(), page.click('#tenant-form button[type=submit]')])
  assert.equal(dup.status(), 409)
  assert.match(await page.textContent('.error'), /existing already exists: choose another/)
  assert.equal(plane.json(['tenant', 'get', 'existing']).name, '')
  // A page's address pasted where its site's origin belongs (it would never match a browser's
  // Origin, so the SDK would be refused there with nothing said): the service's reason and the
  // origin to write instead, what was typed kept, nothing created.
  await page.fill('#id', 'bluebird-pasted')
  await page.fill('#origins', 'http://localhost:3000\nhttps://shop.bluebird.example/jackets?colour=blue')
  const [pasted] = await Promise.all([page.waitForNavigation(), page.click('#tenant-form button[type=submit]')])
  assert.equal(pasted.status(), 400)
  const why = await page.textContent('.error')
  assert.match(why, /That was not accepted: .*allowed origin `https:\/\/shop\.bluebird\.example\/jackets\?colour=blue` has a path, query or fragment/)
  assert.match(why, /write `https:\/\/shop\.bluebird\.example`/)
  assert.doesNotMatch(why, /localhost:3000/, 'the good origin is not blamed')
  assert.equal(await page.inputValue('#id'), 'bluebird-pasted')
  assert.equal(await page.inputValue('#origins'), 'http://localhost:3000\nhttps://shop.bluebird.example/jackets?colour=blue')
  await shot(page, 'setup-origin-error.png')
  assert.deepEqual(tenantIds(), before)
  // Without the session's CSRF field, or from another origin: refused before the service.
  const cookie = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join('; ')
  const form = { 'content-type': 'application/x-www-form-urlencoded', cookie }
  const noCsrf = await h.request(plane.httpPort, 'POST', '/setup', { headers: { ...form, origin: plane.url }, body: 'id=nocsrf' })
  assert.equal(noCsrf.status, 403)
  const csrf = await page.getAttribute('input[name=csrf]', 'value')
  const foreign = await h.request(plane.httpPort, 'POST', '/setup', { headers: { ...form, origin: 'http://evil.example' }, body: `csrf=${csrf}&id=foreign` })
  assert.equal(foreign.status, 403)
  assert.deepEqual(tenantIds(), before)
  await ctx.close()
})

test('the setup flow creates a tenant, issues a key that works on a real edge, and shows the first session', { skip, timeout: 120000 }, async () => {
  const { ctx, page } = await signIn(h.ADMIN_TOKEN)
  await page.goto(`${plane.url}/t`)
  await Promise.all([page.waitForNavigation(), page.click('text=Set up a new tenant')])
  assert.match(page.url(), /\/setup$/)

  // 1. The tenant: CreateTenant, as `siqctl tenant create` calls it.
  await page.fill('#id', 'bluebird')
  await page.fill('#name', 'Bluebird Outfitters')
  await page.fill('#origins', `${site.url}\nhttps://shop.bluebird.example`)
  await shot(page, 'setup-1-tenant.png')
  await Promise.all([page.waitForNavigation(), page.click('#tenant-form button[type=submit]')])
  assert.match(page.url(), /\/setup\/bluebird\/key$/)
  const created = plane.json(['tenant', 'get', 'bluebird'])
  assert.equal(created.id, 'bluebird')
  assert.equal(created.name, 'Bluebird Outfitters')
  assert.deepEqual(created.allowed_origins, [site.url, 'https://shop.bluebird.example'])
  assert.equal(created.key_hashes.length, 0)
  assert.equal(await page.textContent('#key-count'), '0')

  // 2. The key: a typo in the edges costs no key; then IssueKey.
  await shot(page, 'setup-2-key.png')
  await page.fill('#edges', 'use1.edge.example')
  const [typo] = await Promise.all([page.waitForNavigation(), page.click('#key-form button[type=submit]')])
  assert.equal(typo.status(), 400)
  assert.match(await page.textContent('.error'), /not an edge address/)
  assert.equal(await page.inputValue('#edges'), 'use1.edge.example')
  assert.equal(plane.json(['tenant', 'get', 'bluebird']).key_hashes.length, 0)
  await page.fill('#edges', edge.url)
  await Promise.all([page.waitForNavigation(), page.click('#key-form button[type=submit]')])
  const key = await page.textContent('#key')
  assert.match(key, /^siq_pk_[A-Za-z0-9]{32,}$/)
  const hashes = plane.json(['tenant', 'get', 'bluebird']).key_hashes
  assert.deepEqual(hashes, [crypto.createHash('sha256').update(key).digest('hex')])
  // 3. The tag: the loader from the edge, the key, the edges.
  const tag = await page.inputValue('#tag')
  assert.equal(tag, `<script src="${edge.url}/v1/sdk.js" data-key="${key}" data-edges="${edge.url}" async></script>`)
  // Editing the edges rewrites it in the page; restoring them gives it back.
  await page.fill('#tag-edges', 'https://use1.edge.example/, https://euw1.edge.example')
  assert.equal(await page.inputValue('#tag'), `<script src="https://use1.edge.example/v1/sdk.js" data-key="${key}" data-edges="https://use1.edge.example,https://euw1.edge.example" async></script>`)
  await page.fill('#tag-edges', edge.url)
  assert.equal(await page.inputValue('#tag'), tag)
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: plane.url })
  await page.click('#copy-tag')
  await page.waitForSelector('#copied:has-text("Copied")')
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), tag)
  await shot(page, 'setup-3-tag.png')
  // Shown once: never in the plane's log, and the key page does not show it again.
  assert.ok(!plane.log().includes(key), 'the key in the plane log')
  await page.goto(`${plane.url}/setup/bluebird/key`)
  assert.ok(!(await page.content()).includes(key))
  assert.equal(await page.textContent('#key-count'), '1')

  // 4. Contacts and a chain: SetAlerts, as `siqctl alerts set` calls it. A bad config first.
  await page.goto(`${plane.url}/setup/bluebird/alerts`)
  await page.click('details summary')
  const badToml = '[[contacts]]\nid = "csm"\naddresses = [{ kind = "carrier_pigeon" }]\n'
  await page.fill('#toml', badToml)
  const [bad] = await Promise.all([page.waitForNavigation(), page.click('#alerts-form button[type=submit]')])
  assert.equal(bad.status(), 400)
  assert.match(await page.textContent('.error'), /not accepted/)
  assert.equal(await page.inputValue('#toml'), badToml)
  assert.ok(ctlTry(['alerts', 'get', 'bluebird']).error, 'no alerting config stored')
  await shot(page, 'setup-4-alerts-error.png')
  // The simple form (on a fresh page): one Slack contact, a chain of one step.
  await page.goto(`${plane.url}/setup/bluebird/alerts`)
  await page.fill('#contact_id', 'csm-oncall')
  await page.fill('#cname', 'Customer success on call')
  await page.selectOption('#kind', 'slack')
  assert.equal(await page.isDisabled('#secret'), true)
  await page.fill('#url', 'https://hooks.slack.com/services/T0BLUE/B0BIRD/sekritsekrit')
  await page.fill('#chain', 'oncall')
  await shot(page, 'setup-4-alerts.png')
  await Promise.all([page.waitForNavigation(), page.click('#alerts-form button[type=submit]')])
  await page.waitForSelector('#alerts-saved')
  const shown = await page.textContent('#alerts-redacted')
  assert.match(shown, /csm-oncall/)
  assert.match(shown, /\[redacted\]/)
  assert.ok(!shown.includes('sekritsekrit'))
  const stored = plane.ctl(['alerts', 'get', 'bluebird'])
  assert.match(stored, /id = "csm-oncall"/)
  assert.match(stored, /\[chains\.oncall\]/)
  assert.match(stored, /slack_webhook/)
  await shot(page, 'setup-4-alerts-saved.png')

  // 5. The first session: nothing yet.
  await Promise.all([page.waitForNavigation(), page.click('#next')])
  assert.match(page.url(), /\/setup\/bluebird\/first$/)
  await page.waitForSelector('#first-status.waiting')
  const none = await page.evaluate(() => fetch('/setup/bluebird/first.json').then((r) => r.json()))
  assert.deepEqual(none, { arrived: false })
  await shot(page, 'setup-5-waiting.png')

  // A visitor opens the customer's page with exactly the tag the wizard gave: the SDK loads
  // from the real edge, which knows the key only from the plane.
  siteTag = tag
  const visitor = await browser.newContext({ viewport: { width: 1000, height: 700 } })
  const vp = await visitor.newPage()
  await vp.goto(site.url)
  await vp.waitForFunction(() => window.SentientIQ && typeof window.SentientIQ.init === 'function', null, { timeout: 20000 })
  for (let i = 0; i < 20; i++) await vp.mouse.move(100 + i * 20, 200 + (i % 5) * 10)
  await vp.click('#buy')
  // The edge accepted the session (its own metrics), reported it, and the wizard says so.
  await h.until(async () => /siq_live_sessions(\{[^}]*\})? [1-9]/.test(await edge.metrics()), 'the edge to hold the session', 30000)
  await page.waitForSelector('#first-status.arrived', { timeout: 30000 })
  const said = await page.textContent('#first-status')
  assert.match(said, /^First session arrived from us-east-1 at \d{4}-\d\d-\d\d \d\d:\d\d UTC$/)
  const j = await page.evaluate(() => fetch('/setup/bluebird/first.json').then((r) => r.json()))
  assert.equal(j.arrived, true)
  assert.equal(j.region, 'us-east-1')
  assert.ok(j.sessions >= 1)
  assert.ok(Math.abs(j.minute - Math.floor(Date.now() / 60000)) <= 2, `minute ${j.minute}`)
  // The plane stored the edge's windows for this tenant (its usage counts the session).
  const usage = plane.json(['usage', 'bluebird'])
  assert.ok(Number(usage.total.sessions) >= 1, JSON.stringify(usage.total))
  await shot(page, 'setup-5-first-session.png')
  // The live feed: a rage the visitor causes on the customer's page reaches the tenant's Live
  // page (edge -> plane report -> server-sent event), with its section and region.
  const live = await ctx.newPage()
  await live.goto(`${plane.url}/t/bluebird`)
  await live.waitForSelector('#feed-status.live')
  const detections = (text) => text.split('\n').filter((l) => l.startsWith('siq_detections_total')).reduce((a, l) => a + Number(l.split(' ').pop()), 0)
  const detections0 = detections(await edge.metrics())
  const box = await vp.locator('#buy').boundingBox()
  for (let c = 0; c < 5; c++) {
    await vp.mouse.click(box.x + 10 + c * 3, box.y + box.height / 2)
    await vp.waitForTimeout(80)
  }
  await h.until(async () => detections(await edge.metrics()) > detections0, 'the edge to detect the rage', 15000, 20)
  const detected = Date.now()
  await live.waitForSelector('#detections tr', { timeout: 15000 })
  const shownAfterMs = Date.now() - detected
  const rows = await live.$$eval('#detections tr', (rs) => rs.map((r) => [...r.children].map((td) => td.textContent)))
  assert.ok(rows.some((r) => r[3] === 'rage' && r[6] === 'us-east-1' && r[7] === 'nothing'), JSON.stringify(rows))
  assert.equal(await live.isHidden('#detections-empty'), true)
  console.log(`# live feed: the rage shown ${shownAfterMs} ms after the edge counted it`)
  await shot(live, 'live-detections.png')
  await live.close()
  // The key is in no log: the plane's, the edge's.
  assert.ok(!plane.log().includes(key) && !edge.log().includes(key), 'a key in a log')
  await visitor.close()
  // The regions page shows the edge that served the session: reporting, current, healthy.
  await page.goto(`${plane.url}/regions`)
  const row = page.locator('tr[data-edge="edge-us-east-1"]')
  await h.until(async () => {
    await page.reload()
    return /current/.test(await row.textContent()) && /s ago/.test(await row.textContent())
  }, 'the edge on the regions page', 15000)
  assert.match(await page.locator('section.card h2').first().textContent(), /us-east-1\s*healthy/)
  await shot(page, 'regions.png')
  // A tenant the edge cannot use (a bucket of its own; this edge ships to disk): the edge keeps
  // its previous version and the page names the edge, the tenant and the edge's reason.
  plane.ctl(['tenant', 'lake', 'bluebird', '--bucket', 'bluebird-own-lake'])
  await h.until(async () => {
    await page.reload()
    return /refuses tenant bluebird/.test(await page.textContent('main'))
  }, 'the refusal on the regions page', 15000)
  assert.match(await page.locator('section.card h2').first().textContent(), /us-east-1\s*1 problem/)
  assert.match(await row.textContent(), /current, 1 tenant\(s\) refused/)
  assert.match(await page.textContent('ul.problems'), /edge-us-east-1: refuses tenant bluebird: its own lake bucket needs this edge's lake\.sink = "s3" \(its previous version stays\)/)
  await shot(page, 'regions-refused.png')
  plane.ctl(['tenant', 'lake', 'bluebird'])
  await h.until(async () => {
    await page.reload()
    return /us-east-1\s*healthy/.test(await page.locator('section.card h2').first().textContent())
  }, 'healthy again', 15000)
  await ctx.close()
})

test('the regions page is the admin\'s: a tenant\'s session gets 404', { skip, timeout: 60000 }, async () => {
  const token = plane.json(['dashboard', 'token', 'bluebird']).token
  const { ctx, page } = await signIn(token)
  const resp = await page.goto(`${plane.url}/regions`)
  assert.equal(resp.status(), 404)
  await ctx.close()
})
