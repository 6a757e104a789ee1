// Small DOM helpers. Text goes in with textContent only (never innerHTML), so nothing that
// arrives from Rust can become markup.

export const $ = (id) => document.getElementById(id);

/** `h('li', { class: 'x', id: 'y' }, 'text', childNode)`; attributes with null/false are left out. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function setText(el, text) {
  el.textContent = text ?? '';
}

export function show(el, visible) {
  el.hidden = !visible;
}

/** A definition list's terms and details from `[[term, detail], …]`; rows without a detail are left out. */
export function fillFacts(dl, rows) {
  dl.replaceChildren();
  for (const [term, detail] of rows) {
    if (detail === null || detail === undefined || detail === '') continue;
    dl.append(h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, detail)));
  }
  dl.hidden = dl.childElementCount === 0;
}

let lastAnnouncement = '';
/**
 * Says `text` through the live regions: polite for state changes, assertive only for the stale
 * token and errors. The same text twice in a row is said once (a command's answer and the status
 * event that follows it often carry the same sentence).
 */
export function announce(text, { assertive = false } = {}) {
  if (!text || text === lastAnnouncement) return;
  lastAnnouncement = text;
  const region = $(assertive ? 'live-assertive' : 'live-polite');
  // Emptying first makes screen readers notice a repeat of an earlier message.
  region.textContent = '';
  setTimeout(() => { region.textContent = text; }, 50);
}

/** Shows an AppError's message in the alert next to a control and ties it to the control. */
export function showError(errorEl, control, error) {
  setText(errorEl, error ? error.message : '');
  errorEl.hidden = !error;
  if (control) {
    if (error) {
      control.setAttribute('aria-invalid', 'true');
      const ids = new Set((control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean));
      ids.add(errorEl.id);
      control.setAttribute('aria-describedby', [...ids].join(' '));
    } else {
      control.removeAttribute('aria-invalid');
      const ids = (control.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && id !== errorEl.id);
      if (ids.length) control.setAttribute('aria-describedby', ids.join(' '));
      else control.removeAttribute('aria-describedby');
    }
  }
}
