// Test harness: a static server for ui/ on 127.0.0.1 (with the app's CSP as a header, so the
// tests catch inline scripts and styles), Debian's Chromium driven by playwright-core, the
// scenario fixtures, and axe-core.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const uiRoot = path.resolve(here, '..');
const fixtures = path.join(here, 'fixtures');
const axePath = path.join(uiRoot, 'node_modules', 'axe-core', 'axe.min.js');
export const screenshotDir = path.join(here, 'screenshots');

/** The CSP of src-tauri/tauri.conf.json (app.security.csp). */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src ipc: http://ipc.localhost";

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/**
 * Serves ui/ on 127.0.0.1 (port 0: any free one). With `preview`, `/?state=<name>` is the page
 * with the mock and that scenario loaded by two plain script tags (for people to try a state in
 * a browser: tests/preview.mjs).
 */
export function startServer({ preview = false, port = 0 } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file;
    if (preview && servePreview(url, res)) return;
    if (url.pathname === '/__tests__/axe.min.js') file = axePath;
    else {
      const rel = decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname);
      file = path.resolve(uiRoot, `.${rel}`);
      if (!file.startsWith(uiRoot + path.sep) || file.includes(`${path.sep}node_modules${path.sep}`)
          || file.startsWith(path.join(uiRoot, 'tests') + path.sep)) {
        res.writeHead(404).end();
        return;
      }
    }
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404).end(); return; }
      res.writeHead(200, {
        'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
        'Content-Security-Policy': CSP,
        'Cache-Control': 'no-store',
      });
      res.end(data);
    });
  });
  // No server-side timeouts: Node answers 408 on a connection that sent no request for 60 s
  // (headersTimeout), which Chromium's idle, pre-opened connections do when a suite runs long on
  // a loaded machine; the page then reports a resource that failed to load (seen in a stress run).
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.keepAliveTimeout = 0;
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

function servePreview(url, res) {
  const send = (type, body) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  const state = url.searchParams.get('state');
  if (url.pathname === '/' && state && scenarios.states[state]) {
    const html = fs.readFileSync(path.join(uiRoot, 'index.html'), 'utf8').replace(
      '<script type="module" src="js/main.js"></script>',
      `<script src="/__preview__/scenario.js?state=${encodeURIComponent(state)}"></script>\n  `
      + '<script src="/__preview__/mock-tauri.js"></script>\n  <script type="module" src="js/main.js"></script>');
    send(TYPES['.html'], html);
    return true;
  }
  if (url.pathname === '/' && !state) {
    const links = stateNames.map((n) => `<li><a href="/?state=${n}">${n}</a></li>`).join('');
    send(TYPES['.html'], `<!doctype html><html lang="en"><title>Attune UI states</title><main><h1>Attune UI states</h1><ul>${links}</ul></main></html>`);
    return true;
  }
  if (url.pathname === '/__preview__/scenario.js' && scenarios.states[state]) {
    send(TYPES['.js'], `window.__ATTUNE_SCENARIO__ = ${JSON.stringify(scenario(state))};`);
    return true;
  }
  if (url.pathname === '/__preview__/mock-tauri.js') {
    send(TYPES['.js'], fs.readFileSync(path.join(here, 'mock-tauri.js')));
    return true;
  }
  return false;
}

/**
 * For a test file: starts the page server and Chromium before its tests, stops both after them.
 * `env.url` and `env.browser` are set once `before` has run; `setup(env)` runs after them and
 * `teardown(env)` before they stop.
 */
export function useBrowser({ setup, teardown } = {}) {
  const env = { server: null, url: null, browser: null };
  before(async () => {
    ({ server: env.server, url: env.url } = await startServer());
    env.browser = await launch();
    await setup?.(env);
  });
  after(async () => {
    await teardown?.(env);
    await closeBrowser(env.browser);
    env.server?.close();
  });
  return env;
}

