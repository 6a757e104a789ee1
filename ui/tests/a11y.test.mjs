// axe-core against every UI state, in Debian's headless Chromium: as is, in a 320 CSS px window
// (400% zoom of a 1280 px screen), at 200% text, and with forced colours, more contrast and
// reduced motion. Zero violations; no sideways scrolling; no CSP violation or script error.
// Screenshots of each go to tests/screenshots/ (git-ignored) for people to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as H from './harness.mjs';

const VARIANTS = {
  default: {},
  narrow: { viewport: { width: 320, height: 640 } },
  text200: { textPercent: 200 },
  'forced-colors': { media: { forcedColors: 'active', contrast: 'more', reducedMotion: 'reduce' } },
  'dark-contrast': { media: { colorScheme: 'dark', contrast: 'more', reducedMotion: 'reduce' } },
};

const summary = [];

const env = H.useBrowser({
  setup: async ({ browser }) => {
    fs.mkdirSync(H.screenshotDir, { recursive: true });
    for (const [variant, opts] of Object.entries(VARIANTS)) pages[variant] = await H.newPage(browser, opts);
  },
  teardown: async () => {
    console.log(`axe violations per state and variant:\n${summary.join('\n')}`);
  },
});

/** One page per variant, loaded side by side, reused for every state. */
const pages = {};

async function check(state, variant) {
  const { page, problems } = pages[variant];
  await H.gotoState(page, env.url, state, problems);
  const violations = await H.axe(page);
  const overflow = await H.horizontalOverflow(page);
  // A full-page screenshot resizes the page, which makes Chromium drop the CDP font sizes of
  // text200 for the rest of that document: that variant is pictured as the window shows it.
  const fullPage = state !== 'diagnostics-open' && variant !== 'text200';
  await page.screenshot({ path: path.join(H.screenshotDir, `${state}-${variant}.png`), fullPage });
  return { violations, overflow, problems: [...problems] };
}

for (const state of H.stateNames) {
  test(`${state}: no axe violations, reflows, no CSP or script errors`, async (t) => {
    const variants = Object.keys(VARIANTS);
    const results = await Promise.all(variants.map((variant) => check(state, variant)));
    for (const [i, variant] of variants.entries()) {
      const { violations, overflow, problems } = results[i];
      summary.push(`  ${state} / ${variant}: ${violations.length}`);
      await t.test(variant, () => {
        assert.equal(violations.length, 0, H.describeViolations(violations));
        assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
        assert.deepEqual(problems, []);
      });
    }
  });
}

test('the harness catches a violation (a control without a label)', () => H.withState(env, 'idle-development', async (page) => {
  await page.evaluate(() => document.querySelector('label[for="key-input"]').remove());
  const violations = await H.axe(page);
  assert.ok(violations.some((v) => v.id === 'label'), H.describeViolations(violations));
}));

test('the preview server (tests/preview.mjs) renders a state with the mock, within the CSP', async () => {
  const preview = await H.startServer({ preview: true });
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  try {
    await page.goto(`${preview.url}?state=stale-token`);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.textContent('#message'), 'Something has gone wrong. Please log out and log back in.');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    preview.server.close();
  }
});
