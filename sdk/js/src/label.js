// What the SDK may say about an element or a key: a selector and visible text for clicks, a
// field's name for forms, a category for keys. Never an input's value, never which key.

const FIELD = /^(INPUT|TEXTAREA|SELECT|OPTION)$/
const ACTION = 'a,button,input,select,textarea,label,[role],[data-siq-label]'

const clean = (s, n) => (s || '').replace(/\s+/g, ' ').trim().slice(0, n)

/** The element's tag#id.class.class (two classes at most). */
const sel = (el) =>
  el.tagName.toLowerCase() +
  (el.id ? '#' + clean(el.id, 40) : '') +
  [...(el.classList || [])].slice(0, 2).map((c) => '.' + c.slice(0, 30)).join('')

/**
 * A click target's label: `tag#id.class "text"`, from the nearest actionable ancestor. The text
 * is `data-siq-label`, `aria-label`, or the visible text of an actionable element (button, link,
 * label, `[role]`); a form field gives only its name (never its value), editable content and
 * anything else (a paragraph, a table cell, a container) no text at all.
 */
export function label(t) {
  const act = t?.closest?.(ACTION)
  const el = act || t
  if (!el?.tagName) return ''
  const at = (n) => el.getAttribute(n)
  let text = at('data-siq-label') || at('aria-label')
  if (!text && act) {
    if (FIELD.test(el.tagName)) text = at('name') || at('type')
    else if (!el.isContentEditable && !el.querySelector?.('input,textarea,select,[contenteditable]'))
      text = (el.textContent || '').slice(0, 200)
  }
  text = clean(text, 60)
  return (sel(el) + (text ? ' "' + text + '"' : '')).slice(0, 120)
}

/** A form field's name for `form` samples: name, id, aria-label or type. Never its value. */
export function field(el) {
  const at = (n) => el.getAttribute && el.getAttribute(n)
  return clean(at('name') || el.id || at('aria-label') || at('type') || (el.tagName || '').toLowerCase(), 80)
}

/** 0 printable, 1 delete/backspace, 2 enter, 3 navigation, 4 other. */
export function keyCat(e) {
  const k = e.key || ''
  if (k == 'Backspace' || k == 'Delete') return 1
  if (k == 'Enter') return 2
  if (/^(Arrow|Page|Home|End|Tab)/.test(k)) return 3
  if (k.length == 1 && !e.ctrlKey && !e.metaKey && !e.altKey) return 0
  return 4
}
