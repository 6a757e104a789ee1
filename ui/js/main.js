// Attune's window: asks Rust for the status, renders every status that arrives, and turns the
// person's actions into commands (docs/app.md). No decisions are made here.
import * as api from './api.js';
import { $, h, setText, show, announce, showError } from './dom.js';
import { renderStatus } from './view.js';
import { renderReport } from './report.js';
import { renderAdjustments, showAdjustError } from './adjustments.js';
import { setUpDiagnostics } from './diagnostics.js';
import { renderCapture, tickedIds, showSaved } from './capture.js';

let current = null;
let setBusy = 0;

/** Renders a status; announces what changed (not on the first render: the page says it). */
function onStatus(status) {
  const previous = current;
  current = status;
  const focused = document.activeElement;
  renderStatus(status);
  renderAdjustments(status.state === 'active' ? status.adjustments : [], changeAdjustment);
  keepFocus(focused);
  if (!previous) return;
  const changed = previous.state !== status.state || previous.connectivity !== status.connectivity
    || previous.source !== status.source || previous.message !== status.message;
  if (changed && status.message) {
    announce(status.message, { assertive: status.indicator.state === 'stale_token' });
  }
  if (previous.save_state?.state !== status.save_state?.state
      || previous.save_state?.pending !== status.save_state?.pending) {
    const text = $('save-state').textContent;
    if (text && setBusy === 0) announce(`Changes: ${text}`);
  }
}

/**
 * A status can hide the part that has focus (someone keyed in with a USB key while the key field
 * had focus; the CLI keyed out): focus then goes to the heading of what is shown now, never to
 * the void.
 */
function keepFocus(focused) {
  if (!focused || focused === document.body || !focused.isConnected) return;
  if (focused.getClientRects().length > 0) return;
  const next = ['session-heading', 'key-in-heading', 'status-heading']
    .map((id) => $(id)).find((el) => el.getClientRects().length > 0);
  next?.focus();
}

/**
 * Shows what a listener saw ("USB key found") as it happens; a shared computer's idle warning is a
 * banner until input ends it or the key-out comes (the texts are Rust's).
 */
function onListenerNotice(notice) {
  if (notice.kind === 'idle_key_out_soon') {
    setText($('idle-text'), notice.text);
    show($('idle-notice'), true);
    announce(notice.text, { assertive: true });
    return;
  }
  show($('idle-notice'), false);
  const el = $('usb-event');
  setText(el, notice.text);
  show(el, true);
  announce(notice.text);
}

async function refresh() {
  try {
    onStatus(await api.getStatus());
  } catch (err) {
    setText($('message'), err.message);
    announce(err.message, { assertive: true });
  }
}

/**
 * Runs a command from a button or form: the control says it is busy and a progress line shows
 * (key-in may wait seconds for the cloud), an error goes next to the control.
 */
async function run(control, errorEl, errorTarget, command, progressEl) {
  showError(errorEl, errorTarget, null);
  control.setAttribute('aria-disabled', 'true');
  control.dataset.busy = 'true';
  // Shown only if the command is not over at once, so quick answers do not flicker.
  const progress = progressEl && setTimeout(() => {
    show(progressEl, true);
    announce(progressEl.textContent);
  }, 300);
  try {
    return await command();
  } catch (err) {
    showError(errorEl, errorTarget, err);
    announce(err.message, { assertive: true });
    (errorTarget || control).focus();
    return undefined;
  } finally {
    clearTimeout(progress);
    if (progressEl) show(progressEl, false);
    control.removeAttribute('aria-disabled');
    delete control.dataset.busy;
  }
}

function showKeyInResult(outcome) {
  const el = $('key-in-result');
  // A session cut short earlier is finished first; both sentences are Rust's.
  const text = [outcome.finished_first?.message_text, outcome.message_text].filter(Boolean).join(' ');
  setText(el, text);
  show(el, Boolean(text));
  show($('key-out-result'), false);
  if (Array.isArray(outcome.applied_in_words)) renderReport($('apply-report'), outcome.applied_in_words, { idPrefix: 'apply-report' });
  announce(text);
}

