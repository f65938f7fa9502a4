// The browser suite's test kit: real edges (the sentientiq-edge binary) with temporary configs,
// TCP delay proxies, a static server for test pages and the SDK, headless Chromium, and readers
// for what the edge stored (its lake's Parquet files and its /metrics).

import { spawn, execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, existsSync, rmSync, cpSync } from 'node:fs'
import { createServer } from 'node:http'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { before, after } from 'node:test'
import { chromium } from 'playwright-core'
import { parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'

export const EDGE_BIN = process.env.SIQ_EDGE_BIN || '/var/tmp/sentientiq-ci-target/debug/sentientiq-edge'
export const CHROMIUM = process.env.SIQ_CHROMIUM || '/usr/bin/chromium'
/** The lake compaction binary (built beside the edge by the same cargo build). */
export const COMPACT_BIN = process.env.SIQ_LAKE_COMPACT_BIN || join(dirname(EDGE_BIN), 'sentientiq-lake-compact')
export const KEY = 'siq_pk_browsertest_000000000000000'
/** A second tenant whose Do-Not-Track policy is `drop`. */
export const KEY_DROP = 'siq_pk_browsertest_dnt_drop_000000'
export const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname
const DIST = new URL('../../dist/', import.meta.url).pathname
const PAGES = new URL('./pages/', import.meta.url).pathname

/** Why the suite cannot run here, or null (`compact`: the test needs the compaction binary too). */
export function missing({ compact = false } = {}) {
  if (!existsSync(EDGE_BIN)) return `no edge binary at ${EDGE_BIN} (set SIQ_EDGE_BIN)`
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  if (compact && !existsSync(COMPACT_BIN)) return `no lake compaction binary at ${COMPACT_BIN} (set SIQ_LAKE_COMPACT_BIN)`
  return null
}

const sha = (s) => createHash('sha256').update(s).digest('hex')

export async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const p = s.address().port
  await new Promise((r) => s.close(r))
  return p
}

/**
 * Starts an edge in a temporary directory: one shard, no QUIC, the lake shipped to a local
 * directory within a second, two tenants (KEY with dnt "anonymous", KEY_DROP with "drop"), an
 * intervention on rage for anyone (no cooldowns, a short refractory so that trials repeat).
 * `demoShop`: the edge also serves its demo shop page (`[edge] demo_shop = true`).
 */
export async function startEdge({ region = 'us-east-1', id = 'edge-' + region, demoShop = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'siq-browser-edge-'))
  const port = await freePort()
  const tenant = (tid, key, dnt) => `
[[tenant]]
id = "${tid}"
key_sha256 = ["${sha(key)}"]
allowed_origins = ["*"]
emit = true
flush_ms = 250
max_batch = 512
dnt = "${dnt}"

[tenant.thresholds]
refractory_ms = 200

[[tenant.rules]]
id = "help-on-rage"
emotions = ["rage"]
min_confidence = 0.5
session_cooldown_s = 0
intervene = { kind = "chat", variant = "a", payload = { title = "Something not working?", text = "We saw you click a few times. A person can help right now.", cta = "Chat with us" } }
`
  const cfg = `[edge]
id = "${id}"
region = "${region}"
listen = "127.0.0.1:${port}"
shards = 1
data_dir = "${dir}/data"
commit_interval_ms = 2
idle_timeout_ms = 120000
${demoShop ? 'demo_shop = true' : ''}

[quic]
enabled = false

[lake]
sink = "local"
dir = "${dir}/lake"
max_age_s = 1
poll_ms = 200
${tenant('test', KEY, 'anonymous')}
${tenant('dropdnt', KEY_DROP, 'drop')}`
  writeFileSync(join(dir, 'edge.toml'), cfg)
  const log = join(dir, 'edge.log')
  const out = (await import('node:fs')).openSync(log, 'a')
  // Without the runner's SIQ_* settings (SIQ_EDGE_TOKEN wins over the config file's token,
  // SIQ_SECRETS_KEY is read from the environment only).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIQ_')))
  const proc = spawn(EDGE_BIN, ['--config', join(dir, 'edge.toml')], { stdio: ['ignore', out, out], env: { ...env, RUST_LOG: 'warn' } })
  const url = `http://127.0.0.1:${port}`
  const edge = {
    region,
    port,
    url,
    dir,
    lake: join(dir, 'lake'),
    proc,
    log: () => readFileSync(log, 'utf8'),
    async stop() {
      if (proc.exitCode == null) {
        proc.kill('SIGTERM')
        await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)])
        if (proc.exitCode == null) proc.kill('SIGKILL')
      }
    },
    metrics: () => metrics(url),
    rows: (opts) => lakeRows(join(dir, 'lake'), opts),
  }
  // Generous: a debug build starting on a busy machine. One that never gets ready is killed (a
  // running child would keep the test file's process, and so the whole suite, from ending).
  const deadline = Date.now() + 60000
  for (;;) {
    if (proc.exitCode != null) throw new Error(`edge exited ${proc.exitCode}:\n${edge.log()}`)
    try {
      const r = await fetch(url + '/readyz')
      if (r.status == 200) break
    } catch {}
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`edge not ready after 60 s:\n${edge.log()}`)
    }
    await sleep(50)
  }
  return edge
}

