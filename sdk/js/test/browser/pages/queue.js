// Calls made before the SDK has loaded, through the documented queue stub.
window.SentientIQ = window.SentientIQ || { q: [] }
SentientIQ.q.push(['track', ['queued-before-load']])
SentientIQ.q.push(['identify', ['queued-user', { plan: 'pro' }]])
SentientIQ.q.push(['track', ['purchase', { amount: 249.99, currency: 'USD' }]])