async function keyIn(key, control, errorEl, errorTarget) {
  if (control.dataset.busy) return;
  const outcome = await run(control, errorEl, errorTarget, () => api.keyIn(key), $('key-in-progress'));
  if (!outcome) return;
  $('key-input').value = '';
  await refresh();
  showKeyInResult(outcome);
  $('session-heading').focus();
}

function onKeyInSubmit(event) {
  event.preventDefault();
  const input = $('key-input');
  const key = input.value.trim();
  if (!key) {
    showError($('key-in-error'), input, { message: 'Type your key first.' });
    input.focus();
    return;
  }
  keyIn(key, $('key-in-button'), $('key-in-error'), input);
}

function onSnapsetSubmit(event) {
  event.preventDefault();
  const select = $('snapset-select');
  if (!select.value) {
    showError($('snapset-error'), select, { message: 'Choose a snapset first.' });
    select.focus();
    return;
  }
  keyIn(select.value, $('snapset-key-in-button'), $('snapset-error'), select);
}

/**
 * Runs the command of the button `${name}-button` (its error and progress lines are
 * `${name}-error` and `${name}-progress`), then refreshes: the outcome, or nothing if the command
 * failed or was already running.
 */
async function runButton(name, command) {
  const button = $(`${name}-button`);
  if (button.dataset.busy) return undefined;
  const outcome = await run(button, $(`${name}-error`), null, command, $(`${name}-progress`));
  if (outcome) await refresh();
  return outcome;
}

async function keyOut() {
  const outcome = await runButton('key-out', () => api.keyOut());
  if (!outcome) return;
  setText($('key-out-result-text'), outcome.message_text);
  const failed = $('key-out-failed');
  failed.replaceChildren();
  if (outcome.failed_in_words && outcome.failed_in_words.length) {
    failed.append(h('h3', {}, 'Not yet put back'));
    const list = h('div', {});
    renderReport(list, outcome.failed_in_words, { headingLevel: 4, idPrefix: 'restore-report' });
    failed.append(list);
  }
  show($('key-in-result'), false);
  show($('key-out-result'), true);
  announce(outcome.message_text);
  $('key-out-result-heading').focus();
}

async function relogin() {
  const outcome = await runButton('relogin', () => api.relogin());
  if (!outcome) return;
  showKeyInResult(outcome);
  $('session-heading').focus();
}

async function changeAdjustment(adj, value, control) {
  showAdjustError(adj.id, null, control);
  setBusy += 1;
  try {
    const outcome = await api.setPreference(adj.term, value);
    setBusy -= 1;
    const msg = $('adjust-message');
    setText(msg, outcome.message);
    show(msg, Boolean(outcome.message));
    await refresh();
    announce(outcome.message || `${adj.label}: changes ${$('save-state').textContent}`);
  } catch (err) {
    setBusy -= 1;
    showAdjustError(adj.id, err, control);
    announce(err.message, { assertive: true });
    await refresh();
  }
}

/** "Show what will be saved": reads the desktop and lists it, ticked, for the person to choose. */
async function showCapture() {
  const outcome = await runButton('capture', () => api.captureDesktop());
  if (!outcome) return;
  renderCapture(outcome);
  const n = outcome.lines.length;
  announce(n === 0 ? $('capture-empty').textContent : `${n} ${n === 1 ? 'setting' : 'settings'} to save. Untick any you do not want.`);
  ($('capture-item-0') ?? $('capture-empty')).focus();
}

async function onCaptureSubmit(event) {
  event.preventDefault();
  const button = $('capture-save-button');
  if (button.dataset.busy) return;
  const ids = tickedIds();
  if (ids.length === 0) {
    showError($('capture-save-error'), button, { message: 'Tick at least one setting to save.' });
    button.focus();
    return;
  }
  const outcome = await run(button, $('capture-save-error'), null, () => api.saveCapture(ids), $('capture-save-progress'));
  if (!outcome) return;
  await refresh();
  showSaved(outcome);
  announce(outcome.message);
  $('capture-heading').focus();
}

