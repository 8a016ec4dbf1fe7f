import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@halo/contracts';
import { getProfile, openConnector, openSqliteTrustedReader, type Connector } from '@halo/pms';
import { ENDLESS_COUNT, reader, sampleFile, tempDir } from './fixtures.ts';
import { workerPids } from './process-stats.ts';

const IDLE_MS = 200;

async function waitFor(check: () => boolean): Promise<void> {
  while (!check()) await sleep(20);
}

function isCode(code: string) {
  return (error: unknown) => error instanceof AppError && error.code === code;
}

test('opening SQLite connectors starts no worker process; the first query starts one', async (t) => {
  const path = sampleFile(t, 20);
  const connectors: Connector[] = [];
  t.after(() => Promise.all(connectors.map((c) => c.close())));
  for (let i = 0; i < 5; i += 1) connectors.push(await openConnector({ engine: 'sqlite', path, workerIdleMs: IDLE_MS }));
  assert.deepEqual(workerPids(), []);

  const result = await connectors[0]!.query(reader('SELECT count(*) AS n FROM patient'));
  assert.equal(result.rowCount, 1);
  assert.equal(workerPids().length, 1);
});

test('an idle worker exits after workerIdleMs and the next query starts a fresh one', async (t) => {
  const path = sampleFile(t, 20);
  const connector = await openConnector({ engine: 'sqlite', path, workerIdleMs: IDLE_MS });
  t.after(() => connector.close());

  await connector.query(reader('SELECT 1'));
  const [first] = workerPids();
  assert.ok(first !== undefined);
  await waitFor(() => workerPids().length === 0);

  const again = await connector.query(reader('SELECT 2 AS two'));
  assert.deepEqual(again.rows, [[2]]);
  const [second] = workerPids();
  assert.ok(second !== undefined && second !== first);
});

test('a statement running past the idle time is not stopped by it', async (t) => {
  const path = sampleFile(t, 20);
  const connector = await openConnector({ engine: 'sqlite', path, workerIdleMs: 50 });
  t.after(() => connector.close());
  // Deadline, not idleness, ends the endless statement.
  await assert.rejects(connector.query(reader(ENDLESS_COUNT, { deadline: Date.now() + 500 })), isCode('deadline_exceeded'));
});

test('a missing or non-SQLite file still fails at open, as the worker process did', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(openConnector({ engine: 'sqlite', path: join(dir, 'missing.db') }), isCode('not_found'));
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is not a database, only text that is long enough to have a header '.repeat(20));
  await assert.rejects(openConnector({ engine: 'sqlite', path: junk }), isCode('query_failed'));
  assert.deepEqual(workerPids(), []);
});

test('a profile reads identity and catalogues through the trusted reader without a worker', async (t) => {
  const path = sampleFile(t, 20);
  const trusted = openSqliteTrustedReader({ path });
  t.after(() => trusted.close());
  const profile = getProfile('sample');
  const identity = await profile.readIdentity(trusted);
  assert.ok(identity.pmsId);
  assert.ok((await profile.catalogues(trusted)).length > 0);
  assert.deepEqual(workerPids(), []);
  await assert.rejects(trusted.query(reader('DELETE FROM patient')), isCode('writes_disabled'));
});

test('a quiet site\'s worker is reused for another database, and each site still reads only its own', async (t) => {
  const a = await openConnector({ engine: 'sqlite', path: sampleFile(t, 3), workerIdleMs: 60_000 });
  const b = await openConnector({ engine: 'sqlite', path: sampleFile(t, 7), workerIdleMs: 60_000 });
  t.after(() => Promise.all([a.close(), b.close()]));
  const count = async (c: Connector) => (await c.query(reader('SELECT count(*) AS n FROM patient'))).rows[0]![0];

  assert.equal(await count(a), 3);
  const [first] = workerPids();
  await sleep(700); // past the release delay: a's worker may now serve another site
  assert.equal(await count(b), 7);
  assert.deepEqual(workerPids(), [first], 'b took the worker a left, with b\'s database');
  // a's worker is b's now: a gets another, with a's database again.
  assert.equal(await count(a), 3);
  assert.equal(workerPids().length, 2);
  // Closing a leaves b's worker running b's statements.
  await a.close();
  assert.equal(await count(b), 7);
  assert.ok(workerPids().includes(first!));
});
