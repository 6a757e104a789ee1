// Quick adjustments (AppStatus.adjustments): a number field with its unit for `range`, a switch
// for `toggle`. Each change is handed to `onChange(adjustment, value, control)`; the page keeps
// no values of its own — the next AppStatus says what is in force.
import { $, h } from './dom.js';

const SAVE_TEXT = {
  saved: () => 'saved',
  pending: (n) => `not yet saved (${n})`,
  read_only: () => 'read-only snapset: applied here, never saved',
  none: () => '',
};

export function renderSaveState(saveState) {
  const el = $('save-state');
  const state = saveState && SAVE_TEXT[saveState.state] ? saveState.state : 'none';
  el.dataset.state = state;
  el.textContent = SAVE_TEXT[state](saveState ? saveState.pending : 0);
}

function rangeItem(adj, onChange) {
  const id = `adjust-${adj.id}`;
  const unitId = `${id}-unit`;
  const rangeId = `${id}-range`;
  const bounded = typeof adj.min === 'number' && typeof adj.max === 'number';
  const describedBy = [bounded ? rangeId : null, adj.unit ? unitId : null].filter(Boolean).join(' ');
  const input = h('input', {
    id, type: 'number', inputmode: 'decimal', min: adj.min, max: adj.max, step: adj.step ?? 'any',
    'data-term': adj.term, 'aria-describedby': describedBy || null,
  });
  input.addEventListener('change', () => {
    if (input.value === '' || !input.checkValidity()) {
      showAdjustError(adj.id, { message: bounded ? `Enter a number from ${adj.min} to ${adj.max}.` : 'Enter a number.' }, input);
      return;
    }
    onChange(adj, Number(input.value), input);
  });
  return h('li', { class: 'adjustment adjustment-range', 'data-id': adj.id },
    h('label', { for: id }, adj.label),
    h('span', { class: 'inline-fields' }, input,
      adj.unit ? h('span', { class: 'unit', id: unitId }, adj.unit) : null),
    bounded ? h('span', { class: 'hint', id: rangeId }, `From ${adj.min} to ${adj.max}`) : null,
    h('span', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true }));
}

function toggleItem(adj, onChange) {
  const id = `adjust-${adj.id}`;
  const input = h('input', { id, type: 'checkbox', role: 'switch', 'data-term': adj.term });
  input.addEventListener('change', () => onChange(adj, input.checked, input));
  return h('li', { class: 'adjustment adjustment-toggle', 'data-id': adj.id },
    h('span', { class: 'switch' }, input, h('label', { for: id }, adj.label)),
    h('span', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true }));
}

/** Shows (or with `error` null, clears) an adjustment's error next to it. */
export function showAdjustError(id, error, control = $(`adjust-${id}`)) {
  const el = $(`adjust-${id}-error`);
  if (!el) return;
  el.textContent = error ? error.message : '';
  el.hidden = !error;
  if (control) {
    const base = (control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== el.id);
    if (error) {
      control.setAttribute('aria-invalid', 'true');
      base.push(el.id);
    } else {
      control.removeAttribute('aria-invalid');
    }
    if (base.length) control.setAttribute('aria-describedby', base.join(' '));
    else control.removeAttribute('aria-describedby');
  }
}

/**
 * Builds the controls when the set of adjustments changes, otherwise only updates their values,
 * so a control keeps focus (and what is being typed in it) while statuses arrive.
 */
export function renderAdjustments(adjustments, onChange) {
  const list = $('adjustments');
  const ids = (adjustments || []).map((a) => `${a.id}:${a.control}`).join(',');
  if (list.dataset.ids !== ids) {
    list.replaceChildren(...(adjustments || []).map((adj) =>
      (adj.control === 'toggle' ? toggleItem : rangeItem)(adj, onChange)));
    list.dataset.ids = ids;
  }
  for (const adj of adjustments || []) {
    const input = $(`adjust-${adj.id}`);
    if (!input) continue;
    if (adj.control === 'toggle') {
      input.checked = adj.value === true;
    } else if (document.activeElement !== input) {
      input.value = adj.value === null || adj.value === undefined ? '' : String(adj.value);
    }
  }
}
