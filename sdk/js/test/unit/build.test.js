// The artifact: size budget, dist/ up to date (the Rust build embeds it without node), the
// loader pointing at the versioned SDK, and no third-party MessagePack code in the bundle.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { createHash } from 'node:crypto'
import { make } from '../../build.mjs'

const BUDGET = 8 * 1024
const dist = (f) => readFileSync(new URL('../../dist/' + f, import.meta.url), 'utf8')
const built = await make()

test(`the whole minified SDK is <= ${BUDGET} bytes gzipped (level 9)`, () => {
  const gz = gzipSync(built['siq.js'], { level: 9 }).length
  console.log(`# siq.js: ${Buffer.byteLength(built['siq.js'])} bytes, ${gz} bytes gzipped (budget ${BUDGET}; zlib ${process.versions.zlib})`)
  assert.ok(gz <= BUDGET, `${gz} > ${BUDGET}`)
})

test('dist/ is what the sources build (run `npm run build` after changing src/)', () => {
  for (const f of Object.keys(built)) assert.equal(dist(f), built[f], `dist/${f} is stale`)
})

test('manifest: version, versioned file, sha256, SRI and size of dist/siq.js', () => {
  const m = JSON.parse(dist('manifest.json'))
  const sdk = dist('siq.js')
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  assert.equal(m.version, pkg.version)
  assert.equal(m.sha256, createHash('sha256').update(sdk).digest('hex'))
  assert.equal(m.file, `${pkg.version}-${m.sha256.slice(0, 8)}.js`)
  assert.equal(m.path, '/v1/sdk/' + m.file)
  assert.equal(m.sri, 'sha384-' + createHash('sha384').update(sdk).digest('base64'))
  // The gzipped size depends on Node's zlib build, so it is not in dist/ (see build.mjs).
  assert.equal(m.gzip_bytes, undefined)
  assert.equal(m.bytes, Buffer.byteLength(sdk))
  assert.equal(m.loader.sha256, createHash('sha256').update(dist('loader.js')).digest('hex'))
})

test('the loader injects exactly the versioned SDK with its integrity', () => {
  const m = JSON.parse(dist('manifest.json'))
  const l = dist('loader.js')
  assert.ok(l.includes(JSON.stringify(m.path)), 'versioned path')
  assert.ok(l.includes(JSON.stringify(m.sri)), 'SRI')
  assert.ok(Buffer.byteLength(l) < 1024, 'the loader stays tiny')
})

test('the bundle carries its own codec, not @msgpack/msgpack', () => {
  const s = built['siq.js']
  assert.ok(!/msgpack\/msgpack|ExtensionCodec|DecodeError/.test(s))
  assert.ok(s.startsWith('/*! SentientIQ '))
})
