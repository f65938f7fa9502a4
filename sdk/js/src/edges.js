// The nearest edge: race `GET /v1/ping` (a CORS-simple GET: no preflight) to each edge: once
// cold, then twice warm; start on the first edge whose first warm sample answers, rank by the
// best warm sample, and keep the ranking in localStorage for TTL_MS. On repeated failures the
// session moves down it.

import { load, save } from './store.js'

const KEY = 'siq:edges'
export const TTL_MS = 30 * 60 * 1000
const PROBE_MS = 3000
const WARM = 2

export const trim = (u) => String(u).trim().replace(/\/+$/, '')

/** Edge base URLs from `GET <home>/v1/edges` (`{edges: [{region, url}]}`); [home] without it. */
export async function discover(home, f) {
  try {
    const l = (await (await f(home + '/v1/edges', { credentials: 'omit' })).json()).edges.map((e) => trim(e.url))
    if (l[0]) return l
  } catch {}
  return [home]
}

/** Round trip of one ping in ms: request sent to first byte back, from the Resource Timing entry
 * when the edge allows it (`Timing-Allow-Origin`; immune to a busy main thread), else the time
 * until `fetch` resolved. The entry is added only once the body has been read (not when `fetch`
 * resolves), and under the normalized URL (`r.url`). Rejects when the edge does not answer. */
export async function ping(base, f, perf) {
  const u = base + '/v1/ping?' + Math.random()
  let t = perf.now()
  const r = await f(u, { cache: 'no-store', credentials: 'omit' })
  t = perf.now() - t
  if (!r.ok) throw r.status
  await r.arrayBuffer()
  const e = perf.getEntriesByName(r.url || u).pop()
  return e?.requestStart > 0 ? e.responseStart - e.requestStart : t
}

/**
 * Ranks `list`. Returns `{first, all}`: `first` resolves with the first edge whose warm sample
 * answered (or the first listed when none answers in time), `all` with every edge: those that
 * answered by their best warm round trip, then the rest in list order. A cached ranking of the same list,
 * younger than TTL_MS, is used as it is.
 */
export function rank(list, f, perf, now = Date.now()) {
  const c = load('localStorage', KEY)
  const hit = c?.l == list.join() && c.x > now && c.r?.length == list.length
  if (hit || !list[1]) {
    const r = Promise.resolve(hit ? c.r : list)
    return { first: r.then((x) => x[0]), all: r }
  }
  let won
  const first = new Promise((res) => (won = res))
  const rtt = {}
  // A cold ping (it opens the connection), then WARM warm ones, kept at their best: one sample
  // can be delayed by a moment's stall anywhere on its path (either end, a busy machine); the
  // best of two rarely is.
  const probe = async (u) => {
    await ping(u, f, perf)
    for (let i = WARM; i--; ) {
      const ms = await ping(u, f, perf)
      won(u, (rtt[u] = Math.min(rtt[u] ?? ms, ms)))
    }
  }
  const all = Promise.all(
    list.map((u) => Promise.race([probe(u), new Promise((res) => setTimeout(res, PROBE_MS))]).catch(() => {})),
  ).then(() => {
    const r = list.map((u, i) => [u, rtt[u] ?? 1e9 + i]).sort((a, b) => a[1] - b[1]).map((a) => a[0])
    won(r[0])
    remember(list, r, now, rtt)
    return r
  })
  return { first, all }
}

/** Keeps `ranked` as the ranking of `list` (after a failover: the failed edge last), with the
 * warm round trips in ms that ranked it (`m`, diagnostics). */
export const remember = (list, ranked, now = Date.now(), m) => save('localStorage', KEY, { l: list.join(), r: ranked, x: now + TTL_MS, m })
