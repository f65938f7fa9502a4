// The demo shop's script (served at /demo/shop.js; the page's CSP allows no inline script).
// The write key and the user to identify as come from the URL fragment, never from the server
// (a fragment is not sent in requests):
//   /demo/shop#key=siq_pk_…&uid=u_1&email=dana@acme.example
// (`uid` with an `@` and no `email` is used as the email too: the edge finds the account by the
// email's domain). The fragment is then taken off the address (kept in this tab's
// sessionStorage for reloads) before the SDK loads: the page view it records is the bare URL,
// never the key or the email. It loads this edge's SDK through its loader (/v1/sdk.js), registers
// callbacks through the documented queue stub, and shows what the edge said in a small console
// in a shadow root: the SDK's dead-click observer does not see into shadow roots, so the
// console's updates never count as the page answering a click. The Checkout button does nothing.
;(() => {
  const d = document
  const KEPT = 'demo-shop:fragment'
  let frag = location.hash.slice(1)
  try {
    if (frag) sessionStorage.setItem(KEPT, frag)
    else frag = sessionStorage.getItem(KEPT) || ''
  } catch {}
  const NEW = 'demo-shop:new-visit'
  try {
    if (sessionStorage.getItem(NEW)) for (const k of Object.keys(sessionStorage)) if (k.startsWith('siq:') || k == NEW) sessionStorage.removeItem(k)
  } catch {}
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search)
  const p = new URLSearchParams(frag)
  const key = p.get('key') || ''
  const uid = p.get('uid') || ''
  const email = p.get('email') || (uid.includes('@') ? uid : '')

  const CSS = `:host{all:initial}
.c{width:300px;font:13px/1.45 system-ui,sans-serif;color:#e2e8f0;background:#0f172aee;border-radius:14px;padding:14px 16px;box-shadow:0 10px 30px #0006}
.h{display:flex;align-items:center;gap:8px;font-weight:700;color:#fff}
.h button{margin-left:auto;padding:0 8px;line-height:20px;background:#334155;color:#e2e8f0}
.b{margin-top:6px}.min .b{display:none}
.dot{width:9px;height:9px;border-radius:50%;background:#94a3b8}
.dot.ok{background:#22c55e;box-shadow:0 0 0 3px #22c55e33}.dot.bad{background:#ef4444}
.s{color:#cbd5e1;margin:2px 0}.s b{color:#fff;font-weight:600}
.hint{margin:8px 0;color:#fcd34d}
ul{list-style:none;margin:8px 0 0;padding:0;max-height:150px;overflow:auto}
li{padding:5px 8px;margin-top:4px;border-radius:8px;background:#1e293b}
li.det{border-left:3px solid #f97316}li.iv{border-left:3px solid #38bdf8}
.row{display:flex;justify-content:space-between;align-items:center;margin-top:10px;color:#94a3b8;font-size:12px}
button{font:inherit;font-size:12px;color:#0f172a;background:#e2e8f0;border:0;border-radius:7px;padding:5px 10px;cursor:pointer}`

  const host = d.getElementById('siq-console')
  const root = host.attachShadow({ mode: 'open' })
  try {
    const sheet = new CSSStyleSheet()
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
    if (text != null) e.textContent = String(text)
    return e
  }
  const box = el('div', 'c')
  const head = el('div', 'h')
  const dot = el('span', 'dot')
  const fold = el('button', '', '–')
  fold.setAttribute('aria-label', 'Minimise')
  head.append(dot, el('span', '', 'SentientIQ demo'), fold)
  const status = el('p', 's', 'Loading the SDK…')
  const who = el('p', 's')
  const hint = el('p', 'hint', 'Click Checkout 4–5 times, fast.')
  const feed = el('ul')
  const row = el('div', 'row')
  const again = el('button', '', 'New visit')
  again.id = 'siq-new-visit'
  again.title = 'Start a new session (e.g. this one is in the experiment holdout, or cooling down)'
  row.append(el('span', '', 'No help shown? Start a new visit.'), again)
  const body = el('div', 'b')
  body.append(status, who, hint, feed, row)
  box.append(head, body)
  root.append(box)
  fold.onclick = () => {
    const min = box.classList.toggle('min')
    fold.textContent = min ? '+' : '–'
    fold.setAttribute('aria-label', min ? 'Expand' : 'Minimise')
  }
  // A new session: reloaded with a mark, the SDK's own state in this tab is dropped before it
  // loads (at pagehide it saves that state again, so dropping it now would not do); the key and
  // user stay.
  again.onclick = () => {
    try {
      sessionStorage.setItem(NEW, '1')
    } catch {}
    location.reload()
  }
  const b = (t) => el('b', '', t)
  const line = (cls, text) => {
    const li = el('li', cls, text)
    feed.prepend(li)
    while (feed.children.length > 8) feed.lastChild.remove()
  }

  if (!/^siq_pk_[A-Za-z0-9_]+$/.test(key)) {
    dot.className = 'dot bad'
    status.textContent = 'No write key. Open this page as /demo/shop#key=siq_pk_…&uid=… (make demo prints the URL).'
    hint.remove()
    row.remove()
    return
  }
  who.append(
    uid ? 'Identified as ' : 'Anonymous (add &uid=… to the URL to identify)',
    ...(uid ? [b(email && email != uid ? `${uid} (${email})` : uid)] : []),
  )

  const siq = (window.SentientIQ = window.SentientIQ || { q: [] })
  siq.q = siq.q || []
  if (uid) siq.q.push(['identify', [uid, email ? { email } : {}]])
  siq.q.push([
    'onDetection',
    [(f) => line('det', `Detected ${f.e} · confidence ${Number(f.c).toFixed(2)}${f.sec ? ' · ' + f.sec : ''}`)],
  ])
  siq.q.push([
    'onIntervention',
    [(f) => line('iv', `Intervention: ${f.kind}${f.variant ? ' (' + f.variant + ')' : ''} for ${f.e}`)],
  ])
  const s = d.createElement('script')
  s.src = '/v1/sdk.js'
  s.async = true
  s.setAttribute('data-key', key)
  // This page's own origin, as the browser reached it (a forwarded port included).
  s.setAttribute('data-edges', location.origin)
  s.onerror = () => {
    dot.className = 'dot bad'
    status.textContent = 'The SDK did not load from this edge.'
  }
  d.head.append(s)

  let shown = ''
  setInterval(() => {
    const st = window.SentientIQ?.state?.()
    let now
    if (st?.region) now = `Connected to ${st.region} · session ${String(st.sid).slice(0, 8)}`
    else if (window.SentientIQ?.version) now = 'Connecting to the edge…'
    if (now && now != shown) {
      shown = now
      status.textContent = ''
      if (st?.region) {
        dot.className = 'dot ok'
        status.append('Connected to ', b(st.region), ` · session ${String(st.sid).slice(0, 8)}`)
      } else status.textContent = now
    }
    if (st?.region && st.http) status.title = 'over HTTP beacons (WebSocket blocked)'
  }, 500)
})()
