// Test hooks, loaded before the SDK: when each click happened and when each widget appeared
// (main-thread clock), the SDK's detections and interventions, and the page's own errors.
window.__t = { clicks: [], widgets: [], det: [], iv: [], errors: [] }
addEventListener('click', (e) => __t.clicks.push(performance.now()), true)
addEventListener('error', (e) => __t.errors.push(String(e.message)))
new MutationObserver((ms) => {
  for (const m of ms) for (const n of m.addedNodes) if (n.nodeName == 'SIQ-WIDGET') __t.widgets.push(performance.now())
}).observe(document.documentElement, { childList: true, subtree: true })
// Callbacks registered through the documented queue stub, before the SDK has loaded.
window.SentientIQ = window.SentientIQ || { q: [] }
SentientIQ.q.push(['onDetection', [(d) => __t.det.push(d)]])
SentientIQ.q.push(['onIntervention', [(iv) => __t.iv.push(iv)]])
