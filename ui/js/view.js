// Renders an AppStatus (docs/app.md) into the page. Pure presentation: which state it is, its
// words and its notice come decided from Rust (`indicator`), as does every sentence about what
// happened (`message`, `reason`); the page fills in dates in the reader's locale.
import { $, setText, show, fillFacts } from './dom.js';
import { formatUnix, formatAgeAsDate } from './format.js';
import { renderReport } from './report.js';
import { renderSaveState } from './adjustments.js';

const PROFILE_WORDS = { testing: 'Testing', development: 'Development', production: 'Production' };

/** The status badge: Rust's indicator, its words and its tone (the tone only picks colours and an icon). */
export function badgeOf(status) {
  return [status.indicator.words, status.indicator.tone];
}

/** The indicator's notice text with its date slots filled in the reader's locale. */
function noticeText(status, text) {
  return text
    .replace('{saved}', formatAgeAsDate(status.cache_age_seconds) ?? '')
    .replace('{tried}', formatUnix(status.last_cloud_failure) ?? '');
}

/** Where the settings came from; the saved settings' date unless a notice already gives it. */
function sourceWords(status, { withDate = true } = {}) {
  switch (status.source) {
    case 'cloud': return 'the preferences server';
    case 'cache': {
      const when = withDate ? formatAgeAsDate(status.cache_age_seconds) : null;
      return when ? `settings saved on this computer, from ${when}` : 'settings saved on this computer';
    }
    case 'stick': {
      const when = withDate ? formatAgeAsDate(status.cache_age_seconds) : null;
      return when ? `your USB key, saved ${when}` : 'your USB key';
    }
    case 'snapset': return 'a snapset on this computer (read-only)';
    default: return null;
  }
}

function renderStatusRegion(status) {
  const [badge, tone] = badgeOf(status);
  $('status').dataset.tone = tone;
  setText($('status-badge'), badge);
  // The window title says the state too: it is what a screen reader reads when switching windows.
  document.title = `${badge} — Attune`;
  setText($('status-detail'), status.profile && status.profile !== 'testing'
    ? `${PROFILE_WORDS[status.profile] ?? status.profile} profile` : '');
  setText($('message'), status.message);
  const keyedIn = status.state === 'active';
  fillFacts($('status-facts'), [
    ['Keyed in', keyedIn ? (status.name || 'Yes') : null],
    ['Since', keyedIn ? formatUnix(status.since_unix) : null],
    ['Settings from', keyedIn ? sourceWords(status, { withDate: !connectionNoticeShown(status) }) : null],
    ['Reason', status.connectivity !== 'online' ? status.reason : null],
    ['Last contact with the server', formatUnix(status.last_cloud_contact)],
  ]);
}

/** The connection notice (offline, version mismatch), as opposed to the stale-token one. */
function connectionNotice(status) {
  const notice = status.indicator.notice;
  return notice && notice.kind !== 'stale_token' ? notice : null;
}

function connectionNoticeShown(status) {
  return connectionNotice(status) !== null;
}

function renderNotices(status) {
  const stale = status.indicator.notice?.kind === 'stale_token' ? status.indicator.notice : null;
  show($('stale-notice'), stale !== null);
  if (stale) {
    setText($('stale-heading'), stale.heading);
    setText($('stale-text'), stale.text);
  }

  const notice = connectionNotice(status);
  show($('connection-notice'), notice !== null);
  if (!notice) return;
  $('connection-notice').dataset.kind = notice.kind;
  setText($('connection-heading'), notice.heading);
  setText($('connection-text'), noticeText(status, notice.text));
  fillFacts($('connection-facts'), [
    ['Changes waiting to be saved', status.outbox > 0 ? String(status.outbox) : null],
  ]);
}

function renderSession(status) {
  const keyedIn = status.state === 'active' || status.state === 'interrupted' || status.state === 'restoring';
  show($('key-in-section'), status.state === 'idle');
  show($('session-section'), keyedIn);
  show($('nav-key-in').parentElement, status.state === 'idle');
  show($('nav-key-in'), status.state === 'idle');
  show($('nav-session').parentElement, keyedIn);
  show($('nav-session'), keyedIn);
  if (!keyedIn) return;

  // The status region already names the person and the source; here only what is unusual.
  setText($('session-summary'), status.state === 'interrupted' ? 'The last session did not end properly.' : '');
  renderReport($('apply-report'), status.applied_in_words, { idPrefix: 'apply-report' });
  const failedRestore = status.state === 'interrupted' && status.journal === 'open';
  show($('restore-failed'), failedRestore);
  if (failedRestore) {
    const n = status.journal_entries;
    setText($('restore-failed-list'), `${n} ${n === 1 ? 'setting is' : 'settings are'} waiting to be put back.`);
  }
  $('key-out-button').disabled = status.state === 'restoring';
}

function renderAdjustSection(status) {
  const visible = status.state === 'active' && Array.isArray(status.adjustments) && status.adjustments.length > 0;
  show($('adjust-section'), visible);
  show($('nav-adjust').parentElement, visible);
  show($('nav-adjust'), visible);
  renderSaveState(status.save_state);
}

/** Applies the keyed-in person's text size and contrast to the page itself (docs/design.md §8). */
export function applyAppearance(appearance) {
  const root = document.documentElement;
  const scale = appearance && typeof appearance.text_scale === 'number' && appearance.text_scale > 0
    ? appearance.text_scale : 1;
  root.style.setProperty('--text-scale', String(scale));
  if (appearance && appearance.high_contrast === true) root.dataset.theme = 'high-contrast';
  else delete root.dataset.theme;
}

/** "Save these settings as mine" is offered while someone is keyed in. */
function renderCaptureSection(status) {
  const visible = status.state === 'active';
  show($('capture-section'), visible);
  show($('nav-capture').parentElement, visible);
  show($('nav-capture'), visible);
}

/** "Forget me" is offered to a person keyed in: not in a snapset session (a snapset is this
 * computer's, not a person's). */
function renderForgetSection(status) {
  const visible = status.state === 'active' && status.source !== 'snapset';
  show($('forget-section'), visible);
  show($('nav-forget').parentElement, visible);
  show($('nav-forget'), visible);
}

/** "Save my settings to this USB key": offered when Rust says a USB key is in and the person
 * keyed in may save to it (`usb_key.can_save`). */
function renderStickSection(status) {
  const visible = status.usb_key?.can_save === true;
  show($('stick-section'), visible);
  show($('nav-stick').parentElement, visible);
  show($('nav-stick'), visible);
  setText($('stick-label'), visible ? `“${status.usb_key.label}”` : '');
  if (!visible) setText($('stick-result'), '');
}

export function renderStatus(status) {
  document.body.dataset.state = status.state;
  document.body.dataset.profile = status.profile;
  renderStatusRegion(status);
  renderForgetSection(status);
  renderNotices(status);
  renderSession(status);
  renderAdjustSection(status);
  renderCaptureSection(status);
  renderStickSection(status);
  applyAppearance(status.appearance);
  // The stick is mentioned only where a USB-key listener runs in the app.
  show($('key-hint-usb'), Boolean(status.listeners?.usb));
}
