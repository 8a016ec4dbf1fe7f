import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '@halo/log';
import { StateDirectory, fingerprintFromFile, machineFingerprint, type MachineFingerprint } from '@halo/agent';
import { readLinuxMachineId } from '../src/fingerprint-linux.ts';

const HERE: MachineFingerprint = { machineId: 'machine-one', hostName: 'server-1' };

function tempDir(t: import('node:test').TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'halo-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** A logger writing JSON lines into an array (a real stream, no mock). */
function memoryLog() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ name: 'test', level: 'info', destination }), lines };
}

test('the OS fingerprint is this host name and a stable keyed hash of the machine id', { skip: process.platform !== 'linux' && 'Linux only here' }, async () => {
  const a = await machineFingerprint();
  const b = await machineFingerprint();
  assert.deepEqual(a, b);
  assert.equal(a.hostName, hostname());
  assert.match(a.machineId, /^[0-9a-f]{64}$/);
  const raw = await readLinuxMachineId();
  if (raw) assert.ok(!a.machineId.includes(raw), 'the raw machine id is never stored');
});

test('the Linux machine id: first usable file wins, none means null, an unreadable one is an error', async (t) => {
  const dir = tempDir(t);
  const id = 'ab'.repeat(16);
  writeFileSync(join(dir, 'dbus'), `${id.toUpperCase()}\n`);
  writeFileSync(join(dir, 'placeholder'), 'uninitialized\n');
  assert.equal(await readLinuxMachineId([join(dir, 'missing'), join(dir, 'dbus')]), id);
  assert.equal(await readLinuxMachineId([join(dir, 'placeholder'), join(dir, 'dbus')]), id);
  assert.equal(await readLinuxMachineId([join(dir, 'missing'), join(dir, 'placeholder')]), null);
  mkdirSync(join(dir, 'a-directory'));
  await assert.rejects(readLinuxMachineId([join(dir, 'a-directory'), join(dir, 'dbus')]), /cannot read the machine id/);
});

test('a fingerprint file stands in for the machine (HALO_FINGERPRINT_FILE)', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'fingerprint.json');
  writeFileSync(path, JSON.stringify(HERE));
  assert.deepEqual(fingerprintFromFile(path)(), HERE);
  writeFileSync(path, '{"machineId": ""}');
  assert.throws(() => fingerprintFromFile(path)(), { name: 'FingerprintError' });
});

test('on the same machine the state keeps its GUIDs, also across a host rename', (t) => {
  const dir = tempDir(t);
  const first = new StateDirectory(dir, { fingerprint: HERE });
  const guid = first.haloGuid('a');
  assert.equal(first.bindDatabase('a', 'sqlite:/data/a.db'), guid);
  assert.deepEqual(readJson(join(dir, 'state.json')), {
    linkGuid: first.linkGuid,
    fingerprint: HERE,
    sites: { a: { haloGuid: guid, databaseIdentity: 'sqlite:/data/a.db' } },
  });

  const again = new StateDirectory(dir, { fingerprint: HERE });
  assert.equal(again.linkGuid, first.linkGuid);
  assert.equal(again.haloGuid('a'), guid);
  assert.equal(again.movedFrom, undefined);

  const { log, lines } = memoryLog();
  const renamed = new StateDirectory(dir, { fingerprint: { ...HERE, hostName: 'server-1-renamed' }, log });
  assert.equal(renamed.linkGuid, first.linkGuid);
  assert.equal(renamed.bindDatabase('a', 'sqlite:/data/a.db'), guid);
  assert.equal(renamed.fingerprint?.hostName, 'server-1-renamed');
  assert.equal(existsSync(join(dir, 'state.previous.json')), false);
  assert.deepEqual(lines.map((l) => l.msg), ['host renamed on the same machine; agent state kept']);
});

