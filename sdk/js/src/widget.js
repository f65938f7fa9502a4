// The intervention widget: an `iv` frame (PROTOCOL.md §5) rendered in a shadow root.
// The host element's own style is set through the CSSOM with `!important` (inline important
// declarations beat any page stylesheet, and the CSSOM is not blocked by a strict CSP); the
// widget's styles live inside the shadow root (a constructed stylesheet, also CSP-proof), so
// the page's CSS cannot reach in and the widget's cannot leak out. Text is set as text, never
// as HTML; links must be http(s).

const ACCENT = { chat: '#2563eb', offer: '#c2410c', help: '#047857' }

const CSS = `*{all:initial}
div,p,b,button{display:block;font:inherit;color:inherit}
.w{position:relative;width:min(300px,100vw - 88px);padding:16px 40px 16px 16px;background:#fff;color:#222;border-radius:12px;border-left:4px solid var(--c);box-shadow:0 8px 30px #0004;font:14px/1.45 system-ui,sans-serif}
b{font-weight:600;margin-bottom:6px}
button{cursor:pointer;border-radius:8px}
button:focus-visible{outline:2px solid var(--c)}
.c{margin-top:12px;padding:8px 14px;background:var(--c);color:#fff;font-weight:600}
.x{position:absolute;top:8px;right:12px;font-size:20px;color:#666}`

const HOST = { all: 'initial', display: 'block', position: 'fixed', right: '16px', bottom: '16px', 'z-index': '2147483647' }

let sheet

/** Whether `u` is an http(s) URL (no `javascript:` and friends). */
export const safeUrl = (u) => typeof u == 'string' && /^https?:\/\//i.test(u)

/**
 * Shows `iv` and reports outcomes through `out(r)` (`shown`, `clicked`, `dismissed`).
 * Returns a function that removes the widget.
 */
export function show(d, iv, out, g = (f) => f) {
  const p = iv.payload && typeof iv.payload == 'object' ? iv.payload : {}
  const host = d.createElement('siq-widget')
  for (const k in HOST) host.style.setProperty(k, HOST[k], 'important')
  const root = host.attachShadow({ mode: 'open' })
  try {
    sheet = sheet || new CSSStyleSheet()
    sheet.replaceSync(CSS)
    root.adoptedStyleSheets = [sheet]
  } catch {
    const s = d.createElement('style')
    s.textContent = CSS
    root.append(s)
  }
  const el = (tag, cls, text) => {
    const e = d.createElement(tag)
    if (cls) e.className = cls
    if (text) e.textContent = String(text).slice(0, 500)
    return e
  }
  const w = el('div', 'w')
  w.style.setProperty('--c', ACCENT[iv.kind] || '#4b5563')
  w.setAttribute('role', 'dialog')
  w.setAttribute('aria-live', 'polite')
  if (p.title) w.append(el('b', '', p.title))
  w.append(el('p', '', p.text || p.message || ''))
  const gone = () => host.remove()
  const cta = p.cta || (iv.kind == 'chat' ? 'Chat with us' : p.url ? 'Show me' : '')
  if (cta) {
    const b = el('button', 'c', cta)
    b.onclick = g(() => {
      out('clicked')
      gone()
      if (safeUrl(p.url)) d.defaultView.location.assign(p.url)
    })
    w.append(b)
  }
  const x = el('button', 'x', '×')
  x.setAttribute('aria-label', 'Dismiss')
  x.onclick = g(() => {
    out('dismissed')
    gone()
  })
  w.append(x)
  w.onkeydown = g((e) => e.key == 'Escape' && x.onclick())
  root.append(w)
  // On <html>, not <body>: a transform or filter on body would otherwise reposition it.
  d.documentElement.append(host)
  out('shown')
  return gone
}
