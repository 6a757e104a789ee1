// "Forget me" (docs/app.md, docs/design.md §10.3): offered to a person keyed in, not in a snapset
// session; asks Rust with the reach the person chose; a refusal for changes not yet saved shows
// Rust's sentence and a tick to lose them, which the next ask sends; forgotten, the person is
// logged out and Rust's sentence is shown where a log-out's goes. The mock records every command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

const calls = (page) => page.evaluate(() => window.__ATTUNE_MOCK__.calls
  .filter((c) => c.command === 'forget_me'));

function withState(name, fn) {
  return H.withState(env, name, async (page, problems) => {
    await fn(page);
    assert.deepEqual(problems, []);
  });
}

test('forget me is offered to a person keyed in, and not in a snapset session', async () => {
  await withState('cloud-online', async (page) => {
    assert.equal(await page.isHidden('#forget-section'), false);
    assert.equal(await page.isChecked('#forget-here'), true, 'this computer only, to begin with');
    assert.equal(await page.isHidden('#forget-unsent'), true);
  });
  await withState('snapset-readonly', async (page) => {
    assert.equal(await page.isHidden('#forget-section'), true);
  });
  await withState('idle-development', async (page) => {
    assert.equal(await page.isHidden('#forget-section'), true);
  });
});

test('forgotten: logged out, with Rust\'s sentence where a log-out\'s goes', () =>
  withState('forgotten', async (page) => {
    assert.deepEqual(await calls(page), [{ command: 'forget_me', args: { everywhere: false, dropUnsent: false } }]);
    assert.equal(await page.textContent('#key-out-result-text'),
      'This computer has forgotten you: your saved settings and unsent changes are gone from it.');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'key-out-result-heading');
    assert.equal(await page.isHidden('#forget-section'), true, 'nobody keyed in now');
  }));

test('changes not yet saved: nothing forgotten, Rust\'s sentence, and a tick to lose them that the next ask sends', () =>
  withState('forget-refused-unsent', async (page) => {
    assert.equal(await page.textContent('#forget-error'),
      'Your changes not yet saved would be lost (Text size: 166.67 %). Nothing has been forgotten; forget anyway to lose them.');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'forget-drop-unsent');
    assert.equal(await page.isHidden('#forget-section'), false, 'still keyed in');
    await page.click('label[for="forget-everywhere"]');
    await page.click('label[for="forget-drop-unsent"]');
    await page.click('#forget-button');
    assert.deepEqual(await calls(page), [
      { command: 'forget_me', args: { everywhere: false, dropUnsent: false } },
      { command: 'forget_me', args: { everywhere: true, dropUnsent: true } },
    ]);
  }));
