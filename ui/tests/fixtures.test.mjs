// The fixtures are shaped exactly as docs/app.md says: the keys of AppStatus and Diagnostics are
// read from its JSON examples, those of the outcomes from its `{ … }` lines. When the contract
// changes, this test names the fixtures to update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as H from './harness.mjs';

const appMd = fs.readFileSync(path.resolve(H.uiRoot, '..', 'docs', 'app.md'), 'utf8');
const jsonBlocks = [...appMd.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
const exampleStatus = JSON.parse(jsonBlocks.find((b) => b.includes('"adjustments"')));
const exampleDiagnostics = JSON.parse(jsonBlocks.find((b) => b.includes('"contacts"')));

/** The top-level keys of "`Name`: `{ a, b: [row], c: {x, y}, … }`" in app.md. */
function shapeKeys(name) {
  const m = appMd.match(new RegExp('`' + name + '`: `\\{([\\s\\S]*?)\\}`'));
  assert.ok(m, `docs/app.md no longer describes ${name}`);
  const body = m[1].replace(/\{[^}]*\}/g, '').replace(/\[[^\]]*\]/g, '');
  return body.split(',').map((part) => part.split(':')[0].trim()).filter(Boolean).sort();
}

const keys = (o) => Object.keys(o).sort();
const fixturesIn = (dir) => fs.readdirSync(path.join(H.uiRoot, 'tests', 'fixtures', dir))
  .filter((f) => f.endsWith('.json')).map((f) => `${dir}/${f}`);

const ROW_KEYS = ['solution', 'setting', 'value', 'outcome', 'reason'];
function assertRows(rows, where) {
  for (const row of rows) {
    for (const k of Object.keys(row)) assert.ok(ROW_KEYS.includes(k), `${where}: unknown row key ${k}`);
    for (const k of ['solution', 'setting', 'outcome']) assert.ok(k in row, `${where}: row without ${k}`);
    assert.ok(['applied', 'not_supported', 'failed'].includes(row.outcome), `${where}: outcome ${row.outcome}`);
  }
}

test('every AppStatus fixture has exactly the keys of docs/app.md\'s example', () => {
  for (const file of fixturesIn('status')) {
    const s = H.fixture(file);
    assert.deepEqual(keys(s), keys(exampleStatus), file);
    assert.deepEqual(keys(s.save_state), keys(exampleStatus.save_state), file);
    assert.deepEqual(keys(s.appearance), keys(exampleStatus.appearance), file);
    assert.ok(['idle', 'active', 'interrupted', 'restoring'].includes(s.state), file);
    assert.ok(['saved', 'pending', 'read_only', 'none'].includes(s.save_state.state), file);
    assertRows(s.applied, file);
    for (const a of s.adjustments) {
      for (const k of ['id', 'label', 'term', 'control', 'value']) assert.ok(k in a, `${file}: adjustment without ${k}`);
      assert.ok(['range', 'toggle'].includes(a.control), file);
    }
  }
});

test('the outcome and error fixtures have the keys docs/app.md lists', () => {
  for (const [dir, name] of [['key-in', 'KeyInOutcome'], ['recover', 'RecoverOutcome'], ['set', 'SetOutcome']]) {
    const expected = shapeKeys(name);
    for (const file of fixturesIn(dir)) {
      const o = H.fixture(file);
      assert.deepEqual(keys(o), expected, file);
      assertRows(o.applied || o.failed, file);
    }
  }
  for (const file of fixturesIn('errors')) assert.deepEqual(keys(H.fixture(file)), ['kind', 'message'], file);
});

test('the capture fixtures have the keys docs/app.md lists', () => {
  for (const [file, name] of [['capture/desktop.json', 'CaptureOutcome'], ['capture/saved.json', 'SaveCaptureOutcome']]) {
    const o = H.fixture(file);
    assert.deepEqual(keys(o), shapeKeys(name), file);
    for (const line of o.lines) assert.deepEqual(keys(line), ['details', 'id', 'label', 'value'], file);
    assertRows(o.skipped, file);
  }
});

test('the forget fixtures have the keys docs/app.md lists', () => {
  for (const file of fixturesIn('forget')) {
    const o = H.fixture(file);
    assert.deepEqual(keys(o), shapeKeys('ForgetOutcome'), file);
    assert.ok(['this_computer', 'everywhere'].includes(o.reach), file);
  }
});

test('the USB key fixtures have the keys docs/app.md lists', () => {
  for (const file of fixturesIn('stick')) assert.deepEqual(keys(H.fixture(file)), shapeKeys('StickWriteOutcome'), file);
  for (const file of fixturesIn('status')) {
    const k = H.fixture(file).usb_key;
    if (k !== null) assert.deepEqual(keys(k), keys(exampleStatus.usb_key ?? { can_save: 0, label: 0 }), file);
  }
});

test('the Diagnostics and snapset fixtures have the keys of docs/app.md', () => {
  const d = H.fixture('diagnostics.json');
  assert.deepEqual(keys(d), keys(exampleDiagnostics));
  for (const c of d.contacts) assert.deepEqual(keys(c), keys(exampleDiagnostics.contacts[0]));
  const snapsetKeys = ['file', 'key', 'name', 'origin'];
  for (const s of H.fixture('snapsets.json')) {
    assert.deepEqual(keys(s).filter((k) => k !== 'problem'), snapsetKeys, s.key);
    assert.ok(['bundled', 'site', 'user'].includes(s.origin), s.key);
  }
});

test('every scenario names fixtures that exist', () => {
  for (const name of H.stateNames) assert.doesNotThrow(() => H.scenario(name), name);
});
