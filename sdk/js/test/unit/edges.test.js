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
    return { ok: true, status: 204 }
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
  assert.equal(calls.filter((c) => c == 'https://b').length, 2, 'two pings each: cold, then warm')
  // Kept for TTL: the same list is not probed again.
  const again = rank(['https://a', 'https://dead', 'https://b', 'https://c'], pinger({}), perf, 1000 + TTL_MS - 1)
  assert.deepEqual(await again.all, ['https://b', 'https://c', 'https://a', 'https://dead'])
  assert.equal(await again.first, 'https://b')
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