test('state found on another machine gets a new Link GUID and new Halo GUIDs; the old state is kept', (t) => {
  const dir = tempDir(t);
  const original = new StateDirectory(dir, { fingerprint: HERE });
  const a = original.bindDatabase('a', 'sqlite:/data/a.db');
  const b = original.bindDatabase('b', 'sqlite:/data/b.db');
  const before = readFileSync(join(dir, 'state.json'), 'utf8');

  const { log, lines } = memoryLog();
  // A cloned VM keeps its host name; only the machine id tells it apart.
  const moved = new StateDirectory(dir, { fingerprint: { ...HERE, machineId: 'machine-two' }, log });
  assert.notEqual(moved.linkGuid, original.linkGuid);
  assert.equal(moved.movedFrom, original.linkGuid);
  const a2 = moved.bindDatabase('a', 'sqlite:/data/a.db');
  const b2 = moved.haloGuid('b');
  assert.ok(a2 !== a && b2 !== b && a2 !== b2);
  assert.equal(readFileSync(join(dir, 'state.previous.json'), 'utf8'), before);
  assert.equal(readJson(join(dir, 'state.json')).fingerprint.machineId, 'machine-two');
  const warning = lines.find((l) => l.level === 40);
  assert.equal(warning?.previousLinkGuid, original.linkGuid);
  assert.equal(warning?.linkGuid, moved.linkGuid);
  assert.ok(!JSON.stringify(lines).includes('sqlite:/data'), 'no database identities in the log');

  // The new machine is now home: the next start there keeps the new GUIDs.
  const restarted = new StateDirectory(dir, { fingerprint: { ...HERE, machineId: 'machine-two' } });
  assert.equal(restarted.linkGuid, moved.linkGuid);
  assert.equal(restarted.haloGuid('a'), a2);
  assert.equal(restarted.movedFrom, undefined);
});

test('another database under the same name gets a new Halo GUID; the other sites keep theirs', (t) => {
  const dir = tempDir(t);
  const state = new StateDirectory(dir, { fingerprint: HERE });
  const a = state.bindDatabase('a', 'sqlite:/data/a.db');
  const b = state.bindDatabase('b', 'sqlite:/data/b.db');
  const { log, lines } = memoryLog();
  const reopened = new StateDirectory(dir, { fingerprint: HERE, log });
  assert.equal(reopened.haloGuid('a'), a);
  const a2 = reopened.bindDatabase('a', 'sqlite:/elsewhere/a.db');
  assert.notEqual(a2, a);
  assert.equal(reopened.bindDatabase('b', 'sqlite:/data/b.db'), b);
  assert.equal(reopened.linkGuid, state.linkGuid);
  assert.equal(new StateDirectory(dir, { fingerprint: HERE }).haloGuid('a'), a2);
  assert.deepEqual(lines.map((l) => [l.msg, l.previousHaloGuid, l.haloGuid]), [['database identity changed; new halo guid minted', a, a2]]);
});

test('a state file from before machine binding is bound where it is found, keeping its GUIDs', (t) => {
  const dir = tempDir(t);
  const linkGuid = randomUUID();
  const guid = randomUUID();
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ linkGuid, sites: { a: guid } }));
  const state = new StateDirectory(dir, { fingerprint: HERE });
  assert.equal(state.linkGuid, linkGuid);
  assert.equal(state.haloGuid('a'), guid);
  // The first identity seen is recorded, not treated as a change.
  assert.equal(state.bindDatabase('a', 'sqlite:/data/a.db'), guid);
  assert.deepEqual(readJson(join(dir, 'state.json')), { linkGuid, fingerprint: HERE, sites: { a: { haloGuid: guid, databaseIdentity: 'sqlite:/data/a.db' } } });
});

test('a corrupt state file is refused rather than re-minted', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'state.json'), '{"linkGuid": "not-a-guid"');
  assert.throws(() => new StateDirectory(dir, { fingerprint: HERE }), /corrupt/);
  assert.equal(existsSync(join(dir, 'state.previous.json')), false);
});

test('StateDirectory.open reads the fingerprint from the given source', async (t) => {
  const dir = tempDir(t);
  const state = await StateDirectory.open(dir, { fingerprintSource: async () => HERE });
  assert.deepEqual(state.fingerprint, HERE);
  await assert.rejects(StateDirectory.open(dir, { fingerprintSource: () => ({ machineId: '', hostName: 'x' }) }));
});
