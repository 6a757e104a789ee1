// Keyboard only: Tab reaches every control in reading order; Enter in the key field keys in;
// the snapset picker, the quick adjustments, key-out and the stale-token button work from the
// keyboard; Escape closes Diagnostics and focus returns to its button; errors appear next to
// their control. The mock records every command the page sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

const focusedId = (page) => page.evaluate(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  return el.id || `${el.tagName.toLowerCase()}[href=${el.getAttribute('href')}]`;
});
/** The commands the person's actions sent (the page's own start-up reads left out). */
const calls = (page) => page.evaluate(() => window.__ATTUNE_MOCK__.calls
  .filter((c) => c.command !== 'get_status' && c.command !== 'list_snapsets'));

/** What Tab should reach: every visible, enabled, tabbable element in document order; of a
 * group of radio buttons only the checked one (the arrow keys move within the group). */
const tabbables = (page) => page.evaluate(() => [...document.querySelectorAll(
  'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])')]
  .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0
    && !el.closest('dialog:not([open])') && getComputedStyle(el).visibility !== 'hidden'
    && !(el.type === 'radio' && !el.checked))
  .map((el) => el.id || `${el.tagName.toLowerCase()}[href=${el.getAttribute('href')}]`));

async function tabWalk(page) {
  const seen = [];
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    const id = await focusedId(page);
    if (id === null || (seen.length && id === seen[0])) break;
    seen.push(id);
  }
  return seen;
}

/** Tabs forward until `id` has focus (fails if it is never reached). */
async function tabTo(page, id) {
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    if (await focusedId(page) === id) return;
  }
  assert.fail(`Tab never reached #${id}`);
}

/** H.withState, and no script error or CSP violation on the way. */
function withState(name, fn, opts) {
  return H.withState(env, name, async (page, problems) => {
    await fn(page);
    assert.deepEqual(problems, []);
  }, opts);
}

for (const state of ['idle-testing', 'cloud-online', 'stale-token', 'restore-incomplete']) {
  test(`${state}: Tab reaches every control, in reading order`, () => withState(state, async (page) => {
    const walked = await tabWalk(page);
    assert.deepEqual(walked, await tabbables(page));
    assert.equal(walked[0], 'a[href=#main]', 'the skip link comes first');
    assert.equal(walked.at(-1), 'diagnostics-button');
  }));
}

test('idle testing profile: the key field, the snapset picker and Diagnostics are reachable', () =>
  withState('idle-testing', async (page) => {
    const walked = await tabWalk(page);
    for (const id of ['key-input', 'key-in-button', 'snapset-select', 'snapset-key-in-button', 'diagnostics-button']) {
      assert.ok(walked.includes(id), `${id} is not reachable: ${walked}`);
    }
    assert.ok(walked.indexOf('key-input') < walked.indexOf('snapset-select'));
  }));

test('Enter in the key field keys in with the typed key; focus goes to the result', () =>
  withState('idle-development', async (page) => {
    await tabTo(page, 'key-input');
    await page.keyboard.type('0f6c9d4e-5a1b');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#session-section:not([hidden])');
    assert.deepEqual(await calls(page), [{ command: 'key_in', args: { key: '0f6c9d4e-5a1b' } }]);
    assert.equal(await focusedId(page), 'session-heading');
    assert.equal(await page.textContent('#message'), 'Your settings are applied.');
    assert.equal(await page.textContent('#key-in-result'), 'Some of your settings could not be applied; the rest are in place.');
    assert.ok((await page.textContent('#apply-report')).includes('text-scaling-factor'));
    await page.waitForFunction(() => document.getElementById('live-polite').textContent !== '');
  }));

test('a snapset is chosen and keyed in from the keyboard', () =>
  withState('idle-testing', async (page) => {
    await tabTo(page, 'snapset-select');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    assert.equal(await focusedId(page), 'snapset-key-in-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#session-section:not([hidden])');
    assert.deepEqual(await calls(page), [{ command: 'key_in', args: { key: 'snapset_1a' } }]);
    assert.equal(await page.textContent('#save-state'), 'read-only snapset: applied here, never saved');
  }));

test('the picker says where a snapset comes from and does not offer one that cannot be used', () =>
  withState('idle-testing', async (page) => {
    const options = await page.$$eval('#snapset-select option', (os) =>
      os.map((o) => ({ value: o.value, text: o.textContent, disabled: o.disabled, title: o.title })));
    const lab = options.find((o) => o.value === 'lab_reading');
    assert.equal(lab.text, "Lab: reading (lab_reading) — this site's");
    assert.equal(lab.title, '/etc/attune/snapsets/lab_reading.json5');
    assert.equal(lab.disabled, false);
    const draft = options.find((o) => o.value === 'my_draft');
    assert.equal(draft.text, 'my_draft — yours — cannot be used');
    assert.equal(draft.disabled, true);
    assert.ok(draft.title.includes('not valid JSON5'), draft.title);
    assert.equal(options.find((o) => o.value === 'snapset_1a').disabled, false);
  }));

