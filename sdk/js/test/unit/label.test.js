// Target labels, field names and key categories: never an input's value, never which key.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { label, field, keyCat } from '../../src/label.js'

/** A minimal element: enough of the DOM for label() and field(). */
function el(tag, attrs = {}, { text = '', parent = null, editable = false, children = [] } = {}) {
  const e = {
    tagName: tag.toUpperCase(),
    id: attrs.id || '',
    classList: (attrs.class || '').split(/\s+/).filter(Boolean),
    value: attrs.value,
    parentElement: parent,
    isContentEditable: editable,
    textContent: text,
    getAttribute: (n) => (n in attrs ? String(attrs[n]) : null),
    querySelector: (sel) => children.find((c) => sel.split(',').some((s) => s.trim() === c.tagName.toLowerCase() || (s.trim() === '[contenteditable]' && c.isContentEditable))) || null,
    closest(sel) {
      const want = sel.split(',').map((s) => s.trim())
      for (let n = this; n; n = n.parentElement) {
        const t = n.tagName.toLowerCase()
        if (want.some((w) => w === t || (w.startsWith('[') && n.getAttribute(w.slice(1, -1).split('=')[0]) != null))) return n
      }
      return null
    },
  }
  return e
}

const SECRET = 'hunter2-4111111111111111-secret@example.com'

test('buttons and links: tag#id.classes and their visible text', () => {
  assert.equal(label(el('button', { id: 'buy', class: 'btn primary big' }, { text: '  Buy\n now ' })), 'button#buy.btn.primary "Buy now"')
  const a = el('a', { class: 'nav' }, { text: 'Pricing' })
  const span = el('span', {}, { text: 'Pricing', parent: a })
  assert.equal(label(span), 'a.nav "Pricing"', 'the nearest actionable ancestor')
  assert.equal(label(el('div', { 'aria-label': 'Close dialog', role: 'button' }, { text: 'x' })), 'div "Close dialog"')
  assert.equal(label(el('div', { 'data-siq-label': 'hero-cta' }, { text: 'whatever' })), 'div "hero-cta"')
})

test('form fields never give their value, only name or type', () => {
  for (const type of ['text', 'password', 'email', 'submit', 'button', 'hidden']) {
    const input = el('input', { name: 'card', type, value: SECRET, id: 'f1' }, { text: SECRET })
    const l = label(input)
    assert.ok(!l.includes('hunter2') && !l.includes('4111') && !l.includes('@'), l)
    assert.equal(l, 'input#f1 "card"')
    assert.equal(field(input), 'card')
  }
  const ta = el('textarea', { value: SECRET }, { text: SECRET })
  assert.ok(!label(ta).includes('hunter2'))
  assert.equal(field(el('input', { type: 'email', value: SECRET })), 'email')
  const sel = el('select', { name: 'country' }, { text: 'France Germany' })
  assert.equal(label(sel), 'select "country"')
})

test('editable content and containers of fields give no text', () => {
  const ce = el('div', { role: 'textbox' }, { text: SECRET, editable: true })
  assert.equal(label(ce), 'div')
  const input = el('input', { value: SECRET })
  const lab = el('label', {}, { text: 'Card ' + SECRET, children: [input] })
  assert.equal(label(lab), 'label')
})

test('anything not actionable gives its selector only, never its text (it may be personal data)', () => {
  assert.equal(label(el('p', { class: 'balance' }, { text: 'Balance: 12,345.67 EUR, IBAN DE89 3704' })), 'p.balance')
  const td = el('td', { id: 'addr' }, { text: '221B Baker Street' })
  assert.equal(label(el('span', {}, { text: '221B Baker Street', parent: td })), 'span')
  // Inside a button the button's text is the label.
  const b = el('button', { id: 'go' }, { text: 'Go' })
  assert.equal(label(el('span', {}, { text: 'Go', parent: b })), 'button#go "Go"')
})

test('labels are bounded', () => {
  const l = label(el('button', { id: 'x'.repeat(500), class: 'c'.repeat(500) }, { text: 'y'.repeat(5000) }))
  assert.ok(l.length <= 120, `${l.length}`)
  assert.equal(label(null), '')
  assert.equal(label({}), '')
})

test('key categories: 0 printable, 1 delete, 2 enter, 3 navigation, 4 other', () => {
  const cat = (key, mods = {}) => keyCat({ key, ...mods })
  assert.deepEqual(['a', 'Z', '7', ' ', 'é', '@'].map((k) => cat(k)), [0, 0, 0, 0, 0, 0])
  assert.deepEqual(['Backspace', 'Delete'].map((k) => cat(k)), [1, 1])
  assert.equal(cat('Enter'), 2)
  assert.deepEqual(['ArrowUp', 'ArrowLeft', 'Tab', 'Home', 'End', 'PageDown'].map((k) => cat(k)), [3, 3, 3, 3, 3, 3])
  assert.deepEqual([cat('Escape'), cat('Shift'), cat('F5'), cat('c', { ctrlKey: true }), cat('v', { metaKey: true }), cat(undefined)], [4, 4, 4, 4, 4, 4])
})
