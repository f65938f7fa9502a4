// The short-cache loader served at `GET /v1/sdk.js`: it defines the queue stub (calls made
// before the SDK arrives are kept), then injects the immutable, versioned SDK
// (`/v1/sdk/<version>-<hash>.js`, with Subresource Integrity) from the same edge, carrying over
// every data-* attribute of its own script tag and its CSP nonce. The build fills in SDK_PATH
// and SDK_SRI.

/* global SDK_PATH, SDK_SRI */
;((w, d) => {
  try {
    const me = d.currentScript
    const siq = (w.SentientIQ = w.SentientIQ || { q: [] })
    if (!me || siq.version) return
    if (siq.q)
      for (const m of ['init', 'identify', 'track', 'outcome', 'onDetection', 'onIntervention', 'shutdown'])
        siq[m] =
          siq[m] ||
          function () {
            siq.q.push([m, arguments])
          }
    const s = d.createElement('script')
    s.async = true
    s.src = new URL(SDK_PATH, me.src).href
    s.integrity = SDK_SRI
    s.crossOrigin = 'anonymous'
    for (const a of me.attributes) if (a.name.startsWith('data-')) s.setAttribute(a.name, a.value)
    if (!me.dataset.edge) s.setAttribute('data-edge', new URL(me.src).origin)
    if (me.nonce) s.nonce = me.nonce
    ;(me.parentNode || d.head).appendChild(s)
  } catch {}
})(window, document)
