// The Diagnostics dialog: a native <dialog> (Escape closes it, focus stays inside), filled from
// `get_diagnostics` each time it opens; focus returns to the button that opened it.
import { $, h, setText, show, fillFacts } from './dom.js';
import { formatUnix, formatDuration } from './format.js';
import * as api from './api.js';

function availability(a) {
  if (!a) return null;
  return a.available ? 'available' : `not available${a.reason ? `: ${a.reason}` : ''}`;
}

function renderDiagnostics(d) {
  fillFacts($('diagnostics-facts'), [
    ['Attune version', d.version],
    ['Profile', d.profile],
    ['Preferences server', (d.cloud_urls || []).join(', ') || null],
    ['Saved settings age', d.cache_age_seconds === null || d.cache_age_seconds === undefined
      ? 'none on this computer' : formatDuration(d.cache_age_seconds)],
    ['Journal', `${d.journal} (${d.journal_entries} ${d.journal_entries === 1 ? 'entry' : 'entries'})`],
    ['Log file', d.log_file],
    ['Tray icon', availability(d.tray)],
    ['Notifications', availability(d.notifications)],
    ['Configuration problem', d.config_error],
  ]);
  const contacts = d.contacts || [];
  // data-label: the column's name, shown before each cell when the table is stacked (narrow).
  const cell = (label, text) => h('td', { 'data-label': label }, text);
  $('contacts-body').replaceChildren(...contacts.map((c) => h('tr', {},
    cell('When', formatUnix(c.at_unix) ?? ''),
    cell('Operation', c.operation),
    cell('Server', c.host ?? ''),
    cell('Attempts', String(c.attempts ?? '')),
    cell('Time', c.duration_ms === null || c.duration_ms === undefined ? '' : `${c.duration_ms} ms`),
    cell('Outcome', c.outcome))));
  show($('contacts-wrap'), contacts.length > 0);
  show($('contacts-empty'), contacts.length === 0);
}

async function load() {
  show($('diagnostics-loading'), true);
  show($('diagnostics-error'), false);
  try {
    const d = await api.getDiagnostics();
    renderDiagnostics(d);
    show($('diagnostics-content'), true);
  } catch (err) {
    setText($('diagnostics-error'), err.message);
    show($('diagnostics-error'), true);
  } finally {
    show($('diagnostics-loading'), false);
  }
}

// The bundle is fetched when the dialog opens, so the copy can happen at once in the click:
// WebKit lets a page write to the clipboard only while handling the person's gesture, and an
// awaited command in between would end it.
let prefetched = null;

async function prefetchBundle() {
  prefetched = null;
  try {
    prefetched = await api.supportBundle();
  } catch {
    prefetched = null;
  }
}

async function copyBundle() {
  const status = $('bundle-status');
  const button = $('copy-bundle-button');
  setText(status, '');
  show($('bundle-fallback'), false);
  let text = prefetched;
  if (text === null) {
    try {
      text = await api.supportBundle();
    } catch (err) {
      setText(status, err.message);
      return;
    }
  }
  const area = $('bundle-text');
  area.value = text;
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    setText(status, 'The support bundle is copied. Paste it into your message to support.');
    button.focus();
  } catch {
    // No clipboard here (or no permission): the text itself, selected, ready for Ctrl+C.
    setText(status, 'Copying did not work here. The support bundle is below, selected: press Ctrl+C to copy it.');
    show($('bundle-fallback'), true);
    area.focus();
    area.select();
  }
}

export function setUpDiagnostics() {
  const dialog = $('diagnostics-dialog');
  const opener = $('diagnostics-button');
  opener.addEventListener('click', () => {
    setText($('bundle-status'), '');
    show($('bundle-fallback'), false);
    dialog.showModal();
    $('diagnostics-close').focus();
    load();
    prefetchBundle();
  });
  $('diagnostics-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => opener.focus());
  $('copy-bundle-button').addEventListener('click', copyBundle);
}