/** Prometheus text -> {name: summed value over all label sets} (and name{labels} entries). */
export async function metrics(url) {
  const t = await (await fetch(url + '/metrics')).text()
  const m = {}
  for (const line of t.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const mm = line.match(/^([a-z_]+)(\{[^}]*\})?\s+([0-9.eE+-]+)$/)
    if (!mm) continue
    m[mm[1]] = (m[mm[1]] || 0) + Number(mm[3])
    if (mm[2]) m[mm[1] + mm[2]] = Number(mm[3])
  }
  return m
}

/** The sum of a metric's lines whose labels contain `has` (e.g. 'reason="dnt"'). */
export const pick = (m, name, has = '') =>
  Object.entries(m)
    .filter(([k]) => k.startsWith(name + '{') && k.includes(has))
    .reduce((a, [, v]) => a + v, 0)

function parquetFiles(dir) {
  const out = []
  const walk = (d) => {
    if (!existsSync(d)) return
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.parquet')) out.push(p)
    }
  }
  walk(dir)
  return out
}

/** Every row of the lake's `events` table under `lakeDir` (optionally of one session). */
export async function lakeRows(lakeDir, { session, table = 'events' } = {}) {
  const rows = []
  for (const f of parquetFiles(join(lakeDir, table))) {
    const b = readFileSync(f)
    const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
    for (const r of await parquetReadObjects({ file, compressors })) if (!session || r.session == session) rows.push({ ...r, file: f })
  }
  return rows
}

/**
 * Merges the edges' local lakes into one lake directory (as edges of several regions shipping to
 * one bucket: their keys differ by region and edge) and runs `sentientiq-lake-compact` over it
 * for every UTC hour `tenant`'s events were stored in. Returns {dir, rows (the compacted events
 * rows), out (the binary's report)}. The edges' own files are left as they are.
 */
export async function compactLakes(lakeDirs, { tenant = 'test', tables = 'events,detections,actions' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'siq-browser-lake-'))
  for (const d of lakeDirs) if (existsSync(d)) cpSync(d, dir, { recursive: true })
  const hours = new Set()
  for (const f of parquetFiles(join(dir, 'events', `tenant=${tenant}`))) {
    const m = f.match(/date=(\d{4}-\d\d-\d\d)\/hour=(\d\d)\//)
    if (m) hours.add(`${m[1]}T${m[2]}`)
  }
  let out = ''
  for (const hour of [...hours].sort()) {
    const args = ['--tenant', tenant, '--hour', hour, '--dir', dir, '--tables', tables]
    out += await new Promise((res, rej) =>
      execFile(COMPACT_BIN, args, { env: { ...process.env, RUST_BACKTRACE: '0' } }, (e, stdout, stderr) =>
        e ? rej(new Error(`${COMPACT_BIN} ${args.join(' ')}: ${e.message}\n${stderr}`)) : res(stdout),
      ),
    )
  }
  return { dir, hours: [...hours], out, rows: await lakeRows(dir, { table: 'events_compacted' }) }
}

