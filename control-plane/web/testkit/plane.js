// Test helpers for the dashboard's browser tests: the real sentientiq-control and siqctl
// binaries (from $CARGO_TARGET_DIR/debug), and an edge's side of EdgeSync spoken over
// node:http2 with hand-encoded protobuf (the few messages the tests send), so the plane holds
// EVI windows, experiment counts and alerts without an edge process.
'use strict'
const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const http2 = require('node:http2')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '../../..')
const BIN = process.env.SIQ_WEB_BIN || path.resolve(ROOT, process.env.CARGO_TARGET_DIR || 'target', 'debug')
const CHROMIUM = process.env.SIQ_CHROMIUM || '/usr/bin/chromium'
const PLAYWRIGHT = path.join(ROOT, 'sdk/js/node_modules/playwright-core')
const ARTIFACTS = path.resolve(__dirname, '../test-artifacts')
const ADMIN_TOKEN = 'web-test-admin-token-0001'
const EDGE_TOKEN = 'web-test-edge-token-00001'

/** Why the tests cannot run here, or false. */
function missing () {
  for (const b of ['sentientiq-control', 'siqctl']) {
    if (!fs.existsSync(path.join(BIN, b))) return `no ${b} in ${BIN} (cargo build first)`
  }
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`
  if (!fs.existsSync(path.join(PLAYWRIGHT, 'package.json'))) return `no ${PLAYWRIGHT} (npm ci in sdk/js)`
  return false
}

/** The environment for a process the kit starts: this one's without SIQ_* (a runner's
 * SIQ_ADMIN_TOKEN or SIQ_EDGE_TOKEN would win over the config file's), plus `extra`. */
function childEnv (extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIQ_')))
  return { ...env, ...extra }
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function until (f, what, ms = 10000) {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** A plain HTTP request to the plane's HTTP face: {status, headers, body}. */
function request (port, method, p, { headers = {}, body = '', localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, localAddress, headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { data += c })
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function startPlane () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siq-web-'))
  const port = await freePort()
  let httpPort = await freePort()
  while (httpPort === port) httpPort = await freePort()
  const cfg = path.join(dir, 'control.toml')
  fs.writeFileSync(cfg, [
    `listen = "127.0.0.1:${port}"`,
    `http_listen = "127.0.0.1:${httpPort}"`,
    `data_dir = ${JSON.stringify(path.join(dir, 'data'))}`,
    `admin_token = "${ADMIN_TOKEN}"`,
    `edge_token = "${EDGE_TOKEN}"`,
    'evi_poll_ms = 200',
    '',
  ].join('\n'))
  const logPath = path.join(dir, 'control.log')
  const log = fs.openSync(logPath, 'w')
  const proc = spawn(path.join(BIN, 'sentientiq-control'), ['--config', cfg], { stdio: ['ignore', log, log], env: childEnv() })
  let exited = null
  proc.on('exit', (code, sig) => { exited = `${code ?? sig}` })
  await until(async () => {
    if (exited !== null) throw new Error(`the plane exited (${exited}): ${fs.readFileSync(logPath, 'utf8')}`)
    try {
      // The dashboard answers once the gRPC side configured it.
      const r = await request(httpPort, 'GET', '/login')
      const g = await new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true) })
        s.on('error', () => resolve(false))
      })
      return r.status === 200 && g
    } catch { return false }
  }, 'the plane to listen', 30000)
  const plane = {
    dir,
    port,
    httpPort,
    url: `http://127.0.0.1:${httpPort}`,
    log: () => fs.readFileSync(logPath, 'utf8'),
    ctl (args) {
      return execFileSync(path.join(BIN, 'siqctl'), args, {
        env: childEnv({ SIQ_ENDPOINT: `http://127.0.0.1:${port}`, SIQ_ADMIN_TOKEN: ADMIN_TOKEN, SIQ_HTTP_ENDPOINT: `http://127.0.0.1:${httpPort}` }),
        encoding: 'utf8',
      })
    },
    json (args) { return JSON.parse(plane.ctl(['--json', ...args])) },
    /** SIGTERM; resolves with how it exited ("0": cleanly), SIGKILL after 15 s. Its directory
     * goes then (kept with SIQ_KEEP_TMP=1). */
    async stop () {
      if (exited === null) {
        proc.kill('SIGTERM')
        await until(() => exited !== null, 'the plane to stop', 15000).catch(() => proc.kill('SIGKILL'))
      }
      if (!process.env.SIQ_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true })
      return exited
    },
  }
  return plane
}

// ------------------------------------------------------------------ protobuf, by hand

function varint (n) {
  let v = BigInt(n)
  const out = []
  while (v >= 0x80n) { out.push(Number(v & 0x7fn) | 0x80); v >>= 7n }
  out.push(Number(v))
  return Buffer.from(out)
}
const tag = (f, wt) => varint((f << 3) | wt)
const pb = {
  str: (f, s) => (s ? Buffer.concat([tag(f, 2), varint(Buffer.byteLength(s)), Buffer.from(s)]) : Buffer.alloc(0)),
  int: (f, n) => (n ? Buffer.concat([tag(f, 0), varint(n)]) : Buffer.alloc(0)),
  bool: (f, b) => (b ? Buffer.concat([tag(f, 0), varint(1)]) : Buffer.alloc(0)),
  dbl: (f, x) => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return Buffer.concat([tag(f, 1), b]) },
  msg: (f, bytes) => Buffer.concat([tag(f, 2), varint(bytes.length), bytes]),
  packed: (f, ns) => pb.msg(f, Buffer.concat(ns.map(varint))),
}

