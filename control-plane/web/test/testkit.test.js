// The test kit's own rule: a process it starts takes none of the runner's SIQ_* settings
// (SIQ_ADMIN_TOKEN and SIQ_EDGE_TOKEN win over a config file's), only what the kit gives it.
'use strict'
const { test } = require('node:test')
const assert = require('node:assert/strict')
const h = require('../testkit/plane.js')

test('childEnv drops the runner\'s SIQ_* settings and keeps what the kit gives', () => {
  const saved = { ...process.env }
  try {
    process.env.SIQ_ADMIN_TOKEN = 'runner-admin-token'
    process.env.SIQ_EDGE_TOKEN = 'runner-edge-token'
    process.env.NOT_SIQ = 'kept'
    const env = h.childEnv({ SIQ_ENDPOINT: 'http://127.0.0.1:1', RUST_LOG: 'warn' })
    assert.equal(env.SIQ_ADMIN_TOKEN, undefined)
    assert.equal(env.SIQ_EDGE_TOKEN, undefined)
    assert.equal(env.NOT_SIQ, 'kept')
    assert.equal(env.PATH, process.env.PATH)
    assert.equal(env.SIQ_ENDPOINT, 'http://127.0.0.1:1')
    assert.equal(env.RUST_LOG, 'warn')
    assert.deepEqual(Object.keys(env).filter((k) => k.startsWith('SIQ_')), ['SIQ_ENDPOINT'])
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
    Object.assign(process.env, saved)
  }
})