test('an empty key is not sent; the alert says what to do', () =>
  withState('idle-development', async (page) => {
    await tabTo(page, 'key-input');
    await page.keyboard.press('Enter');
    assert.deepEqual(await calls(page), []);
    assert.equal(await page.isVisible('#key-in-error'), true);
    assert.equal(await focusedId(page), 'key-input');
  }));

test('a rejected key-in shows Rust\'s message next to the field, assertively, and keeps focus there', () =>
  withState('error-key-invalid', async (page) => {
    const message = H.fixture('errors/key-invalid.json').message;
    assert.equal(await page.textContent('#key-in-error'), message);
    assert.equal(await page.getAttribute('#key-in-error', 'role'), 'alert');
    assert.equal(await page.getAttribute('#key-input', 'aria-invalid'), 'true');
    assert.match(await page.getAttribute('#key-input', 'aria-describedby'), /key-in-error/);
    assert.equal(await focusedId(page), 'key-input');
    assert.equal(await page.textContent('#live-assertive'), message);
    // Typing again clears the error.
    await page.keyboard.type('x');
    assert.equal(await page.isVisible('#key-in-error'), false);
  }));

test('busy: the message is shown and nothing else changes', () =>
  withState('error-busy', async (page) => {
    assert.equal(await page.textContent('#key-in-error'), H.fixture('errors/busy.json').message);
    assert.equal(await page.isVisible('#key-in-section'), true);
  }));

test('the stale-token button calls relogin', () =>
  withState('stale-token', async (page) => {
    assert.equal(await page.textContent('#message'), 'Something has gone wrong. Please log out and log back in.');
    await tabTo(page, 'relogin-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#stale-notice', { state: 'hidden' });
    assert.deepEqual(await calls(page), [{ command: 'relogin', args: null }]);
    assert.equal(await focusedId(page), 'session-heading');
  }));

test('a token going stale is announced assertively with Rust\'s exact words', () =>
  withState('cloud-online', async (page) => {
    await page.evaluate((s) => window.__ATTUNE_MOCK__.emitStatus(s), H.fixture('status/stale-token.json'));
    await page.waitForFunction(() => document.getElementById('live-assertive').textContent !== '');
    assert.equal(await page.textContent('#live-assertive'), 'Something has gone wrong. Please log out and log back in.');
    assert.equal(await page.isVisible('#relogin-button'), true);
  }));

test('going offline is announced politely', () =>
  withState('cloud-online', async (page) => {
    const offline = H.fixture('status/cache-offline.json');
    await page.evaluate((s) => window.__ATTUNE_MOCK__.emitStatus(s), offline);
    await page.waitForFunction(() => document.getElementById('live-polite').textContent !== '');
    assert.equal(await page.textContent('#live-polite'), offline.message);
    assert.equal(await page.textContent('#live-assertive'), '');
    assert.equal(await page.textContent('#connection-text'),
      'Using your saved settings from 23 Nov 2026, 07:00 (2 hours old). Attune keeps trying the server in the background.');
    assert.equal(await page.title(), 'Offline — Attune');
  }));

test('a quick adjustment changed from the keyboard calls set_preference with its term', () =>
  withState('cloud-online', async (page) => {
    await tabTo(page, 'adjust-fontSize');
    // Each arrow step is a change of its own (applied at once, as a slider would be).
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Tab');
    await page.waitForFunction(() => window.__ATTUNE_MOCK__.calls.filter((c) => c.command === 'set_preference').length === 2);
    const fontSize = 'http://registry.gpii.net/common/fontSize';
    assert.deepEqual(await calls(page), [
      { command: 'set_preference', args: { term: fontSize, value: 19 } },
      { command: 'set_preference', args: { term: fontSize, value: 20 } }]);
    assert.equal(await focusedId(page), 'adjust-highContrast');
    await page.keyboard.press('Space');
    await page.waitForFunction(() => window.__ATTUNE_MOCK__.calls.filter((c) => c.command === 'set_preference').length === 3);
    assert.deepEqual((await calls(page))[2], { command: 'set_preference',
      args: { term: 'http://registry.gpii.net/common/highContrast/enabled', value: true } });
    assert.equal(await page.textContent('#save-state'), 'saved');
  }));

test('the save state says how many changes wait', () =>
  withState('pending-outbox', async (page) => {
    assert.equal(await page.textContent('#save-state'), 'not yet saved (2)');
  }));

test('an out-of-range number is not sent; the alert says the range', () =>
  withState('cloud-online', async (page) => {
    await page.fill('#adjust-fontSize', '99');
    await page.keyboard.press('Tab');
    assert.deepEqual(await calls(page), []);
    assert.equal(await page.textContent('#adjust-fontSize-error'), 'Enter a number from 9 to 36.');
    assert.equal(await page.getAttribute('#adjust-fontSize', 'aria-invalid'), 'true');
  }));