/** Decodes one message into {field: [values]} (varints as numbers, bytes as Buffers). */
function decode (buf) {
  const out = {}
  let i = 0
  const rv = () => { let v = 0n; let s = 0n; for (;;) { const b = buf[i++]; v |= BigInt(b & 0x7f) << s; if (!(b & 0x80)) return v; s += 7n } }
  while (i < buf.length) {
    const k = Number(rv())
    const f = k >> 3
    const wt = k & 7
    let v
    if (wt === 0) v = Number(rv())
    else if (wt === 2) { const n = Number(rv()); v = buf.subarray(i, i + n); i += n } else if (wt === 1) { v = buf.subarray(i, i + 8); i += 8 } else if (wt === 5) { v = buf.subarray(i, i + 4); i += 4 } else throw new Error(`wire type ${wt}`)
    ;(out[f] = out[f] || []).push(v)
  }
  return out
}

function window ({ tenant, region, edge, minute, active, detections, intensity, valueAtRisk = 0 }) {
  return Buffer.concat([
    pb.str(1, tenant), pb.str(2, region), pb.str(3, edge), pb.int(4, minute), pb.int(5, active),
    pb.packed(6, detections), pb.int(8, valueAtRisk), pb.packed(11, intensity), pb.int(12, detections.reduce((a, b) => a + b, 0)),
  ])
}

function arm ({ variant = '', sessions, conversions, shown = 0, dismissed = 0 }) {
  return Buffer.concat([pb.str(1, variant), pb.int(2, sessions), pb.int(3, conversions), pb.int(9, shown), pb.int(11, dismissed)])
}

function experimentWindow ({ tenant, region, edge, minute, rule, arms }) {
  return Buffer.concat([pb.str(1, tenant), pb.str(2, region), pb.str(3, edge), pb.int(4, minute), pb.str(5, rule), ...arms.map((a) => pb.msg(6, arm(a)))])
}

function delivery (d) {
  return Buffer.concat([pb.str(1, d.id), pb.str(2, d.contact), pb.str(3, d.channel), pb.str(4, d.status), pb.int(5, d.attempts || 1), pb.int(6, d.latency_ms || 0), pb.int(7, d.step || 0)])
}

function alertRecord (a) {
  return Buffer.concat([
    pb.str(1, a.id), pb.str(2, a.tenant), pb.str(3, a.region), pb.str(4, a.edge), pb.str(5, a.account), pb.int(6, a.value_cents),
    pb.str(7, a.user), pb.str(8, a.session || 's1'), pb.str(9, a.emotion), pb.dbl(10, a.confidence), pb.str(11, a.section), pb.str(12, a.page || '/'),
    pb.int(13, a.opened_ms), pb.str(14, a.state), pb.int(15, a.step || 0), pb.int(16, a.repeats || 0),
    ...(a.deliveries || []).map((d) => pb.msg(17, delivery(d))), pb.str(18, a.acked_by || ''), pb.int(19, a.acked_ms || 0), pb.int(20, a.updated_ms), pb.str(21, a.rule || 'page'),
  ])
}

/** One gRPC bidi call as an edge: sends `messages`, collects `want` replies, ends the call. */
function grpc (port, method, messages, want, headers = {}) {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`)
    client.on('error', reject)
    const req = client.request({
      ':method': 'POST', ':path': `/sentientiq.v1.EdgeSync/${method}`, 'content-type': 'application/grpc', te: 'trailers',
      authorization: `Bearer ${EDGE_TOKEN}`, ...headers,
    })
    const timer = setTimeout(() => { req.close(); client.close(); reject(new Error(`${method}: no answer in 10 s`)) }, 10000)
    let buf = Buffer.alloc(0)
    const replies = []
    const done = (err) => { clearTimeout(timer); req.close(); client.close(); err ? reject(err) : resolve(replies) }
    req.on('data', (c) => {
      buf = Buffer.concat([buf, c])
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const n = buf.readUInt32BE(1)
        replies.push(decode(buf.subarray(5, 5 + n)))
        buf = buf.subarray(5 + n)
      }
      if (replies.length >= want) done()
    })
    req.on('trailers', (t) => { if (t['grpc-status'] && t['grpc-status'] !== '0') done(new Error(`${method}: grpc-status ${t['grpc-status']} ${t['grpc-message']}`)) })
    req.on('error', done)
    for (const m of messages) {
      const head = Buffer.alloc(5)
      head.writeUInt32BE(m.length, 1)
      req.write(Buffer.concat([head, m]))
    }
  })
}

/** Reports windows (and experiment windows) as an edge; resolves once acknowledged. */
function reportAggregates (port, windows, experiments = [], batchId = 1) {
  const batch = Buffer.concat([...windows.map((w) => pb.msg(1, window(w))), pb.int(2, batchId), ...experiments.map((x) => pb.msg(3, experimentWindow(x)))])
  return grpc(port, 'ReportAggregates', [batch], 1)
}

/** Reports alert records as edge `edge`; resolves with the ack's commands
 * [{alert_id, action, by, tenant_id}]. */
async function reportAlerts (port, edge, records, batchId = 1) {
  const batch = Buffer.concat([...records.map((r) => pb.msg(1, alertRecord(r))), pb.int(2, batchId)])
  const [ack] = await grpc(port, 'ReportAlerts', [batch], 1, { 'siq-edge-id': edge })
  return (ack[2] || []).map((c) => {
    const m = decode(c)
    const s = (f) => (m[f] ? m[f][0].toString('utf8') : '')
    return { alert_id: s(1), action: s(2), by: s(3), tenant_id: s(4) }
  })
}

module.exports = {
  ADMIN_TOKEN, EDGE_TOKEN, BIN, ARTIFACTS, childEnv, freePort, CHROMIUM, PLAYWRIGHT, missing, startPlane, request, until, sleep, reportAggregates, reportAlerts,
}
