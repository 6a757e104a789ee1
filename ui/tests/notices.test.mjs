// The connection notice promises background retries only where something retries: an offline
// session is reconnected in the background; a key-in that reached nothing is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

function notice(state) {
  return H.withState(env, state, (page) => page.evaluate(() => {
    const n = document.getElementById('connection-notice');
    return { shown: !n.hidden, heading: n.querySelector('h2').textContent, text: document.getElementById('connection-text').textContent };
  }));
}

test('idle after a failed key-in: says when the server was last tried, promises nothing in the background', async () => {
  const n = await notice('idle-after-failure');
  assert.equal(n.shown, true);
  assert.equal(n.heading, 'The server could not be reached');
  assert.match(n.text, /^Last tried .*2026.*\. Attune tries again when you key in\.$/);
  assert.doesNotMatch(n.text, /keeps trying/);
});

test('an offline session from the cache says the server is retried in the background', async () => {
  const n = await notice('cache-offline');
  assert.equal(n.shown, true);
  assert.equal(n.heading, 'Working offline');
  assert.match(n.text, /Attune keeps trying the server in the background\.$/);
});

test('idle with no failure shows no connection notice', async () => {
  const n = await notice('idle-development');
  assert.equal(n.shown, false);
});

// A shared computer's idle key-out (docs/design.md §10.2): the warning is a banner read out at
// once; input (the shell says the warning is over) or the key-out itself takes it away.
test('the idle warning is an assertive banner until it is called off or the key-out comes', async () => {
  const seen = await H.withState(env, 'cloud-online', async (page) => {
    const banner = () => page.evaluate(() => ({
      shown: !document.getElementById('idle-notice').hidden,
      text: document.getElementById('idle-text').textContent,
      said: document.getElementById('live-assertive').textContent,
    }));
    const before = await banner();
    const soon = 'Are you still there? You will be keyed out in 60 seconds. Move the mouse or press a key to stay.';
    await page.evaluate((text) => window.__ATTUNE_MOCK__.emitListener({ kind: 'idle_key_out_soon', text }), soon);
    await page.waitForSelector('#idle-notice:not([hidden])');
    // Read out once the live region has it (announce() empties it first, then fills it).
    await page.waitForFunction(() => document.getElementById('live-assertive').textContent !== '');
    const warned = await banner();
    await page.evaluate(() => window.__ATTUNE_MOCK__.emitListener({ kind: 'idle_key_out_cancelled', text: 'You are still keyed in.' }));
    await page.waitForSelector('#idle-notice', { state: 'hidden' });
    const cancelled = await banner();
    return { before, warned, cancelled, soon };
  });
  assert.equal(seen.before.shown, false);
  assert.equal(seen.warned.shown, true);
  assert.equal(seen.warned.text, seen.soon);
  assert.equal(seen.warned.said, seen.soon);
  assert.equal(seen.cancelled.shown, false);
});
