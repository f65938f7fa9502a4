// 6. Auto-identify from each auth library's real storage shape, seeded before the SDK loads:
// Clerk (window.Clerk, loaded late), Auth0 SPA (localStorage cache), Supabase (localStorage
// session), Firebase Auth (IndexedDB). Only the user id and email leave the page, never a token;
// the edge binds the session to the user (the lake's `user` column). The uid is kept for the
// tab and sent as a hint in the next hellos.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decode } from '@msgpack/msgpack'
import * as h from './harness.js'

const skip = h.missing() || false
const fx = h.oneEdge(skip)

// Token-looking secrets in each shape: none of them may appear in anything the SDK sends.
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlLXNlY3JldA'
const REFRESH = 'v1.refresh-token-secret-0123456789'

const LIBS = {
  // Clerk's browser SDK exposes the signed-in user on window.Clerk once loaded (async).
  clerk: {
    uid: 'user_2aBcDeFgHiJkLmNoP',
    email: 'ada@clerk.example',
    seed: `setTimeout(() => { window.Clerk = { loaded: true, session: { id: 'sess_1', lastActiveToken: { jwt: { claims: {} }, getRawString: () => '${JWT}' } }, user: { id: 'user_2aBcDeFgHiJkLmNoP', firstName: 'Ada', primaryEmailAddressId: 'idn_1', primaryEmailAddress: { id: 'idn_1', emailAddress: 'ada@clerk.example' }, emailAddresses: [{ id: 'idn_1', emailAddress: 'ada@clerk.example' }] } } }, 800)`,
  },
  // @auth0/auth0-spa-js with cacheLocation: 'localstorage' (v2 key layout).
  auth0: {
    uid: 'auth0|6543210fedcba',
    email: 'ben@auth0.example',
    seed: `(() => {
      const user = { sub: 'auth0|6543210fedcba', email: 'ben@auth0.example', email_verified: true, name: 'Ben', nickname: 'ben', picture: 'https://cdn.example/ben.png', updated_at: '2026-11-30T10:00:00.000Z' }
      const claims = { __raw: '${JWT}', ...user, iss: 'https://acme.eu.auth0.com/', aud: 'Xyz123ClientId', iat: 1764500000, exp: 1764536000, nonce: 'n' }
      localStorage.setItem('@@auth0spajs@@::Xyz123ClientId::default::openid profile email offline_access', JSON.stringify({
        body: { access_token: '${JWT}', id_token: '${JWT}', refresh_token: '${REFRESH}', scope: 'openid profile email offline_access', expires_in: 86400, token_type: 'Bearer', audience: 'default', oauthTokenScope: 'openid profile email offline_access', client_id: 'Xyz123ClientId', decodedToken: { encoded: { header: 'eyJ', payload: 'eyJ', signature: 'sig' }, header: { alg: 'RS256', typ: 'JWT' }, claims, user } },
        expiresAt: 1764536000 }))
      localStorage.setItem('@@auth0spajs@@::Xyz123ClientId::@@user@@', JSON.stringify({ id_token: '${JWT}', decodedToken: { encoded: {}, header: {}, claims, user } }))
    })()`,
  },
  // @supabase/supabase-js v2 session in localStorage.
  supabase: {
    uid: '8d0fd2b3-9ca7-4d9e-a95f-9e13dded323e',
    email: 'cy@supabase.example',
    seed: `localStorage.setItem('sb-abcdefghijklmnopqrst-auth-token', JSON.stringify({
      access_token: '${JWT}', token_type: 'bearer', expires_in: 3600, expires_at: 1764503600, refresh_token: '${REFRESH}',
      user: { id: '8d0fd2b3-9ca7-4d9e-a95f-9e13dded323e', aud: 'authenticated', role: 'authenticated', email: 'cy@supabase.example', email_confirmed_at: '2026-01-01T00:00:00Z', phone: '', app_metadata: { provider: 'email', providers: ['email'] }, user_metadata: {}, identities: [], created_at: '2026-01-01T00:00:00Z', updated_at: '2026-11-30T00:00:00Z' } }))`,
  },
  // Firebase Auth (v9+, indexedDBLocalPersistence, the default in browsers).
  firebase: {
    uid: 'Xk9fQ2mZpLsT4vB7nR1cY8wE3uH5',
    email: 'dee@firebase.example',
    seed: null, // seeded into IndexedDB by a first page (below)
  },
}

