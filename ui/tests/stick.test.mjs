// "Save my settings to this USB key" (docs/app.md, docs/design.md §10.3): offered only when Rust
// says a USB key is in and the person keyed in may save to it (`usb_key.can_save`), naming the
// key; asks Rust (which writes to the stick it saw, the page names no folder); shows Rust's
// sentence, or why it could not, with the focus on the button to try again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

const calls = (page) => page.evaluate(() => window.__ATTUNE_MOCK__.calls
  .filter((c) => c.command === 'save_to_stick'));

function withState(name, fn) {
  return H.withState(env, name, async (page, problems) => {
    await fn(page);
    assert.deepEqual(problems, []);
  });
}

test('offered with a USB key in and someone keyed in, naming the key; not otherwise', async () => {
  await withState('usb-key-in', async (page) => {
    assert.equal(await page.isHidden('#stick-section'), false);
    assert.equal(await page.isHidden('#nav-stick'), false);
    assert.equal(await page.textContent('#stick-label'), '“SAMSTICK”');
    assert.equal(await page.textContent('#stick-button'), 'Save my settings to this USB key');
  });
  for (const state of ['cloud-online', 'snapset-readonly', 'idle-development', 'cache-offline']) {
    await withState(state, async (page) => {
      assert.equal(await page.isHidden('#stick-section'), true, state);
      assert.equal(await page.isHidden('#nav-stick'), true, state);
    });
  }
});

test('saved: Rust\'s sentence, said in the status region', () =>
  withState('usb-key-saved', async (page) => {
    assert.deepEqual(await calls(page), [{ command: 'save_to_stick', args: null }]);
    assert.equal(await page.textContent('#stick-result'),
      'Your settings are saved on this USB key. On a computer that cannot reach the preferences server, it brings them with you; keep it safe, as you would a key.');
    assert.equal(await page.isHidden('#stick-error'), true);
  }));

test('a USB key that cannot be written: Rust\'s reason, the focus back on the button to try again', () =>
  withState('usb-key-refused', async (page) => {
    assert.equal(await page.textContent('#stick-error'),
      'Could not save to /media/sam/SAMSTICK: Read-only file system (os error 30). Is the USB key in, not write-protected and not full?');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'stick-button');
    assert.equal(await page.textContent('#stick-result'), '');
  }));

test('keyed in from the USB key with the server away: said as the USB key\'s settings, with their date', () =>
  withState('stick-offline', async (page) => {
    const notice = await page.textContent('#status');
    assert.match(notice, /Using your settings from your USB key, saved \S/);
    assert.doesNotMatch(notice, /\{saved\}/);
    assert.match(notice, /Settings from\s*your USB key/);
    assert.equal(await page.isHidden('#stick-section'), false, 'a fresher copy can be saved to it');
  }));
