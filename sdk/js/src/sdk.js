// The global `SentientIQ`, configured by its script tag
//   <script src="https://EDGE/v1/sdk.js" data-key="siq_pk_…" async></script>
// (data-key; data-edges: comma-separated edge base URLs; data-edge: the edge that lists the
// others, default the script's own origin; data-widget="off"; data-identify="off") or by
//   SentientIQ.init('siq_pk_…', {edges: [...]})
// Calls made before the script arrived, through the stub
//   window.SentientIQ = window.SentientIQ || {q: []}   (each call pushed as [method, args])
// (the loader defines it) are replayed in order. Nothing here ever throws into the page: every
// error is contained and counted in `SentientIQ.errors`.

import { start, VERSION } from './client.js'

;((w) => {
  try {
    const prev = w.SentientIQ
    if (prev?.version) return
    const cbs = { det: [], iv: [] }
    let c
    let q = []
    const api = (w.SentientIQ = { version: VERSION, errors: 0 })
    const count = () => api.errors++
    const call = (m, a) => {
      try {
        if (m == 'init') {
          if (c || !/^siq_pk_/.test(a[0])) return count()
          c = start(w, a[0], a[1] || {}, count, cbs)
          for (const x of q) call(x[0], x[1])
          q = []
        } else if (m == 'shutdown') c = c?.stop()
        else if (m == 'onDetection' || m == 'onIntervention') cbs[m == 'onDetection' ? 'det' : 'iv'].push(a[0])
        else if (c) return c[m](...a)
        else if (m != 'state') q.push([m, a])
      } catch {
        count()
      }
    }
    for (const m of ['init', 'identify', 'track', 'outcome', 'onDetection', 'onIntervention', 'shutdown', 'state'])
      api[m] = (...a) => call(m, a)
    const me = w.document.currentScript
    const ds = me?.dataset || {}
    if (ds.key)
      api.init(ds.key, {
        edges: ds.edges?.split(','),
        edge: ds.edge || new URL(me.src).origin,
        widget: ds.widget != 'off',
        autoIdentify: ds.identify != 'off',
      })
    for (const x of prev?.q || []) call(x[0], [...x[1]])
  } catch {}
})(window)
