// Issue 13's acceptance, as a practice's IT person would do it: the built dist/halo-link-linux-x64/ copied to an
// empty folder outside the repository, `halo-link install --root` with the demo facade's enrolment URL, a token
// from POST /support/enrolment-tokens, the demo CA and a databases file naming a sample SQLite database; the
// printed command line started with a PATH holding no node (an empty folder); the site then appears in
// GET /integrator/sites and answers a query. Then status, doctor, and uninstall --purge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { projectRoot } from '@halo/config';
import { demoQueryBody, startDemo } from '@halo/demo';
import { createSampleDatabase, samplePairingCode } from '@halo/sample-practice';
import { agentBuild } from './agent-build.ts';

const PMS_ID = 'SAMPLE-INSTALL-1';
const execFileAsync = promisify(execFile);

test('a practice installs the built agent with URL, token, CA and databases; its site answers through the demo', async (t) => {
  const dist = agentBuild();
  const work = mkdtempSync(join(tmpdir(), 'halo-install-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  assert.ok(!work.startsWith(projectRoot()), 'the copy is outside the repository');
  const demo = await startDemo({ dataDir: join(work, 'demo'), httpPort: 0, installNatsServer: false });
  t.after(() => demo.close());
  const dispatcher = new Agent({ connect: { ca: readFileSync(demo.caFile) } });
  t.after(() => dispatcher.close());
  const call = async (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const res = await fetch(`${demo.facadeUrl}${path}`, {
      method: init.method ?? (init.body ? 'POST' : 'GET'),
      headers: { 'content-type': 'application/json', 'ocp-apim-subscription-key': demo.subscriptionKey, ...init.headers },
      ...(init.body ? { body: JSON.stringify(init.body) } : {}),
      dispatcher,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const support = { authorization: `Bearer ${demo.supportKey}` };

  // What the practice is given: the program folder, a token, the CA, and its own database.
  const program = join(work, 'download', 'halo-link-linux-x64');
  cpSync(dist, program, { recursive: true });
  const practice = join(work, 'practice');
  mkdirSync(practice);
  createSampleDatabase(join(practice, 'practice.db'), { pmsId: PMS_ID, practiceName: 'Installer Practice' });
  const databasesFile = join(practice, 'databases.json');
  writeFileSync(databasesFile, JSON.stringify([{ name: 'practice', engine: 'sqlite', path: 'practice.db', profile: 'sample' }]));
  const token = await call('/support/enrolment-tokens', { body: { ttlSeconds: 600, note: 'installer acceptance' }, headers: support });
  assert.equal(token.status, 200, JSON.stringify(token.body));

  // No node anywhere: PATH is an empty folder, and nothing of the checkout's environment is passed on.
  const noNode = join(work, 'empty-path');
  mkdirSync(noNode);
  const env = { PATH: noNode, HOME: work, LANG: 'C.UTF-8' };
  const root = join(work, 'root');
  // Asynchronous: the demo's services log into pipes this process must keep draining while a command runs.
  const halo = async (...args: string[]) => (await execFileAsync(join(program, 'halo-link'), args, { env, cwd: work, encoding: 'utf8' })).stdout;

  const printed = await halo('install', '--root', root, '--enrol-url', demo.facadeUrl, '--token', token.body.token, '--ca-file', demo.caFile, '--databases', databasesFile);
  const commandLine = printed.trim().split('\n').at(-1)!;
  assert.match(commandLine, /\/opt\/halo-link\/current\/halo-link run --config .*\/etc\/halo-link\/config\.json$/);
  const configFile = join(root, 'etc', 'halo-link', 'config.json');
  assert.equal(statSync(configFile).mode & 0o777, 0o600);
  assert.equal(statSync(join(root, 'var', 'lib', 'halo-link')).mode & 0o777, 0o700);
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  assert.equal(config.hubLeafUrls, undefined, 'the hub comes from the enrolment answer');
  assert.equal(config.databases[0].path, join(practice, 'practice.db'));

  await t.test('the printed command line serves the site: it is listed and answers a query', async () => {
    // An outcome the updater left (a release rolled back): the agent reports it in its heartbeats.
    const updateStatus = { state: 'rolled-back', version: '0.1.0', failedVersion: '0.2.0', code: 'unhealthy', badVersions: ['0.2.0'], at: '2026-01-02T03:04:05.000Z' };
    writeFileSync(join(root, 'var/lib/halo-link/update-status.json'), JSON.stringify(updateStatus));
    const [exe, ...args] = commandLine.split(' ');
    const agent: ChildProcess = spawn(exe!, args, { env, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    agent.stdout!.on('data', (c: Buffer) => { output += c.toString(); });
    agent.stderr!.on('data', (c: Buffer) => { output += c.toString(); });
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    t.after(async () => {
      if (agent.exitCode === null) agent.kill('SIGTERM');
      await exited;
    });
    let sites: any[] = [];
    for (let i = 0; i < 300 && sites.length === 0; i++) {
      assert.equal(agent.exitCode, null, `the agent exited: ${output}`);
      sites = (await call(`/integrator/sites?practiceManagementSiteId=${PMS_ID}`)).body.sites ?? [];
      if (sites.length === 0) await sleep(100);
    }
    assert.equal(sites.length, 1, output);
    // As on Halo, the integrator pairs with the practice first (the code its PMS issues), then queries.
    const pairing = new URLSearchParams({ practiceManagementSiteId: PMS_ID, practiceManagementName: 'Sample Dental', pairingCode: samplePairingCode(PMS_ID) });
    const paired = await call(`/integrator/pair-site?${pairing}`, { method: 'POST' });
    assert.equal(paired.status, 200, JSON.stringify(paired.body));
    assert.equal(paired.body.id, sites[0].id);
    const query = await call(`/integrator/sites/${sites[0].id}/queries/immediate`, { body: demoQueryBody() });
    assert.equal(query.status, 200, JSON.stringify(query.body));
    assert.equal(query.body.status, 'successful');
    assert.ok(query.body.result.rows > 0);
    assert.ok(JSON.parse(Buffer.from(query.body.result.data, 'base64').toString('utf8')).length > 0);

    // The build's version reaches support through registration and heartbeats.
    const version = (await halo('--version')).trim().replace(/^halo-link /, '');
    assert.match(version, /^0\.1\.0\+[0-9a-f]{10}/);
    const practices = await call(`/support/practices?pmsId=${PMS_ID}`, { headers: support });
    const link = practices.body.links.find((l: any) => l.sites.includes(sites[0].id));
    assert.equal(link.version, version);
    // Proof of health for the updater: registered, first heartbeat out, by this version.
    assert.equal(JSON.parse(readFileSync(join(root, 'var/lib/halo-link/health.json'), 'utf8')).version, version);
    // updateStatus reaches support through heartbeats: the API and the support CLI.
    for (let i = 0; i < 100 && !link.updateStatus; i++) {
      await sleep(100);
      Object.assign(link, (await call(`/support/practices?pmsId=${PMS_ID}`, { headers: support })).body.links.find((l: any) => l.linkGuid === link.linkGuid));
    }
    assert.deepEqual(link.updateStatus, updateStatus);
    // Not execFileSync: the demo's services log into pipes this process must keep draining.
    const cli = await execFileAsync(process.execPath, [join(projectRoot(), 'services/support-cli/src/main.ts'), 'list', '--pms-id', PMS_ID], {
      encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: demo.caFile, HALO_SUPPORT_URL: demo.facadeUrl, HALO_SUPPORT_KEY: demo.supportKey! },
    });
    assert.match(cli.stdout, /update ROLLED-BACK 0\.2\.0 \(unhealthy\) at 2026-01-02T03:04:05\.000Z/);

    const status = JSON.parse(await halo('status', '--json', '--root', root));
    assert.equal(status.version, version);
    assert.equal(status.enrolled, true);
    assert.deepEqual(status.databases, ['practice (sqlite, sample)']);
    assert.ok(!JSON.stringify(status).includes(token.body.token), 'status never shows the token');
    const doctor = JSON.parse(await halo('doctor', '--json', '--root', root)) as Array<{ check: string; ok: boolean; detail: string }>;
    assert.deepEqual(doctor.filter((c) => !c.ok), [], JSON.stringify(doctor));
    assert.deepEqual(doctor.map((c) => c.check), ['config', 'database practice', 'database practice read-only', 'database practice integration', 'hub', 'clock', 'credentials']);

    agent.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  });

  await t.test('uninstall --purge unregisters the link and removes program, units, config and state', async () => {
    const out = await halo('uninstall', '--purge', '--root', root);
    assert.match(out, /unregistered/);
    for (const path of ['opt/halo-link', 'etc/halo-link', 'var/lib/halo-link', 'etc/systemd/system/halo-link.service']) {
      assert.ok(!existsSync(join(root, path)), `${path} removed`);
    }
    const sites = (await call(`/integrator/sites?practiceManagementSiteId=${PMS_ID}`)).body.sites as any[];
    assert.deepEqual(sites.map((s) => s.status), ['uninstalled']);
  });
});
