// What the page does, as samples of PROTOCOL.md §4. Every listener is passive and wrapped
// (`guard`): capture never blocks scrolling and never throws into the page. Moves and scrolls are
// coalesced to one sample per animation frame (the browser's own rate); layout is read only in
// an animation frame (scroll position) or on a debounced resize.

import { label, field, keyCat } from './label.js'

const FIELD = /^(INPUT|TEXTAREA|SELECT)$/
const SECTION = '[data-siq-section],main,nav,header,footer,aside'
export const DEAD_MS = 1000

/**
 * Starts capturing. `emit(k, t, x, y, a, str)` receives each sample (`t` in ms of the page's
 * time origin). Returns `{flush, page, stop}`: `flush()` writes the pending coalesced move,
 * `page()` reports a page view if the URL changed, `stop()` removes everything.
 */
export function capture(w, emit, guard) {
  const d = w.document
  const h = w.history
  const now = () => w.performance.now()
  // Event timestamps are high-resolution times of the page's origin in current browsers; an
  // epoch-based one (old engines) or none falls back to now.
  const ts = (e) => (e.timeStamp > 0 && e.timeStamp < 1e11 ? e.timeStamp : now())
  const offs = []
  const on = (t, ev, f) => {
    f = guard(f)
    const o = { capture: true, passive: true }
    t.addEventListener(ev, f, o)
    offs.push(() => t.removeEventListener(ev, f, o))
  }
  let px = 0
  let py = 0
  let mv
  let scrolled = 0
  let queued = 0
  let section
  let href
  let resizing
  // Samples carrying the pointer position; a pending coalesced move goes first.
  const at = (k, e, a, s) => {
    flush()
    emit(k, ts(e), px, py, a, s)
  }
  const flush = () => {
    if (mv) emit(0, mv[0], mv[1], mv[2])
    mv = 0
  }
  const tick = guard(() => {
    queued = 0
    flush()
    if (scrolled) emit(4, scrolled, w.scrollX, w.scrollY)
    scrolled = 0
  })
  const later = () => queued || (queued = w.requestAnimationFrame(tick))

  // Dead clicks: a click is dead when nothing responds within DEAD_MS of its pointerdown: no DOM
  // mutation, navigation, scroll, selection, focus, input or visibility change. The observer
  // runs only while a click is pending.
  let answered = 0
  let down = -1
  let watching
  const clicks = []
  const answer = () => (answered = now())
  const mo = new w.MutationObserver(guard(answer))
  const check = guard(() => {
    while (clicks[0] && now() - clicks[0].t >= DEAD_MS - 5) {
      const c = clicks.shift()
      if (answered < c.t) emit(10, now(), c.x, c.y, 0, c.l)
    }
    if (clicks[0]) setTimeout(check, DEAD_MS)
    else watching = mo.disconnect()
  })
  const pointer = (e) => {
    px = e.clientX
    py = e.clientY
  }

  on(w, 'pointermove', (e) => {
    pointer(e)
    mv = [ts(e), px, py]
    later()
  })
  on(w, 'pointerdown', (e) => {
    pointer(e)
    down = now()
    if (!watching) mo.observe(d, { subtree: true, childList: true, attributes: true, characterData: true })
    watching = 1
    at(1, e, e.button)
  })
  on(w, 'pointerup', (e) => {
    pointer(e)
    at(2, e, e.button)
  })
  on(w, 'click', (e) => {
    // A click from the keyboard or a script has no position of its own (detail 0).
    if (e.detail) pointer(e)
    const l = label(e.target)
    at(3, e, 0, l)
    if (!clicks[0]) setTimeout(check, DEAD_MS)
    clicks.push({ t: now() - down < DEAD_MS ? down : now(), x: px, y: py, l })
  })
  on(w, 'scroll', (e) => {
    answer()
    if (e.target == d) {
      scrolled = ts(e)
      later()
    }
  })
  for (const ev of ['selectionchange', 'input']) on(d, ev, answer)
  on(w, 'keydown', (e) => emit(5, ts(e), 0, 0, keyCat(e)))
  on(d, 'visibilitychange', (e) => {
    answer()
    flush()
    emit(6, ts(e), 0, 0, d.hidden ? 0 : 1)
  })
  on(w, 'pointerover', (e) => {
    const el = e.target.closest?.(SECTION)
    const s = el && (el.getAttribute('data-siq-section') || el.tagName.toLowerCase())
    pointer(e)
    if (s && s != section) at(7, e, 0, s)
    section = s
  })
  on(w, 'resize', () => {
    clearTimeout(resizing)
    resizing = setTimeout(guard(() => emit(9, now(), w.innerWidth, w.innerHeight)), 250)
  })
  const error = (m) => emit(11, now(), 0, 0, 0, String(m).slice(0, 256))
  // Resource load failures reach capture listeners too; only script errors carry a message.
  on(w, 'error', (e) => e.message && error(e.message))
  on(w, 'unhandledrejection', (e) => error(e.reason?.message || e.reason))
  // Forms: x is 0 focus, 1 blur, 2 change, 3 submit, 4 invalid; the string is the field's name.
  ;['focusin', 'focusout', 'change', 'submit', 'invalid'].forEach((ev, x) =>
    on(w, ev, (e) => {
      const t = e.target
      if (x == 3 ? t.tagName == 'FORM' : FIELD.test(t.tagName)) {
        if (x != 1) answer()
        emit(12, ts(e), x, 0, 0, field(t))
      }
    }),
  )
  on(w, 'copy', (e) => emit(13, ts(e), String(w.getSelection()).length, 0))
  on(d, 'mouseout', (e) => e.relatedTarget || at(14, e))

  // Page views: the first, then SPA navigations (history.pushState / replaceState, wrapped so
  // that the page's own call runs as it would and ours is guarded; popstate, hashchange).
  const page = guard(() => {
    if (href != w.location.href) {
      href = w.location.href
      answer()
      flush()
      emit(8, now(), 0, 0, 0, href)
    }
  })
  const orig = {}
  const mine = {}
  for (const m of ['pushState', 'replaceState']) {
    const f = (orig[m] = h[m])
    h[m] = mine[m] = function () {
      const r = f.apply(this, arguments)
      page()
      return r
    }
  }
  on(w, 'popstate', page)
  on(w, 'hashchange', page)
  page()

  return {
    flush,
    stop() {
      for (const off of offs) off()
      mo.disconnect()
      for (const m in mine) if (h[m] == mine[m]) h[m] = orig[m]
    },
  }
}