const FIREBASE_SEED = `<!doctype html><script>
  const rq = indexedDB.open('firebaseLocalStorageDb', 1)
  rq.onupgradeneeded = () => rq.result.createObjectStore('firebaseLocalStorage', { keyPath: 'fbase_key' })
  rq.onsuccess = () => {
    const tx = rq.result.transaction('firebaseLocalStorage', 'readwrite')
    tx.objectStore('firebaseLocalStorage').put({ fbase_key: 'firebase:authUser:AIzaSyD-test-api-key:[DEFAULT]', value: {
      uid: 'Xk9fQ2mZpLsT4vB7nR1cY8wE3uH5', email: 'dee@firebase.example', emailVerified: true, isAnonymous: false,
      providerData: [{ providerId: 'password', uid: 'dee@firebase.example', email: 'dee@firebase.example' }],
      stsTokenManager: { refreshToken: '${REFRESH}', accessToken: '${JWT}', expirationTime: 1764503600000 },
      createdAt: '1764400000000', lastLoginAt: '1764500000000', apiKey: 'AIzaSyD-test-api-key', appName: '[DEFAULT]' } })
    tx.oncomplete = () => { document.title = 'seeded' }
  }
</script>`

for (const [lib, u] of Object.entries(LIBS)) {
  test(`auto-identify from ${lib}: id and email only, bound at the edge`, { skip, timeout: 40000 }, async () => {
    const sdk = h.sdkTag({ edges: [fx.edge.url] })
    const url = fx.srv.page(`/id-${lib}`, h.shopPage({ sdk, next: `/id-${lib}-2` }))
    fx.srv.page(`/id-${lib}-2`, h.shopPage({ sdk }))
    const ctx = await fx.browser.newContext()
    const page = await ctx.newPage()
    const rec = h.record(page, decode)
    if (u.seed) await page.addInitScript(u.seed)
    else {
      await page.goto(fx.srv.page('/firebase-seed', FIREBASE_SEED))
      await h.until(() => page.evaluate(() => document.title == 'seeded'), 'the IndexedDB seed')
    }
    await page.goto(url)
    const id = await h.until(() => rec.frames.find((x) => x.dir == 'sent' && x.f.t == 'id')?.f, 'an id frame', 10000)
    assert.equal(id.uid, u.uid)
    assert.equal(id.email, u.email)
    assert.deepEqual(Object.keys(id).sort(), ['email', 'seq', 't', 'traits', 'uid'])
    assert.deepEqual(id.traits, {})
    // The next page of the visit sends the uid as a hint in its hello and does not identify again.
    await page.mouse.move(300, 300)
    await Promise.all([page.waitForURL(`**/id-${lib}-2`), page.click('#next')])
    const hello2 = await h.until(() => rec.frames.filter((x) => x.dir == 'sent' && x.f.t == 'hello')[1]?.f, 'the second hello')
    assert.equal(hello2.uid, u.uid, 'uid hint in the next hello')
    await page.waitForTimeout(2500) // the second auto-identify round
    // One id frame (one seq): the next page may send it again if its ack had not arrived before
    // the navigation (frames are kept until acknowledged); that is delivery, not a second identify.
    const ids = rec.frames.filter((x) => x.dir == 'sent' && x.f.t == 'id').map((x) => x.f)
    assert.equal(new Set(ids.map((f) => f.seq)).size, 1, `identified once per session: ${JSON.stringify(ids)}`)
    const sent = JSON.stringify(rec.frames.filter((x) => x.dir == 'sent').map((x) => x.f))
    assert.ok(!sent.includes(JWT) && !sent.includes(REFRESH) && !sent.includes('eyJ'), 'no token left the page')
    const sid = await page.evaluate(() => SentientIQ.state().sid)
    await page.close({ runBeforeUnload: true })
    await ctx.close()
    const rows = await h.until(async () => {
      const r = await fx.edge.rows({ session: sid })
      return r.some((x) => x.kind == 'identify') && r.some((x) => x.kind == 'bye') && r
    }, 'the session in the lake')
    const users = new Set(rows.map((r) => r.user))
    assert.ok(users.has(u.uid), `the edge bound the session to ${u.uid} (users: ${[...users]})`)
  })
}
