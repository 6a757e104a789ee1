// The apply report: what was applied, in words (`applied_in_words`, Rust's: "Text size: 150 %"),
// each line with the technical settings behind it in a details line, grouped by outcome as lists
// with headings, so it reflows at any width and reads well in a screen reader's list navigation.
import { h } from './dom.js';

// Groups: failures first (what a person most needs to see); the summary reads in the usual order.
const SUMMARY = [
  ['applied', 'Applied'],
  ['not_supported', 'Not supported here'],
  ['failed', 'Failed'],
];
const GROUPS = [
  ['failed', 'Failed'],
  ['applied', 'Applied'],
  ['not_supported', 'Not supported here'],
];

function lineItem(line) {
  return h('li', { class: 'report-row', 'data-outcome': line.outcome },
    h('span', { class: 'report-label' }, line.value ? `${line.label}: ` : line.label),
    line.value ? h('span', { class: 'report-value' }, line.value) : null,
    line.reason ? h('span', { class: 'report-reason' }, h('span', { class: 'visually-hidden' }, 'Reason: '), line.reason) : null,
    h('span', { class: 'report-setting' }, h('span', { class: 'visually-hidden' }, 'Setting: '), line.details.join('; ')));
}

/** Fills `container` with the report of `rows` (AppliedLine[]); `headingLevel` is the group headings' level. */
export function renderReport(container, rows, { headingLevel = 4, idPrefix = 'report' } = {}) {
  container.replaceChildren();
  if (!rows || rows.length === 0) {
    container.append(h('p', { class: 'report-empty' }, 'Nothing was applied.'));
    return;
  }
  const summary = h('ul', { class: 'report-counts', 'aria-label': 'Summary' });
  for (const [outcome, label] of SUMMARY) {
    const n = rows.filter((r) => r.outcome === outcome).length;
    summary.append(h('li', { 'data-outcome': outcome }, `${label}: ${n}`));
  }
  container.append(summary);
  for (const [outcome, label] of GROUPS) {
    const group = rows.filter((r) => r.outcome === outcome);
    if (group.length === 0) continue;
    const headingId = `${idPrefix}-${outcome}`;
    container.append(
      h('div', { class: 'report-group', 'data-outcome': outcome },
        h(`h${headingLevel}`, { id: headingId }, `${label} (${group.length})`),
        h('ul', { class: 'report-list' }, group.map(lineItem))));
  }
}
