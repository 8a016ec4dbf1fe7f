// `npm start` as a library: the demo runs the secure system (operator/JWT creds, enrolment, leafnode TLS, HTTPS
// facade) and a second start on the same data keeps GUIDs, authority and link creds, with no new enrolment; a
// revoked link whose creds are deleted re-enrols as the same link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { connect } from '@nats-io/transport-node';
import { demoCommands, demoQueryBody, startDemo, type RunningDemo } from '@halo/demo';
import { resultRows } from '../support/halo-result.ts';

const agentFiles = (dataDir: string, n: number) => ({
  creds: join(dataDir, 'agents', `link-${n}`, 'link.creds'),
  config: join(dataDir, 'agents', `link-${n}.json`),
  log: join(dataDir, 'logs', `agent-${n}.log`),
});
const enrolments = (logFile: string) => readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes('"msg":"link enrolled"')).length;
const identity = (demo: RunningDemo) => demo.sites.map((s) => `${s.haloGuid} ${s.pmsId} ${s.authoritative}`).sort();

test('npm start runs the secure system and a second start reuses its data, keys and link creds', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-demo-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  let demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
  t.after(() => demo.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) } });
  t.after(() => dispatcher.close());
  const authoritative = () => demo.sites.find((s) => s.authoritative && s.pmsId === 'SAMPLE-1001')!;
  const queryAuthoritative = async () => {
    const res = await fetch(`${demo.facadeUrl}/integrator/sites/${authoritative().haloGuid}/queries/immediate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey },
      body: JSON.stringify(demoQueryBody()),
      dispatcher,
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { status: string; result: { records: unknown[] } };
    assert.equal(body.status, 'successful');
    assert.ok(resultRows(body).length > 0);
  };

  await t.test('first start: secrets made, every agent enrolled, HTTPS with the demo CA', async () => {
    assert.match(demo.facadeUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(demo.caFile, join(dataDir, 'secrets', 'tls', 'ca.pem'));
    assert.equal(demo.enrolled.length, 2);
    assert.deepEqual(identity(demo).length, 3);
    assert.equal(demo.sites.filter((s) => s.pmsId === 'SAMPLE-1001' && s.authoritative).length, 1);
    // The original (agent 1), not its backup (agent 2), is authoritative.
    const original = demo.databases.find((d) => d.name === 'practice-a')!;
    assert.equal(authoritative().haloGuid, original.haloGuid);
    await queryAuthoritative();
    const summary = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as { caFile: string; facadeUrl: string };
    assert.equal(summary.caFile, demo.caFile);
    assert.equal(summary.facadeUrl, demo.facadeUrl);
    // The printed commands carry the CA.
    for (const c of demoCommands(demo)) assert.ok(c.command.includes(`--cacert ${demo.caFile}`), c.command);
    for (const n of [1, 2]) {
      const files = agentFiles(dataDir, n);
      assert.equal(statSync(files.creds).mode & 0o777, 0o600);
      assert.equal(enrolments(files.log), 1);
      const config = JSON.parse(readFileSync(files.config, 'utf8')) as { enrolment: { url: string; caFile: string } };
      assert.equal(config.enrolment.url, demo.facadeUrl);
      assert.equal(config.enrolment.caFile, demo.caFile);
    }
  });

  await t.test('the hub wants creds, the facade TLS', async () => {
    await assert.rejects(connect({ servers: demo.hub.clientUrl, reconnect: false, timeout: 5_000 }), /Authorization|auth/i);
    await assert.rejects(fetch(`${demo.facadeUrl}/health`), 'the demo CA is not trusted by default');
    await assert.rejects(fetch(demo.facadeUrl.replace('https:', 'http:') + '/health'));
  });

  await t.test('a second start on the same data: same GUIDs, authority, keys and creds; no new enrolment', async () => {
    const before = {
      identity: identity(demo),
      subscriptionKey: demo.subscriptionKey,
      caFile: readFileSync(demo.caFile, 'utf8'),
      links: demo.databases.map((d) => `${d.name} ${d.linkGuid}`).sort(),
      creds: [1, 2].map((n) => readFileSync(agentFiles(dataDir, n).creds, 'utf8')),
    };
    await demo.close();
    demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
    assert.deepEqual(demo.enrolled, []);
    assert.deepEqual(identity(demo), before.identity);
    assert.equal(demo.subscriptionKey, before.subscriptionKey);
    assert.equal(readFileSync(demo.caFile, 'utf8'), before.caFile);
    assert.deepEqual(demo.databases.map((d) => `${d.name} ${d.linkGuid}`).sort(), before.links);
    assert.deepEqual([1, 2].map((n) => readFileSync(agentFiles(dataDir, n).creds, 'utf8')), before.creds);
    for (const n of [1, 2]) assert.equal(enrolments(agentFiles(dataDir, n).log), 1);
    await queryAuthoritative();
  });

  await t.test('a revoked link whose creds are deleted re-enrols on the next start for the same link: same GUIDs', async () => {
    const before = identity(demo);
    const link1 = demo.databases.find((d) => d.name === 'practice-a')!.linkGuid;
    const res = await fetch(`${demo.facadeUrl}/support/links/${link1}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demo.supportKey}` },
      body: JSON.stringify({ reason: 'demo test' }),
      dispatcher,
    });
    assert.equal(res.status, 200, await res.clone().text());
    await demo.close();
    rmSync(agentFiles(dataDir, 1).creds);
    demo = await startDemo({ dataDir, httpPort: 0, installNatsServer: false });
    assert.deepEqual(demo.enrolled, [link1]);
    assert.deepEqual(identity(demo), before);
    assert.equal(enrolments(agentFiles(dataDir, 1).log), 2);
    await queryAuthoritative();
  });
});