/**
 * "Forget me": asks Rust to forget the person keyed in, here or everywhere. Changes not yet saved
 * are refused with `unsent_changes` (Rust's sentence lists them): the person may then tick that
 * they accept to lose them, and ask again. Forgotten, they are logged out: the result is shown
 * where a log-out's is.
 */
async function onForgetSubmit(event) {
  event.preventDefault();
  const button = $('forget-button');
  if (button.dataset.busy) return;
  const everywhere = $('forget-everywhere').checked;
  const dropUnsent = $('forget-drop-unsent').checked;
  let refusal = null;
  const outcome = await run(button, $('forget-error'), null, async () => {
    try {
      return await api.forgetMe(everywhere, dropUnsent);
    } catch (err) {
      refusal = err;
      throw err;
    }
  }, $('forget-progress'));
  if (!outcome) {
    if (refusal?.kind === 'unsent_changes') {
      show($('forget-unsent'), true);
      $('forget-drop-unsent').focus();
    }
    return;
  }
  await refresh();
  $('forget-drop-unsent').checked = false;
  show($('forget-unsent'), false);
  setText($('key-out-result-text'), outcome.message_text);
  $('key-out-failed').replaceChildren();
  show($('key-in-result'), false);
  show($('key-out-result'), true);
  announce(outcome.message_text);
  $('key-out-result-heading').focus();
}

/** "Save my settings to this USB key": Rust writes to the USB key it saw come in (the page names
 * no folder) and answers with its sentence, or why it could not. */
async function saveToStick() {
  setText($('stick-result'), '');
  const outcome = await runButton('stick', () => api.saveToStick());
  if (!outcome) return;
  setText($('stick-result'), outcome.message_text);
  announce(outcome.message_text);
}

/** Where a snapset comes from, after its name; one that cannot be used is listed, not offered. */
const SNAPSET_ORIGIN = { site: ' — this site\'s', user: ' — yours' };
function snapsetOption(s) {
  const label = (s.name && s.name !== s.key ? `${s.name} (${s.key})` : s.key)
    + (SNAPSET_ORIGIN[s.origin] ?? '') + (s.problem ? ' — cannot be used' : '');
  return h('option', { value: s.key, disabled: Boolean(s.problem), title: s.problem ?? s.file }, label);
}

async function loadSnapsets() {
  let snapsets = [];
  try {
    snapsets = await api.listSnapsets();
  } catch {
    snapsets = [];
  }
  const select = $('snapset-select');
  select.replaceChildren(h('option', { value: '' }, 'Choose a snapset'),
    ...snapsets.map(snapsetOption));
  show($('snapset-form'), snapsets.length > 0);
}

async function start() {
  $('key-in-form').addEventListener('submit', onKeyInSubmit);
  $('snapset-form').addEventListener('submit', onSnapsetSubmit);
  $('key-out-button').addEventListener('click', keyOut);
  $('relogin-button').addEventListener('click', relogin);
  $('capture-button').addEventListener('click', showCapture);
  $('capture-form').addEventListener('submit', onCaptureSubmit);
  $('forget-form').addEventListener('submit', onForgetSubmit);
  $('stick-button').addEventListener('click', saveToStick);
  $('key-input').addEventListener('input', () => showError($('key-in-error'), $('key-input'), null));
  setUpDiagnostics();
  try {
    // Both at once: each is a round trip to the shell, and the status is asked for only after
    // the status listener is in place, so no change between the two is missed.
    await Promise.all([api.onStatus(onStatus), api.onListener(onListenerNotice)]);
  } catch (err) {
    setText($('message'), err.message);
  }
  await Promise.all([refresh(), loadSnapsets()]);
  document.body.dataset.ready = 'true';
}

start();
