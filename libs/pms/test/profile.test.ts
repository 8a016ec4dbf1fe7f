import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { AppError } from '@halo/contracts';
import { getProfile, openConnector, profileTypes } from '@halo/pms';
import { SAMPLE_PMS_VERSION } from '@halo/sample-practice';
import { sampleConnector, sampleFile } from './fixtures.ts';

const failed = (error: unknown) => error instanceof AppError && error.code === 'query_failed' && error.message.startsWith('sample profile');

test('the sample profile reads the practice identity, catalogues and integration flag', async (t) => {
  const { connector } = await sampleConnector(t, { patients: 20 });
  const profile = getProfile('sample');
  assert.equal(profile.pmsType, 'sample');
  assert.equal(profile.displayName, 'Sample Dental');
  assert.deepEqual(await profile.readIdentity(connector), {
    pmsId: 'PMS-1001',
    practiceName: 'Bright Smiles Dental',
    practiceManagementVersion: SAMPLE_PMS_VERSION,
  });
  assert.deepEqual(await profile.catalogues(connector), [{ name: 'main', isDefault: true }]);
  assert.equal(await profile.integrationEnabled(connector), true);
  assert.equal(await profile.integrationEnabled(connector, 'eServices'), false);
  assert.equal(await profile.integrationEnabled(connector, 'unknown-integration'), false);
});

test('an unknown PMS type is a bad request', () => {
  assert.deepEqual(profileTypes().sort(), ['bp', 'd4w', 'opendental', 'sample', 'zedmed']);
  assert.throws(() => getProfile('nope'), (error: unknown) => error instanceof AppError && error.code === 'bad_request');
});

test('a disabled integration, an empty practice table and a missing table are reported clearly', async (t) => {
  const path = sampleFile(t, 5);
  const db = new Database(path);
  db.exec("UPDATE integration SET Enabled = 0 WHERE Name = 'halo'; DELETE FROM practice;");
  db.close();
  const connector = await openConnector({ engine: 'sqlite', path });
  t.after(() => connector.close());
  const profile = getProfile('sample');
  assert.equal(await profile.integrationEnabled(connector), false);
  await assert.rejects(profile.readIdentity(connector), (error) => failed(error) && /no row/.test((error as Error).message));

  const bare = new Database(path);
  bare.exec('DROP TABLE practice; DROP TABLE integration;');
  bare.close();
  const other = await openConnector({ engine: 'sqlite', path });
  t.after(() => other.close());
  await assert.rejects(profile.readIdentity(other), (error) => failed(error) && /no such table/.test((error as Error).message));
  await assert.rejects(profile.integrationEnabled(other), failed);
});
