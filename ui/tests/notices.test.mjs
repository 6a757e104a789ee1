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