// Chromium's own output, as Playwright logs it with DEBUG=pw:browser (stderr, how it exited):
// into the file ATTUNE_UI_BROWSER_LOG rather than the test report, which scripts/test-ui.sh prints
// only if the suite fails.
const browserLog = process.env.ATTUNE_UI_BROWSER_LOG;
if (browserLog) {
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk, ...rest) => {
    if (String(chunk).includes(' pw:browser ')) {
      fs.appendFileSync(browserLog, chunk);
      return true;
    }
    return write(chunk, ...rest);
  };
}

/** Browsers being closed on purpose (their disconnect is not a failure). */
const closing = new WeakSet();

/**
 * Chromium. A browser that dies before the tests close it is named in the report, so the failure
 * says where, not only "Target page, context or browser has been closed" in the tests that
 * follow; its own output is in the browser log (above).
 */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser.on('disconnected', () => {
    if (closing.has(browser)) return;
    console.error(`Chromium disconnected before the tests closed it (${new Date().toISOString()}); `
      + `its own output: ${browserLog || 'run with DEBUG=pw:browser and ATTUNE_UI_BROWSER_LOG=FILE'}`);
  });
  return browser;
}

/** Closes a browser from launch() on purpose. */
export async function closeBrowser(browser) {
  if (!browser) return;
  closing.add(browser);
  await browser.close();
}

const readJson = (rel) => JSON.parse(fs.readFileSync(path.join(fixtures, rel), 'utf8'));
export const scenarios = JSON.parse(fs.readFileSync(path.join(here, 'scenarios.json'), 'utf8'));
export const stateNames = Object.keys(scenarios.states);

/** A scenario with its fixture files read: what mock-tauri.js expects. */
export function scenario(name) {
  const s = scenarios.states[name];
  if (!s) throw new Error(`no scenario ${name}`);
  const commands = {};
  for (const [cmd, a] of Object.entries({ ...scenarios.defaults, ...(s.commands || {}) })) {
    commands[cmd] = {
      resolve: a.resolve_text ? fs.readFileSync(path.join(fixtures, a.resolve_text), 'utf8')
        : a.resolve ? readJson(a.resolve) : undefined,
      reject: a.reject ? readJson(a.reject) : undefined,
      then: a.then ? readJson(a.then) : undefined,
      only_profile: a.only_profile,
      delay_ms: a.delay_ms,
    };
  }
  return { status: readJson(s.status), commands, act: s.act };
}

export const fixture = readJson;

/** The "now" of the fixtures (Unix seconds): 2026-11-23 09:00 UTC. */
export const FIXTURE_NOW = 1795424400;

/**
 * A page with the mock installed, in a new context: `viewport`, `media` (Playwright emulateMedia
 * options), `textPercent` (the browser's default text size, as a person sets it: 200 = 32 px),
 * `status` (an AppStatus to start from instead of the scenario's). The page shows the scenario
 * named by `?state=` in its address (see gotoState), so one page serves many states.
 * Returns { page, context, problems } (problems: script errors and CSP violations of the current
 * state).
 */
export async function newPage(browser, opts = {}) {
  const context = await browser.newContext({
    viewport: opts.viewport || { width: 1024, height: 768 },
    reducedMotion: opts.media?.reducedMotion,
    forcedColors: opts.media?.forcedColors,
    colorScheme: opts.media?.colorScheme || 'light',
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  // The fixtures' times are relative to 2026-11-23 09:00 UTC; the page's clock is set to it so
  // ages and dates read the same on every run.
  await context.clock.setFixedTime(new Date(FIXTURE_NOW * 1000));
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  const all = Object.fromEntries(stateNames.map((n) => [n, scenario(n)]));
  if (opts.status) for (const sc of Object.values(all)) sc.status = opts.status;
  await page.addInitScript({ content: `window.__ATTUNE_SCENARIO__ = (${JSON.stringify(all)})[new URLSearchParams(location.search).get('state')];` });
  await page.addInitScript({ path: path.join(here, 'mock-tauri.js') });
  // As tauri.conf.json's freezePrototype: the page must not rely on changing Object.prototype.
  await page.addInitScript({ content: 'Object.freeze(Object.prototype);' });
  await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));" });
  if (opts.media) await page.emulateMedia(opts.media);
  if (opts.textPercent) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Page.setFontSizes', { fontSizes: { standard: 16 * opts.textPercent / 100, fixed: 13 * opts.textPercent / 100 } });
  }
  return { page, context, problems };
}

