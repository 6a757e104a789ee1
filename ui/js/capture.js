// "Save these settings as mine" (docs/capture.md, docs/app.md): the capture's lines in words
// (Rust's: "Text size: 125 %") as a tick list, every one ticked to begin with; the ticked ids are
// what is saved. The page decides nothing: the lines, their ids and every outcome come from Rust.
import { $, h, show } from './dom.js';

function item(line, i) {
  const id = `capture-item-${i}`;
  const details = `${id}-details`;
  return h('li', { class: 'capture-item' },
    h('input', { type: 'checkbox', id, value: line.id, checked: true, 'aria-describedby': details }),
    h('label', { for: id }, line.value ? `${line.label}: ${line.value}` : line.label),
    h('span', { class: 'report-setting', id: details }, line.details.join('; ')));
}

function skippedItem(row) {
  const place = row.solution ? `${row.solution} › ${row.setting}` : row.setting;
  return h('li', { class: 'report-row' }, h('span', { class: 'report-label' }, `${place}: `), row.reason ?? '');
}

/** Shows a CaptureOutcome: the tick list, or the sentence that there is nothing to save. */
export function renderCapture(outcome) {
  const lines = outcome.lines ?? [];
  $('capture-list').replaceChildren(...lines.map(item));
  const skipped = outcome.skipped ?? [];
  $('capture-skipped-list').replaceChildren(...skipped.map(skippedItem));
  show($('capture-skipped'), skipped.length > 0);
  show($('capture-form'), lines.length > 0);
  show($('capture-empty'), lines.length === 0);
  $('capture-result').textContent = '';
}

/** The ids of the ticked lines, in the list's order. */
export function tickedIds() {
  return [...$('capture-list').querySelectorAll('input[type="checkbox"]:checked')].map((el) => el.value);
}

/** After a save: the list goes, the outcome's sentence stays. */
export function showSaved(outcome) {
  show($('capture-form'), false);
  $('capture-result').textContent = outcome.message ?? '';
}
