// "Save these settings as mine" (docs/app.md, docs/capture.md): the capture is shown as a tick
// list in Rust's words, every line ticked; only the ticked lines' ids are sent; nothing ticked is
// an error next to the button and sends nothing; a refused save shows Rust's sentence there. The
// mock records every command the page sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

/** The commands the person's actions sent (the page's own start-up reads left out). */
const calls = (page) => page.evaluate(() => window.__ATTUNE_MOCK__.calls
  .filter((c) => c.command !== 'get_status' && c.command !== 'list_snapsets'));

const ticks = (page) => page.$$eval('#capture-list input[type="checkbox"]', (inputs) => inputs.map((i) => ({
  label: document.querySelector(`label[for="${i.id}"]`).textContent, checked: i.checked, id: i.value,
})));

function withState(name, fn) {
  return H.withState(env, name, async (page, problems) => {
    await fn(page);
    assert.deepEqual(problems, []);
  });
}

test('the capture is a tick list in words, every line ticked, changing nothing', () =>
  withState('capture-review', async (page) => {
    const list = await ticks(page);
    assert.deepEqual(list.map((t) => t.label), [
      'Pointer size: large',
      'Text size: 125 %',
      'High contrast: on',
      'Mouse keys top speed: 400 pixels a second',
      'Pointer size on GNOME: 40 pixels',
    ]);
    assert.ok(list.every((t) => t.checked));
    assert.deepEqual(await calls(page), [{ command: 'capture_desktop', args: null }]);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'capture-item-0');
  }));

test('saving sends only the ticked lines and says what happened', () =>
  withState('cloud-online', async (page) => {
    await H.act(page, 'review-capture');
    await page.click('label[for="capture-item-4"]');
    await page.click('label[for="capture-item-3"]');
    await page.click('#capture-save-button');
    await page.waitForFunction(() => document.getElementById('capture-result').textContent !== '');
    const sent = (await calls(page)).find((c) => c.command === 'save_capture');
    assert.deepEqual(sent.args.ids, [
      'http://registry.gpii.net/common/cursorSize',
      'http://registry.gpii.net/common/fontSize',
      'http://registry.gpii.net/common/highContrast/enabled',
    ]);
    assert.equal(await page.textContent('#capture-result'), 'Saved.');
    assert.equal(await page.isHidden('#capture-form'), true);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'capture-heading');
  }));

test('with nothing ticked, saving says so next to the button and sends nothing', () =>
  withState('capture-review', async (page) => {
    for (let i = 0; i < 5; i += 1) await page.click(`label[for="capture-item-${i}"]`);
    await page.click('#capture-save-button');
    assert.equal(await page.isVisible('#capture-save-error'), true);
    assert.match(await page.textContent('#capture-save-error'), /Tick at least one/);
    assert.equal(await page.getAttribute('#capture-save-button', 'aria-invalid'), 'true');
    assert.equal((await calls(page)).some((c) => c.command === 'save_capture'), false);
  }));

test('a save the flow refuses (a snapset) shows its sentence next to the button', () =>
  withState('capture-refused', async (page) => {
    assert.match(await page.textContent('#capture-save-error'), /snapset, which is read-only/);
    assert.equal(await page.isVisible('#capture-form'), true, 'the list stays to try again later');
  }));
