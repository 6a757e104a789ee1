// The page applies the keyed-in person's appearance to itself (docs/design.md §8): text_scale
// multiplies the root font size, high_contrast switches to the high-contrast theme; both go back at
// key-out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

const env = H.useBrowser();

const rootFontPx = (page) => page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
const theme = (page) => page.evaluate(() => document.documentElement.dataset.theme ?? null);
const bodyColours = (page) => page.evaluate(() => {
  const s = getComputedStyle(document.body);
  return [s.backgroundColor, s.color];
});

test('text_scale multiplies the root font size', () => H.withState(env, 'cloud-online', async (page) => {
  assert.equal(await rootFontPx(page), 24); // 16 px × 1.5
  assert.equal(await theme(page), null);
}));

test('text_scale multiplies the person\'s own browser text size too', () => H.withState(env, 'cloud-online', async (page) => {
  assert.equal(await rootFontPx(page), 48); // 32 px × 1.5
}, { textPercent: 200 }));

test('high_contrast switches the page to its high-contrast theme', () => H.withState(env, 'snapset-readonly', async (page) => {
  assert.equal(await theme(page), 'high-contrast');
  assert.deepEqual(await bodyColours(page), ['rgb(0, 0, 0)', 'rgb(255, 255, 255)']);
  assert.equal(await rootFontPx(page), 20); // 16 px × 1.25
}));

test('the appearance follows each status and goes back when nobody is keyed in', () => H.withState(env, 'snapset-readonly', async (page) => {
  const idle = H.fixture('status/restored-idle-testing.json');
  await page.evaluate((s) => window.__ATTUNE_MOCK__.emitStatus(s), idle);
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  assert.equal(await theme(page), null);
  assert.equal(await rootFontPx(page), 16);
  assert.deepEqual(await bodyColours(page), ['rgb(255, 255, 255)', 'rgb(22, 25, 29)']);
}));
