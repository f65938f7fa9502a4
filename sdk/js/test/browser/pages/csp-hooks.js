// CSP violations on the page, for the strict-CSP test.
window.__csp = []
document.addEventListener('securitypolicyviolation', (e) => __csp.push(`${e.violatedDirective} ${e.blockedURI}`))
