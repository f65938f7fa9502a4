// Storage that throws (private modes, disabled storage, sandboxed frames, full quota) reads as
// empty and never throws to the caller.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { load, save, keys, latin1, bytes, rid } from '../../src/store.js'
import './fakedom.js' // the global `crypto` on Node 18

class Mem {
  constructor() {
    this.m = new Map()
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null
  }
  setItem(k, v) {
    this.m.set(k, String(v))
  }
  removeItem(k) {
    this.m.delete(k)
  }
  key(i) {
    return [...this.m.keys()][i] ?? null
  }
  get length() {
    return this.m.size
  }
}
const throwing = {
  getItem() {
    throw new DOMException('denied', 'SecurityError')
  },
  setItem() {
    throw new DOMException('full', 'QuotaExceededError')
  },
  removeItem() {
    throw new DOMException('denied', 'SecurityError')
  },
}

test('JSON round trip through working storage', () => {
  globalThis.window = { sessionStorage: new Mem() }
  assert.equal(load('sessionStorage', 'k'), null)
  assert.equal(save('sessionStorage', 'k', { sid: 'abc', seq: 3 }), true)
  assert.deepEqual(load('sessionStorage', 'k'), { sid: 'abc', seq: 3 })
  save('sessionStorage', 'k', null)
  assert.equal(load('sessionStorage', 'k'), null)
})

test('storage whose methods throw: nothing stored, nothing thrown', () => {
  globalThis.window = { localStorage: throwing, sessionStorage: throwing }
  assert.equal(load('localStorage', 'k'), null)
  assert.equal(save('localStorage', 'k', 1), false)
  assert.equal(save('sessionStorage', 'k', null), false)
})

test('storage whose very access throws (the getter itself), and no storage at all', () => {
  globalThis.window = {}
  Object.defineProperty(globalThis.window, 'localStorage', {
    get() {
      throw new DOMException('The operation is insecure.', 'SecurityError')
    },
  })
  assert.equal(load('localStorage', 'k'), null)
  assert.equal(save('localStorage', 'k', 1), false)
  assert.deepEqual(keys('localStorage'), [])
  assert.equal(load('sessionStorage', 'k'), null)
  assert.equal(save('sessionStorage', 'k', 1), false)
})

test('corrupt JSON reads as nothing', () => {
  const s = new Mem()
  s.setItem('k', '{not json')
  globalThis.window = { sessionStorage: s }
  assert.equal(load('sessionStorage', 'k'), null)
})

test('frames survive the trip through a JSON string (latin1)', () => {
  const b = Uint8Array.from({ length: 70000 }, (_, i) => (i * 7919) & 255)
  const back = bytes(JSON.parse(JSON.stringify(latin1(b))))
  assert.deepEqual(back, b)
})

test('ids are valid session ids and differ', () => {
  const a = rid()
  assert.match(a, /^[A-Za-z0-9_-]{16,64}$/)
  assert.notEqual(a, rid())
})
