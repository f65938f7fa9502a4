// Web Storage that may throw (Safari private mode, disabled cookies, sandboxed frames, quota):
// every access is wrapped, and a failure reads as "nothing stored".

/** @param {'localStorage'|'sessionStorage'} kind */
export function load(kind, key) {
  try {
    return JSON.parse(window[kind].getItem(key))
  } catch {
    return null
  }
}

/** Stores JSON (or removes the key when `v` is null); false when the storage refused. */
export function save(kind, key, v) {
  try {
    if (v == null) window[kind].removeItem(key)
    else window[kind].setItem(key, JSON.stringify(v))
    return true
  } catch {
    return false
  }
}

/** Every key of a storage (none when it throws). */
export function keys(kind) {
  try {
    const s = window[kind]
    return Array.from({ length: s.length }, (_, i) => s.key(i))
  } catch {
    return []
  }
}

/** Bytes as a string of char codes 0–255 (kept in JSON in sessionStorage), and back. */
export function latin1(b) {
  let s = ''
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192))
  return s
}
export const bytes = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0))

/** A random session / device id: 32 hex digits (a valid `sid`: 16–64 of [A-Za-z0-9_-]). */
export const rid = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (x) => (x | 256).toString(16).slice(1)).join('')
