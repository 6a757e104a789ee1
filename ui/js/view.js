// Renders an AppStatus (docs/app.md) into the page. Pure presentation: which words to show for
// a state, which parts to show; every sentence about what happened is Rust's (`message`,
// `reason`).
import { $, setText, show, fillFacts } from './dom.js';
import { formatUnix, formatAgeAsDate } from './format.js';
import { renderReport } from './report.js';
import { renderSaveState } from './adjustments.js';

const PROFILE_WORDS = { testing: 'Testing', development: 'Development', production: 'Production' };

/** The status badge: its words and its tone (the tone only picks colours and an icon). */
export function badgeOf(status) {
  if (status.state === 'restoring') return ['Restoring this computer…', 'busy'];
  if (status.state === 'interrupted') return ['Needs attention', 'attention'];
  if (status.connectivity === 'auth_stale' || status.connectivity === 'version_mismatch') {
    return ['Needs attention', 'attention'];
  }
  if (status.connectivity === 'offline') return ['Offline', 'offline'];
  if (status.profile === 'testing') return ['Testing', 'testing'];
  if (status.connectivity === 'online') return ['Online', 'ok'];
  return ['Ready', 'neutral'];
}

/** Where the settings came from; the saved settings' date unless a notice already gives it. */
function sourceWords(status, { withDate = true } = {}) {
  switch (status.source) {
    case 'cloud': return 'the preferences server';
    case 'cache': {
      const when = withDate ? formatAgeAsDate(status.cache_age_seconds) : null;
      return when ? `settings saved on this computer, from ${when}` : 'settings saved on this computer';
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

function connectionNoticeShown(status) {
  return status.connectivity === 'offline' || status.connectivity === 'version_mismatch';
}

function renderNotices(status) {
  show($('stale-notice'), status.connectivity === 'auth_stale');

  const notice = $('connection-notice');
  const mismatch = status.connectivity === 'version_mismatch';
  show(notice, connectionNoticeShown(status));
  notice.dataset.kind = mismatch ? 'version_mismatch' : 'offline';
  // Nobody keyed in: the last key-in could not reach the server. Nothing retries it in the
  // background, so the notice says when it was tried and that the next key-in tries again.
  const idle = status.state === 'idle';
  setText($('connection-heading'), mismatch ? 'Attune and the server do not match'
    : idle ? 'The server could not be reached' : 'Working offline');
  // DESIGN §3: an offline session is retried in the background; a version mismatch is not (until restart).
  const saved = status.source === 'cache' ? formatAgeAsDate(status.cache_age_seconds) : null;
  const inUse = status.source === 'cache'
    ? (saved ? `Using your saved settings from ${saved}.` : 'Using your settings saved on this computer.') : '';
  const tried = formatUnix(status.last_cloud_failure);
  const text = mismatch ? inUse
    : idle ? `${tried ? `Last tried ${tried}. ` : ''}Attune tries again when you key in.`
      : `${inUse} Attune keeps trying the server in the background.`.trim();
  setText($('connection-text'), text);
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
  renderReport($('apply-report'), status.applied, { idPrefix: 'apply-report' });
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

/** Applies the keyed-in person's text size and contrast to the page itself (DESIGN §8). */
export function applyAppearance(appearance) {
  const root = document.documentElement;
  const scale = appearance && typeof appearance.text_scale === 'number' && appearance.text_scale > 0
    ? appearance.text_scale : 1;
  root.style.setProperty('--text-scale', String(scale));
  if (appearance && appearance.high_contrast === true) root.dataset.theme = 'high-contrast';
  else delete root.dataset.theme;
}

export function renderStatus(status) {
  document.body.dataset.state = status.state;
  document.body.dataset.profile = status.profile;
  renderStatusRegion(status);
  renderNotices(status);
  renderSession(status);
  renderAdjustSection(status);
  applyAppearance(status.appearance);
}
