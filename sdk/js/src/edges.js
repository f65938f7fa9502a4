// The nearest edge: race `GET /v1/ping` (a CORS-simple GET: no preflight) twice to each edge,
// rank by the warm (second) sample, start on the first edge whose warm sample answers, and keep
// the ranking in localStorage for TTL_MS. On repeated failures the session moves down it.

import { load, save } from './store.js'

const KEY = 'siq:edges'
export const TTL_MS = 30 * 60 * 1000
const PROBE_MS = 3000

export const trim = (u) => String(u).trim().replace(/\/+$/, '')

/** Edge base URLs from `GET <home>/v1/edges` (`{edges: [{region, url}]}`); [home] without it. */
export async function discover(home, f) {
  try {
    const l = (await (await f(home + '/v1/edges', { credentials: 'omit' })).json()).edges.map((e) => trim(e.url))
    if (l[0]) return l
  } catch {}
  return [home]
}

/** Round trip of one ping in ms: from the Resource Timing entry when the edge allows it
 * (`Timing-Allow-Origin`), else the time around `fetch`. Rejects when the edge does not answer. */
export async function ping(base, f, perf) {
  const u = base + '/v1/ping?' + Math.random()
  const t = perf.now()
  const r = await f(u, { cache: 'no-store', credentials: 'omit' })
  if (!r.ok) throw r.status
  const e = perf.getEntriesByName(u).pop()
  return e?.requestStart > 0 ? e.responseStart - e.requestStart : perf.now() - t
}

/**
 * Ranks `list`. Returns `{first, all}`: `first` resolves with the first edge whose warm sample
 * answered (or the first listed when none answers in time), `all` with every edge: those that
 * answered by warm round trip, then the rest in list order. A cached ranking of the same list,
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
  const all = Promise.all(
    list.map((u) =>
      Promise.race([
        ping(u, f, perf)
          .then(() => ping(u, f, perf))
          .then((ms) => won(u, (rtt[u] = ms))),
        new Promise((res) => setTimeout(res, PROBE_MS)),
      ]).catch(() => {}),
    ),
  ).then(() => {
    const r = list.map((u, i) => [u, rtt[u] ?? 1e9 + i]).sort((a, b) => a[1] - b[1]).map((a) => a[0])
    won(r[0])
    remember(list, r, now)
    return r
  })
  return { first, all }
}

/** Keeps `ranked` as the ranking of `list` (after a failover: the failed edge last). */
export const remember = (list, ranked, now = Date.now()) => save('localStorage', KEY, { l: list.join(), r: ranked, x: now + TTL_MS })
