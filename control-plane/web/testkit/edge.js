// A real sentientiq-edge (the debug binary beside the plane's, $CARGO_TARGET_DIR/debug) that
// follows a plane started by plane.js: no tenants of its own (the plane is their source, as in
// tests/kit's Edge::follow), windows reported every second, one shard, no QUIC, a local lake.
// Modelled on sdk/js/test/browser/harness.js's startEdge.
'use strict'
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { BIN, EDGE_TOKEN, childEnv, freePort, until } = require('./plane.js')

const EDGE_BIN = process.env.SIQ_EDGE_BIN || path.join(BIN, 'sentientiq-edge')

/** Why no edge can run here, or false. */
function missing () {
  return fs.existsSync(EDGE_BIN) ? false : `no sentientiq-edge in ${path.dirname(EDGE_BIN)} (cargo build first)`
}

/** Starts an edge of `region` following the plane at gRPC `planePort`; resolves once ready. */
async function startEdge (planePort, { region = 'us-east-1' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'siq-web-edge-'))
  const port = await freePort()
  fs.writeFileSync(path.join(dir, 'edge.toml'), [
    '[edge]',
    `id = "edge-${region}"`,
    `region = "${region}"`,
    `listen = "127.0.0.1:${port}"`,
    'shards = 1',
    `data_dir = ${JSON.stringify(path.join(dir, 'data'))}`,
    'commit_interval_ms = 2',
    'idle_timeout_ms = 120000',
    '',
    '[quic]',
    'enabled = false',
    '',
    '[lake]',
    'sink = "local"',
    `dir = ${JSON.stringify(path.join(dir, 'lake'))}`,
    'max_age_s = 1',
    'poll_ms = 200',
    '',
    '[control]',
    `endpoint = "http://127.0.0.1:${planePort}"`,
    `token = "${EDGE_TOKEN}"`,
    'report_interval_ms = 1000',
    '',
  ].join('\n'))
  const logPath = path.join(dir, 'edge.log')
  const out = fs.openSync(logPath, 'a')
  const proc = spawn(EDGE_BIN, ['--config', path.join(dir, 'edge.toml')], {
    stdio: ['ignore', out, out],
    env: childEnv({ RUST_LOG: 'warn', SIQ_SECRETS_KEY: '11'.repeat(32) }),
  })
  let exited = null
  proc.on('exit', (code, sig) => { exited = sig || String(code) })
  const url = `http://127.0.0.1:${port}`
  const edge = {
    region,
    port,
    url,
    dir,
    log: () => fs.readFileSync(logPath, 'utf8'),
    async metrics () { return (await fetch(url + '/metrics')).text() },
    /** SIGTERM (SIGKILL after 10 s), then its directory goes (75 MB of stores each; kept
     * with SIQ_KEEP_TMP=1). */
    async stop () {
      if (exited === null) {
        proc.kill('SIGTERM')
        await until(() => exited !== null, 'the edge to stop', 10000).catch(() => proc.kill('SIGKILL'))
      }
      if (!process.env.SIQ_KEEP_TMP) fs.rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await until(async () => {
      if (exited !== null) throw new Error(`edge exited ${exited}:\n${edge.log()}`)
      try { return (await fetch(url + '/readyz')).status === 200 } catch { return false }
    }, 'the edge to be ready', 60000)
  } catch (e) {
    proc.kill('SIGKILL')
    throw e
  }
  return edge
}

module.exports = { EDGE_BIN, missing, startEdge }
