// Writes the few screenshots kept in docs/screenshots/ (ui-*.png), from the test scenarios.
// Not a test: run it by hand after a visible change (node tests/docs-screenshots.mjs), look at
// the pictures, commit them. Small: 800 px wide, only the top of the page (or one part of it).
import path from 'node:path';
import * as H from './harness.mjs';

const out = path.resolve(H.uiRoot, '..', 'docs', 'screenshots');
const SHOTS = [
  ['idle-testing', 'ui-idle-testing.png', {}],
  ['cloud-online', 'ui-keyed-in-cloud.png', {}],
  ['cache-offline', 'ui-offline-cache.png', {}],
  ['stale-token', 'ui-stale-token.png', {}],
  ['snapset-readonly', 'ui-snapset-high-contrast.png', {}],
  ['diagnostics-open', 'ui-diagnostics.png', {}],
  ['error-key-invalid', 'ui-error-320px.png', { viewport: { width: 320, height: 640 } }],
  ['pending-outbox', 'ui-forced-colors-adjustments.png', { media: { forcedColors: 'active', contrast: 'more' } }, '#adjust-section'],
  ['forget-refused-unsent', 'ui-forget-unsent.png', {}, '#forget-section'],
  ['forgotten', 'ui-forgotten.png', {}],
  ['usb-key-saved', 'ui-usb-key-saved.png', {}, '#stick-section'],
  ['usb-key-refused', 'ui-usb-key-refused.png', {}, '#stick-section'],
];

const { server, url } = await H.startServer();
const browser = await H.launch();
try {
  for (const [state, file, opts, part] of SHOTS) {
    const { page, context } = await H.openState(browser, url, state,
      { viewport: { width: 800, height: 900 }, ...opts });
    const target = part ? page.locator(part) : page;
    await target.screenshot({ path: path.join(out, file) });
    await context.close();
    console.log(path.join('docs', 'screenshots', file));
  }
} finally {
  await H.closeBrowser(browser);
  server.close();
}
