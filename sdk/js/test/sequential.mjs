// Runs node:test files one at a time (the browser suite: one Chromium and up to three edges at
// once), as `node --test --test-concurrency=1` does on Node 20.10+, but also on Node 18 (Debian
// 12's nodejs), which has no --test-concurrency. One TAP stream with one summary
// (`# pass N`, `# fail N`: scripts/run-tests.sh counts them); exits 1 if any test failed.
//
//   node test/sequential.mjs test/browser/*.test.js

import { run } from 'node:test'
import { tap } from 'node:test/reporters'
import { resolve } from 'node:path'

const files = process.argv.slice(2).map((f) => resolve(f))
if (!files.length) {
  console.error('usage: node test/sequential.mjs FILE.test.js...')
  process.exit(2)
}
const stream = run({ files, concurrency: 1 })
// A failed test, hook or file (one that does not load or exits non-zero is a failed test too).
stream.on('test:fail', () => {
  process.exitCode = 1
})
stream.compose(tap).pipe(process.stdout)