/** Waits until `f()` returns a truthy value (polling), or throws with `what`. */
export async function until(f, what, ms = 15000, every = 100) {
  const deadline = Date.now() + ms
  let last
  for (;;) {
    try {
      last = await f()
      if (last) return last
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await sleep(every)
  }
}

/**
 * Checks a session's rows: returns {seqs, max, missing, duplicates} where duplicates counts
 * (seq, idx) pairs stored more than once and missing lists seqs 1..max without a row.
 */
export function conservation(rows) {
  const seen = new Map()
  let duplicates = 0
  for (const r of rows) {
    const k = `${r.seq}/${r.idx}`
    if (seen.has(k)) duplicates++
    seen.set(k, r)
  }
  const seqs = new Set(rows.map((r) => Number(r.seq)))
  const max = Math.max(0, ...seqs)
  const missing = []
  for (let q = 1; q <= max; q++) if (!seqs.has(q)) missing.push(q)
  return { seqs, max, missing, duplicates }
}

/**
 * A TCP proxy adding `delayMs` each way (so about 2 × delayMs to every round trip), in order.
 * `mute()` drops what the edge sends from then on; `kill()` closes the listener and every
 * connection (the edge behind it looks dead).
 */
export async function delayProxy(target, delayMs) {
  const socks = new Set()
  let muted = false
  const server = net.createServer((c) => {
    const u = net.connect(target, '127.0.0.1')
    socks.add(c)
    socks.add(u)
    const pipe = (from, to) => {
      from.on('data', (d) => (from == u && muted) || setTimeout(() => to.writable && to.write(d), delayMs))
      from.on('end', () => setTimeout(() => to.end(), delayMs))
      from.on('error', () => to.destroy())
      from.on('close', () => setTimeout(() => to.destroy(), delayMs))
    }
    pipe(c, u)
    pipe(u, c)
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const port = server.address().port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    /** From now on the edge's answers are dropped (requests still reach it): it stores frames
     * whose acks never arrive. */
    mute() {
      muted = true
    },
    kill() {
      server.close()
      for (const s of socks) s.destroy()
    },
  }
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css', '.json': 'application/json' }

/**
 * The page server: test pages from test/browser/pages (with `{{NAME}}` filled from the
 * request's page vars), the SDK as built (`/sdk/siq.js`, and the loader at `/v1/sdk.js` with the
 * versioned file at `/v1/sdk/<file>`, CORS-enabled for Subresource Integrity), and pages
 * registered at run time with their own headers (CSP).
 */
export async function pageServer() {
  const pages = new Map()
  const manifest = JSON.parse(readFileSync(DIST + 'manifest.json', 'utf8'))
  const server = createServer((req, res) => {
    const u = new URL(req.url, 'http://x')
    const send = (status, body, type, headers = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers })
      res.end(body)
    }
    const p = pages.get(u.pathname)
    if (p) return send(200, p.html, TYPES['.html'], p.headers)
    if (u.pathname == '/sdk/siq.js') return send(200, readFileSync(DIST + 'siq.js'), TYPES['.js'])
    if (u.pathname == '/v1/sdk.js') return send(200, readFileSync(DIST + 'loader.js'), TYPES['.js'], { 'access-control-allow-origin': '*' })
    if (u.pathname == manifest.path) return send(200, readFileSync(DIST + 'siq.js'), TYPES['.js'], { 'access-control-allow-origin': '*' })
    const f = PAGES + u.pathname.replace(/^\/+/, '').replace(/\.\./g, '')
    if (u.pathname != '/' && existsSync(f)) return send(200, readFileSync(f), TYPES[f.slice(f.lastIndexOf('.'))] || 'application/octet-stream')
    send(404, 'not found', 'text/plain')
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const origin = `http://127.0.0.1:${server.address().port}`
  return {
    origin,
    manifest,
    /** Registers `html` at `path` (with response headers), returns its URL. */
    page(path, html, headers = {}) {
      pages.set(path, { html, headers })
      return origin + path
    },
    close: () => new Promise((r) => server.close(r)),
  }
}

/** Where the SDK comes from: the first edge with SIQ_SDK_FROM=edge, else `from` ('' = the page's own server). */
export const sdkBase = ({ edges = [], from } = {}) => (process.env.SIQ_SDK_FROM == 'edge' && edges[0] ? edges[0] : from || '')

/**
 * The versioned SDK the loader at `base` injects: {path, sri}, read from the loader itself (an
 * edge serves the copy built into its binary, which may differ from dist/ when the binary is older).
 */
export async function servedSdk(base) {
  const t = await (await fetch(base + '/v1/sdk.js')).text()
  return { path: t.match(/"(\/v1\/sdk\/[^"]+\.js)"/)?.[1], sri: t.match(/"(sha384-[^"]+)"/)?.[1] }
}

/** The SDK script tag: from the page server (default) or, with SIQ_SDK_FROM=edge, the edge. */
export function sdkTag({ key = KEY, edges = [], loader = false, from, attrs = '' } = {}) {
  const base = sdkBase({ edges, from })
  const src = loader || process.env.SIQ_SDK_FROM == 'edge' ? `${base}/v1/sdk.js` : `${base}/sdk/siq.js`
  return `<script src="${src}" data-key="${key}" data-edges="${edges.join(',')}" ${attrs} async></script>`
}

/** A shop page: product cards in sections, a dead "Add to cart" button, a form, SPA links. */
export function shopPage({ head = '', sdk = '', body = '', next = '#' } = {}) {
  return readFileSync(PAGES + 'shop.html', 'utf8').replace('{{HEAD}}', head).replace('{{SDK}}', sdk).replace('{{BODY}}', body).replace('{{NEXT}}', next)
}

export const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

export const launch = () => chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS })

/**
 * Records what the page sends over WebSockets (decoded) and which page errors happen.
 * Returns {frames, errors}; frames are {dir: 'sent'|'received', f}.
 */
export function record(page, decode) {
  const frames = []
  const errors = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('websocket', (ws) => {
    ws.on('framesent', (e) => typeof e.payload != 'string' && frames.push({ dir: 'sent', f: decode(e.payload) }))
    ws.on('framereceived', (e) => typeof e.payload != 'string' && frames.push({ dir: 'received', f: decode(e.payload) }))
  })
  return { frames, errors }
}

export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true })
  return ARTIFACTS + name
}

export function cleanup(edge) {
  try {
    rmSync(edge.dir, { recursive: true, force: true })
  } catch {}
}

export { sleep }

/** One edge, one page server and one browser for a test file: started before its tests (unless
 * `skip`), stopped after them. Returns the object whose `edge`, `srv` and `browser` they fill. */
export function oneEdge(skip) {
  const w = { edge: undefined, srv: undefined, browser: undefined }
  before(async () => {
    if (skip) return
    w.edge = await startEdge()
    w.srv = await pageServer()
    w.browser = await launch()
  })
  after(async () => {
    await w.browser?.close()
    await w.srv?.close()
    await w.edge?.stop()
    if (w.edge) cleanup(w.edge)
  })
  return w
}