/** Loads state `name` into a page from newPage and plays its `act`. */
export async function gotoState(page, baseUrl, name, problems) {
  if (problems) problems.length = 0;
  await page.goto(`${baseUrl}?state=${encodeURIComponent(name)}`);
  await page.waitForSelector('body[data-ready="true"]');
  await act(page, scenarios.states[name].act);
}

/** newPage + gotoState: one state in a context of its own. */
export async function openState(browser, baseUrl, name, opts = {}) {
  const opened = await newPage(browser, opts);
  await gotoState(opened.page, baseUrl, name, opened.problems);
  return opened;
}

/** openState, then `fn(page, problems)`; the context is closed however it ends. What `fn` returns. */
export async function withState(env, name, fn, opts = {}) {
  const { page, context, problems } = await openState(env.browser, env.url, name, opts);
  try {
    return await fn(page, problems);
  } finally {
    await context.close();
  }
}

/** Types `key` into the key field and presses Enter; waits until `shown` (a selector) shows. */
async function typeKey(page, key, shown) {
  await page.focus('#key-input');
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`${shown}:not([hidden])`);
}

/** Brings the page into a scenario's state the way a person would. */
export async function act(page, what) {
  if (!what) return;
  if (what === 'type-key-and-enter') {
    await typeKey(page, 'not a key!', '#key-in-error');
  } else if (what === 'key-in') {
    await typeKey(page, '0f6c9d4e-5a1b', '#key-in-result');
  } else if (what === 'start-key-in') {
    await typeKey(page, '0f6c9d4e-5a1b', '#key-in-progress');
  } else if (what === 'open-diagnostics') {
    await page.click('#diagnostics-button');
    await page.waitForSelector('#diagnostics-content:not([hidden])');
  } else if (what === 'review-capture') {
    await page.click('#capture-button');
    await page.waitForSelector('#capture-form:not([hidden])');
  } else if (what === 'save-capture') {
    await act(page, 'review-capture');
    await page.click('#capture-save-button');
    await page.waitForFunction(() => document.getElementById('capture-result').textContent !== '');
  } else if (what === 'save-capture-refused') {
    await act(page, 'review-capture');
    await page.click('#capture-save-button');
    await page.waitForSelector('#capture-save-error:not([hidden])');
  } else if (what === 'forget') {
    await page.click('#forget-button');
    await page.waitForSelector('#key-out-result:not([hidden])');
  } else if (what === 'forget-refused-unsent') {
    await page.click('#forget-button');
    await page.waitForSelector('#forget-unsent:not([hidden])');
  } else if (what === 'save-to-stick') {
    await page.click('#stick-button');
    await page.waitForFunction(() => document.getElementById('stick-result').textContent !== '');
  } else if (what === 'save-to-stick-refused') {
    await page.click('#stick-button');
    await page.waitForSelector('#stick-error:not([hidden])');
  } else if (what === 'key-out') {
    await page.click('#key-out-button');
    await page.waitForSelector('#key-out-result:not([hidden])');
  } else {
    throw new Error(`unknown act ${what}`);
  }
  // Let the live regions' delayed writes land.
  await page.waitForTimeout(80);
}

/** axe-core's violations of every WCAG 2.x A and AA rule (and best practices) on the page. */
export async function axe(page) {
  await page.addScriptTag({ url: '/__tests__/axe.min.js' });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
    }));
  });
}

/** How far the page scrolls sideways (0 = it reflows). */
export function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export function describeViolations(violations) {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n');
}
