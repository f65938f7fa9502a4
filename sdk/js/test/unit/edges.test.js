// Nearest edge: ping race, ranking by the warm sample, the TTL cache, discovery.

import { test, beforeEach } from 'node:test'
import assert from 'node:assert/strict'
import { rank, discover, remember, TTL_MS } from '../../src/edges.js'
import { Mem } from './fakedom.js'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const perf = { now: () => performance.now(), getEntriesByName: () => [] }

/** fetch where each edge answers /v1/ping after its delay (cold pings slower), or fails. */
function pinger(delays, calls = []) {
  return async (u) => {
    const base = u.slice(0, u.indexOf('/v1/'))
    calls.push(base)
    const d = delays[base]
    if (d == null) throw new TypeError('Failed to fetch')
    const cold = calls.filter((c) => c == base).length == 1
    await sleep(cold ? d * 3 : d)
    return { ok: true, status: 204, url: u, arrayBuffer: async () => new ArrayBuffer(0) }
  }
}

beforeEach(() => {
  globalThis.window = { localStorage: new Mem() }
})

test('the first warm answer wins; all are ranked by warm round trip, dead ones last', async () => {
  const calls = []
  const f = pinger({ 'https://a': 60, 'https://b': 10, 'https://c': 30 }, calls)
  const r = rank(['https://a', 'https://dead', 'https://b', 'https://c'], f, perf, 1000)
  assert.equal(await r.first, 'https://b')
  assert.deepEqual(await r.all, ['https://b', 'https://c', 'https://a', 'https://dead'])
  assert.equal(calls.filter((c) => c == 'https://b').length, 3, 'three pings each: cold, then two warm')
  // Kept for TTL: the same list is not probed again.
  const again = rank(['https://a', 'https://dead', 'https://b', 'https://c'], pinger({}), perf, 1000 + TTL_MS - 1)
  assert.deepEqual(await again.all, ['https://b', 'https://c', 'https://a', 'https://dead'])
  assert.equal(await again.first, 'https://b')
})

test('the warm round trip comes from Resource Timing, read once the body is (as Chrome adds it then)', async () => {
  // Each edge's own timing (request sent to first byte) differs from the time around fetch: a
  // busy main thread or a slow resolve would rank the slower edge first by the wall clock.
  const timing = { 'https://a': 5, 'https://b': 40 }
  const entries = new Map()
  const f = async (u, i) => {
    assert.equal(i.credentials, 'omit')
    assert.equal(i.headers, undefined, 'no custom header: no preflight')
    const base = u.slice(0, u.indexOf('/v1/'))
    await sleep(base == 'https://a' ? 60 : 1) // a's fetch resolves late (main thread busy)
    // The entry exists under the normalized URL once the body has been read, not before.
    const url = u.replace('https://', 'https://norm.')
    return { ok: true, status: 204, url, arrayBuffer: async () => (entries.set(url, [{ requestStart: 10, responseStart: 10 + timing[base] }]), new ArrayBuffer(0)) }
  }
  const perf = { now: () => performance.now(), getEntriesByName: (n) => entries.get(n) || [] }
  const r = rank(['https://b', 'https://a'], f, perf, 1000)
  assert.deepEqual(await r.all, ['https://a', 'https://b'])
  const kept = JSON.parse(window.localStorage.getItem('siq:edges'))
  assert.deepEqual(kept.m, { 'https://a': 5, 'https://b': 40 }, 'the ranking keeps the measured warm round trips')
})

test('ranked by the best warm sample: one stalled sample does not demote the nearest edge', async () => {
  // Round trips as Resource Timing gives them: a's first warm sample was held up (150 ms, a stall
  // at either end), its second is 5 ms; b is a steady 40 ms. b answers a warm ping first and is
  // used at once; the ranking puts a first, from its best sample.
  const rtts = { 'https://a': [5, 150, 5], 'https://b': [40, 40, 40] }
  const n = {}
  const entries = new Map()
  const f = async (u) => {
    const base = u.slice(0, u.indexOf('/v1/'))
    const rtt = rtts[base][(n[base] = (n[base] || 0) + 1) - 1]
    await sleep(base == 'https://a' ? rtt * 2 : 10)
    return { ok: true, status: 204, url: u, arrayBuffer: async () => (entries.set(u, [{ requestStart: 1, responseStart: 1 + rtt }]), new ArrayBuffer(0)) }
  }
  const perf = { now: () => performance.now(), getEntriesByName: (u) => entries.get(u) || [] }
  const r = rank(['https://b', 'https://a'], f, perf, 1000)
  assert.equal(await r.first, 'https://b')
  assert.deepEqual(await r.all, ['https://a', 'https://b'])
  assert.deepEqual(n, { 'https://a': 3, 'https://b': 3 }, 'cold, then two warm, each')
  assert.deepEqual(JSON.parse(window.localStorage.getItem('siq:edges')).m, { 'https://a': 5, 'https://b': 40 })
})

test('a stale, foreign or corrupt cache is not used', async () => {
  const list = ['https://a', 'https://b']
  remember(list, ['https://b', 'https://a'], 0)
  const stale = rank(list, pinger({ 'https://a': 1, 'https://b': 40 }), perf, TTL_MS + 1)
  assert.equal(await stale.first, 'https://a')
  window.localStorage.setItem('siq:edges', JSON.stringify({ l: 'https://a,https://b', x: 9e15, r: 'nonsense' }))
  const corrupt = rank(list, pinger({ 'https://a': 1, 'https://b': 40 }), perf, 5)
  assert.equal(await corrupt.first, 'https://a')
  await corrupt.all
})

test('one edge: no probing; none answering: the first listed', async () => {
  const calls = []
  assert.equal(await rank(['https://only'], pinger({}, calls), perf).first, 'https://only')
  assert.deepEqual(calls, [])
  const r = rank(['https://x', 'https://y'], pinger({}), perf, 7)
  assert.equal(await r.first, 'https://x')
})

test('storage that throws: ranking still works, nothing cached', async () => {
  Object.defineProperty(globalThis.window, 'localStorage', {
    get() {
      throw new DOMException('denied', 'SecurityError')
    },
  })
  const r = rank(['https://a', 'https://b'], pinger({ 'https://a': 20, 'https://b': 1 }), perf, 3)
  assert.equal(await r.first, 'https://b')
})

test('discovery: /v1/edges lists the edges; without it, the home edge alone', async () => {
  const f = async (u) => ({ ok: true, status: 200, json: async () => ({ edges: [{ region: 'us-east-1', url: 'https://use1.example:7400/' }, { region: 'eu-west-1', url: 'https://euw1.example' }] }) })
  assert.deepEqual(await discover('https://home', f), ['https://use1.example:7400', 'https://euw1.example'])
  const none = async () => ({ ok: false, status: 404, json: async () => JSON.parse('not json') })
  assert.deepEqual(await discover('https://home', none), ['https://home'])
  assert.deepEqual(await discover('https://home', async () => { throw new TypeError('offline') }), ['https://home'])
})
