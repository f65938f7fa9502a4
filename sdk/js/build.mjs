// Builds (esbuild, then a terser pass) dist/siq.js (the SDK), dist/loader.js (the short-cache loader that injects the
// versioned SDK) and dist/manifest.json. `node build.mjs --check` builds in memory and fails if
// dist/ is not what the sources produce (the Rust build embeds dist/ and must not need node).

import { build } from 'esbuild'
import { minify } from 'terser'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const pkg = JSON.parse(readFileSync(here + 'package.json', 'utf8'))
const target = ['es2020', 'chrome91', 'firefox90', 'safari15']

async function bundle(entry, define = {}) {
  const r = await build({
    entryPoints: [here + entry],
    bundle: true,
    minify: true,
    format: 'iife',
    target,
    define,
    legalComments: 'none',
    write: false,
    charset: 'utf8',
    // Internal property names (never wire keys, never public API, never DOM) get short names.
    mangleProps: /^(sent|live|paused|dropped|pending|keep|pump|fits|frame|last|flush|acked|resume|up|out|stop)$/,
  })
  // esbuild bundles and minifies; terser's second pass takes off about 3 % more gzipped.
  const t = await minify(r.outputFiles[0].text, {
    ecma: 2020,
    compress: { passes: 2 },
    format: { comments: false },
  })
  return t.code
}

/** Builds everything; returns {name: contents}. */
export async function make() {
  const sdk = `/*! SentientIQ ${pkg.version} */` + (await bundle('src/sdk.js'))
  const sha = createHash('sha256').update(sdk).digest('hex')
  const file = `${pkg.version}-${sha.slice(0, 8)}.js`
  const sri = 'sha384-' + createHash('sha384').update(sdk).digest('base64')
  const loader = await bundle('src/loader.js', {
    SDK_PATH: JSON.stringify('/v1/sdk/' + file),
    SDK_SRI: JSON.stringify(sri),
  })
  const manifest = {
    version: pkg.version,
    file,
    path: '/v1/sdk/' + file,
    sha256: sha,
    sri,
    bytes: Buffer.byteLength(sdk),
    // No gzipped size here: it depends on the zlib Node was built with (Debian's Node 18 and
    // NodeSource's Node 20 differ by 32 bytes on the same input), and dist/ must be the same
    // wherever it is built. The build prints it; the unit tests hold it to the budget.
    loader: {
      path: '/v1/sdk.js',
      sha256: createHash('sha256').update(loader).digest('hex'),
      bytes: Buffer.byteLength(loader),
    },
  }
  return {
    'siq.js': sdk,
    'loader.js': loader,
    'manifest.json': JSON.stringify(manifest, null, 2) + '\n',
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await make()
  if (process.argv.includes('--check')) {
    const stale = Object.keys(out).filter((f) => {
      try {
        return readFileSync(here + 'dist/' + f, 'utf8') !== out[f]
      } catch {
        return true
      }
    })
    if (stale.length) {
      console.error(`dist/ is out of date (${stale.join(', ')}): run npm run build`)
      process.exit(1)
    }
    console.log('dist/ is up to date')
  } else {
    mkdirSync(here + 'dist', { recursive: true })
    for (const [f, s] of Object.entries(out)) writeFileSync(here + 'dist/' + f, s)
    const m = JSON.parse(out['manifest.json'])
    const gz = gzipSync(out['siq.js'], { level: 9 }).length
    console.log(`dist/siq.js ${m.bytes} B, ${gz} B gzipped (zlib ${process.versions.zlib}); loader ${m.loader.bytes} B; ${m.path}`)
  }
}