test('log out and restore: key_out is called and the result is shown and focused', () =>
  withState('cloud-online', async (page) => {
    await tabTo(page, 'key-out-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#key-out-result:not([hidden])');
    assert.deepEqual(await calls(page), [{ command: 'key_out', args: null }]);
    assert.equal(await page.textContent('#key-out-result-text'), 'This computer has been put back as it was.');
    assert.equal(await focusedId(page), 'key-out-result-heading');
    assert.equal(await page.isVisible('#key-input'), true);
  }));

test('an incomplete restore lists what was not put back', () =>
  withState('restore-incomplete', async (page) => {
    await page.click('#key-out-button');
    await page.waitForSelector('#key-out-result:not([hidden])');
    const text = await page.textContent('#key-out-result');
    assert.match(text, /could not be put back/);
    assert.match(text, /the settings database is locked/);
  }));

test('Escape closes Diagnostics and focus returns to its button', () =>
  withState('cloud-online', async (page) => {
    await tabTo(page, 'diagnostics-button');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#diagnostics-content:not([hidden])');
    assert.equal(await page.evaluate(() => document.getElementById('diagnostics-dialog').open), true);
    assert.ok((await calls(page)).some((c) => c.command === 'get_diagnostics'));
    assert.match(await page.textContent('#diagnostics-facts'), /attune\.log/);
    assert.equal(await page.locator('#contacts-body tr').count(), 4);
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.getElementById('diagnostics-dialog').open), false);
    assert.equal(await focusedId(page), 'diagnostics-button');
  }));

test('Copy support bundle: copied to the clipboard when allowed', () =>
  withState('cloud-online', async (page) => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.url });
    await page.click('#diagnostics-button');
    await page.click('#copy-bundle-button');
    await page.waitForFunction(() => document.getElementById('bundle-status').textContent !== '');
    assert.match(await page.textContent('#bundle-status'), /copied/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), H.scenario('cloud-online').commands.support_bundle.resolve);
    assert.equal(await page.isVisible('#bundle-fallback'), false);
  }));

test('Copy support bundle: without a clipboard the text is shown, selected', () =>
  withState('cloud-online', async (page) => {
    await page.evaluate(() => Object.defineProperty(navigator, 'clipboard', { value: undefined }));
    await page.click('#diagnostics-button');
    await page.click('#copy-bundle-button');
    await page.waitForSelector('#bundle-fallback:not([hidden])');
    assert.equal(await focusedId(page), 'bundle-text');
    const selected = await page.evaluate(() => {
      const t = document.getElementById('bundle-text');
      return t.value.slice(t.selectionStart, t.selectionEnd);
    });
    assert.equal(selected, H.scenario('cloud-online').commands.support_bundle.resolve);
    assert.equal(await page.getAttribute('#bundle-text', 'readonly'), '');
  }));

test('a slow key-in shows its progress and a second Enter sends nothing more', () =>
  withState('keying-in', async (page) => {
    assert.equal(await page.isVisible('#key-in-progress'), true);
    assert.equal(await page.getAttribute('#key-in-button', 'aria-disabled'), 'true');
    await page.keyboard.press('Enter');
    assert.deepEqual(await calls(page), [{ command: 'key_in', args: { key: '0f6c9d4e-5a1b' } }]);
    await page.waitForFunction(() => document.getElementById('live-polite').textContent.startsWith('Keying in'));
  }));

test('when a status hides the focused field (keyed in elsewhere), focus goes to what is shown', () =>
  withState('idle-development', async (page) => {
    await tabTo(page, 'key-input');
    await page.evaluate((s) => window.__ATTUNE_MOCK__.emitStatus(s), H.fixture('status/cloud-online.json'));
    await page.waitForFunction(() => document.body.dataset.state === 'active');
    assert.equal(await focusedId(page), 'session-heading');
  }));

test('a key-in that first finished an interrupted session says both', () =>
  withState('keyed-in-after-unexpected-stop', async (page) => {
    assert.equal(await page.textContent('#key-in-result'),
      "Attune stopped unexpectedly last time. This computer's settings have been put back as they were. Your settings are applied.");
  }));

test('in a read-only snapset a change applies here and Rust\'s words say it is not saved', () =>
  withState('snapset-readonly', async (page) => {
    assert.equal(await page.textContent('#save-state'), 'read-only snapset: applied here, never saved');
    await tabTo(page, 'adjust-highContrast');
    await page.keyboard.press('Space');
    await page.waitForSelector('#adjust-message:not([hidden])');
    assert.deepEqual(await calls(page), [{ command: 'set_preference',
      args: { term: 'http://registry.gpii.net/common/highContrast/enabled', value: false } }]);
    assert.equal(await page.textContent('#adjust-message'), H.fixture('set/read-only.json').message);
    await page.waitForFunction(() => document.getElementById('live-polite').textContent.startsWith('Changed on this computer'));
  }));
