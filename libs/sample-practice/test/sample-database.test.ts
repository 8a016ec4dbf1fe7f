import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { APPOINTMENT_STATUS, SAMPLE_INDEXES, SAMPLE_PMS_VERSION, SAMPLE_REFERENCE_DATE, SAMPLE_TABLES, createSampleDatabase, SAMPLE_INTEGRATION } from '@halo/sample-practice';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { TestContext } from 'node:test';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'halo-sample-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const options = { pmsId: 'PMS-42', practiceName: 'Harbor Family Dental' };

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function tableChecksums(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    return Object.fromEntries(SAMPLE_TABLES.map((table) => {
      const rows = db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).raw(true).all();
      return [table, createHash('sha256').update(JSON.stringify(rows)).digest('hex')];
    }));
  } finally {
    db.close();
  }
}

test('same options give byte-for-byte the same database', (t) => {
  const dir = tempDir(t);
  const first = join(dir, 'a.db');
  const second = join(dir, 'b.db');
  createSampleDatabase(first, options);
  createSampleDatabase(second, options);
  assert.equal(sha256(first), sha256(second));
  assert.deepEqual(tableChecksums(first), tableChecksums(second));
});

test('another seed or PMS ID gives other data', (t) => {
  const dir = tempDir(t);
  createSampleDatabase(join(dir, 'a.db'), { ...options, patients: 100 });
  createSampleDatabase(join(dir, 'b.db'), { ...options, patients: 100, seed: 7 });
  createSampleDatabase(join(dir, 'c.db'), { ...options, patients: 100, pmsId: 'PMS-43' });
  const [a, b, c] = ['a.db', 'b.db', 'c.db'].map((name) => tableChecksums(join(dir, name)));
  assert.notEqual(a?.patient, b?.patient);
  assert.notEqual(a?.patient, c?.patient);
});

test('the default database holds 2000 patients and about four appointments each', (t) => {
  const path = join(tempDir(t), 'practice.db');
  createSampleDatabase(path, options);
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
  assert.deepEqual(tables, [...SAMPLE_TABLES].sort());
  const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").pluck().all();
  assert.deepEqual(indexes, [...SAMPLE_INDEXES].sort());
  assert.equal(db.prepare('SELECT count(*) FROM patient').pluck().get(), 2000);
  const appointments = db.prepare('SELECT count(*) FROM appointment').pluck().get() as number;
  assert.ok(appointments > 6000 && appointments < 12000, `appointments: ${appointments}`);
  assert.deepEqual(db.prepare('SELECT PmsId, PracticeName, PmsVersion FROM practice').raw(true).all(), [
    [options.pmsId, options.practiceName, SAMPLE_PMS_VERSION],
  ]);
  assert.equal(db.prepare('SELECT Enabled FROM integration WHERE Name = ?').pluck().get(SAMPLE_INTEGRATION), 1);
  // Every appointment points at a real patient, and past/future statuses follow the reference date.
  assert.equal(db.prepare('SELECT count(*) FROM appointment WHERE PatNum NOT IN (SELECT PatNum FROM patient)').pluck().get(), 0);
  assert.equal(db.prepare('SELECT count(*) FROM appointment WHERE AptDateTime >= ? AND AptStatus <> ?').pluck()
    .get(SAMPLE_REFERENCE_DATE, APPOINTMENT_STATUS.scheduled), 0);
  assert.ok((db.prepare('SELECT count(*) FROM appointment WHERE AptDateTime >= ?').pluck().get(SAMPLE_REFERENCE_DATE) as number) > 500);
  assert.equal(db.prepare("SELECT count(*) FROM patient WHERE Birthdate NOT GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]'").pluck().get(), 0);
  assert.equal(db.prepare("SELECT count(*) FROM appointment WHERE strftime('%w', AptDateTime) IN ('0', '6')").pluck().get(), 0);
});

test('an existing file is replaced and no temporary file is left behind', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'practice.db');
  writeFileSync(path, 'not a database');
  createSampleDatabase(path, { ...options, patients: 10 });
  const db = new Database(path, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.prepare('SELECT count(*) FROM patient').pluck().get(), 10);
  assert.deepEqual(readdirSync(dir), ['practice.db']);
  assert.equal(existsSync(`${path}-journal`), false);
});
