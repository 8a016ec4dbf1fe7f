// `npm start` supervises its services as systemd's Restart=on-failure would: kill -9 any of them and it comes back
// (backoff, a line per restart, a start limit), the rest reconnect to it, and a killed agent leaves no child behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { facadeClient, startDemo, type FacadeAnswer, type UnexpectedExit } from '@halo/demo';
import { eventually } from '../support/system.ts';

type Json = Record<string, any>;

interface Child {
  pid: number;
  state: string;
  cmd: string;
}

/** The processes whose parent is `pid`, from /proc (Linux). */
function childrenOf(pid: number): Child[] {
  const found: Child[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after its last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === pid) found.push({ pid: Number(entry), state: state!, cmd: readFileSync(`/proc/${entry}/cmdline`, 'utf8') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Running and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const COUNT_FOREVER = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000000) SELECT count(*) AS c FROM n';
/** About a second of SQLite work, then one row. */
const SLOW = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) SELECT count(*) AS c FROM n';
const QUICK = 'SELECT PatNum FROM patient ORDER BY PatNum LIMIT 3';
const RESTART = { delayMs: 200, maxDelayMs: 1_000, burst: 3, intervalMs: 120_000 };

test('npm start restarts each service killed with SIGKILL, and the system serves again', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'halo-supervise-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const exits: UnexpectedExit[] = [];
  const demo = await startDemo({
    dataDir, httpPort: 0, installNatsServer: false, restart: RESTART, workerAckWaitMs: 2_000, onUnexpectedExit: (exit) => exits.push(exit),
  });
  t.after(() => demo.close());
  const call = facadeClient(demo.facadeUrl, readFileSync(demo.caFile));
  const key = { 'ocp-apim-subscription-key': demo.subscriptionKey };
  const practiceA = demo.databases.find((d) => d.name === 'practice-a')!.haloGuid; // served by agent-1
  const immediate = (text: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<FacadeAnswer> =>
    call(`/integrator/sites/${practiceA}/queries/immediate`, { body: { command: { text } }, headers: key, timeoutMs: options.timeoutMs ?? 10_000, ...(options.signal ? { signal: options.signal } : {}) });
  // A probe sent while the hub is down can wait for its timeout; a short one lets the next probe go out sooner.
  const serves = () => eventually(async () => (await immediate(QUICK, { timeoutMs: 3_000 })).status === 200, 60_000, 250);
  const submit = async (text: string): Promise<string> => {
    const res = await call(`/integrator/sites/${practiceA}/queries/async`, { body: { command: { text } }, headers: key });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return (res.body as Json).id as string;
  };
  const status = async (id: string): Promise<string> => ((await call(`/integrator/sites/${practiceA}/queries/${id}`, { headers: key })).body as Json).status as string;
  /** SIGKILLs a service and waits until the demo has started it again. */
  const kill = async (name: string): Promise<void> => {
    const pid = demo.processes[name]!;
    const before = exits.length;
    process.kill(pid, 'SIGKILL');
    await eventually(async () => demo.processes[name] !== pid && alive(demo.processes[name]!), 60_000, 100);
    const exit = exits.slice(before).find((e) => e.name === name);
    assert.equal(exit?.signal, 'SIGKILL');
    assert.equal(exit?.action, 'restart');
  };

  await t.test('agent: killed mid-statement, it comes back; its leaf nats-server and SQLite children die with it', async (st) => {
    const agentPid = demo.processes['agent-1']!;
    const stuck = new AbortController();
    const long = immediate(COUNT_FOREVER, { timeoutMs: 120_000, signal: stuck.signal }).catch(() => undefined);
    // The SQLite child busy inside one sqlite3_step(): it cannot hear the IPC disconnect until that step returns.
    await eventually(async () => childrenOf(agentPid).some((c) => c.cmd.includes('sqlite-worker') && c.state === 'R'), 30_000);
    const children = childrenOf(agentPid);
    // Should they outlive the agent (the failure this checks), they must not outlive the test.
    st.after(() => children.filter((c) => alive(c.pid)).forEach((c) => process.kill(c.pid, 'SIGKILL')));
    // A SQLite child starts with a site's first statement: the busy site has one, the demo's other site may not yet.
    const kinds = children.map((c) => (c.cmd.includes('nats-server') ? 'leaf' : c.cmd.includes('sqlite-worker') ? 'sqlite' : c.cmd)).sort();
    assert.ok(kinds.join() === 'leaf,sqlite' || kinds.join() === 'leaf,sqlite,sqlite', kinds.join());
    await kill('agent-1');
    const outlived = await eventually(async () => children.every((c) => !alive(c.pid)), 15_000).then(() => [], () => children.filter((c) => alive(c.pid)));
    assert.deepEqual(outlived, [], 'children outlived the agent');
    stuck.abort();
    await long;
    await serves();
    assert.deepEqual(exits.map((e) => [e.name, e.attempt, e.delayMs]), [['agent-1', 1, RESTART.delayMs]]);
  });

  await t.test('registry: it comes back and the facade finds sites again', async () => {
    await kill('registry');
    await eventually(async () => {
      const res = await call('/integrator/sites?practiceManagementSiteId=SAMPLE-1001', { headers: key });
      return res.status === 200 && (res.body as { sites: Json[] }).sites.length === 2;
    }, 60_000, 250);
    await serves();
  });

  let finished: string[] = [];
  await t.test('worker: async queries queued or executing when it dies finish after its restart', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await submit(SLOW));
    await eventually(async () => (await Promise.all(ids.map(status))).includes('executing'), 30_000);
    const states = await Promise.all(ids.map(status));
    await kill('worker');
    assert.ok(states.some((s) => s === 'executing') && states.some((s) => s === 'queued' || s === 'initialising'), states.join());
    await eventually(async () => (await Promise.all(ids.map(status))).every((s) => s === 'successful'), 120_000, 250);
    finished = ids;
  });

  await t.test('hub: it comes back on its ports with its streams and buckets; every service and leaf reconnects', async () => {
    const hubPid = demo.processes.hub!;
    const server = childrenOf(hubPid).map((c) => c.pid);
    assert.equal(server.length, 1);
    const others = Object.entries(demo.processes).filter(([name]) => name !== 'hub');
    await kill('hub');
    assert.ok(await eventually(async () => !alive(server[0]!), 15_000), 'the hub nats-server outlived its process');
    await serves();
    // Nothing else was restarted: the facade, registry, worker and agents reconnected.
    assert.deepEqual(Object.entries(demo.processes).filter(([name]) => name !== 'hub'), others);
    // The KV bucket and the object store kept the async results; the work queue takes new jobs.
    assert.equal(await status(finished[0]!), 'successful');
    const page = await call(`/integrator/sites/${practiceA}/queries/${finished[0]}/results/1`, { headers: key });
    assert.equal(page.status, 200);
    const id = await submit(QUICK);
    await eventually(async () => (await status(id)) === 'successful', 60_000, 250);
  });

  await t.test("hub: its nats-server dying alone fails the hub's process, which is restarted", async () => {
    const hubPid = demo.processes.hub!;
    const before = exits.length;
    process.kill(childrenOf(hubPid)[0]!.pid, 'SIGKILL');
    await eventually(async () => demo.processes.hub !== hubPid && alive(demo.processes.hub!), 60_000, 100);
    assert.deepEqual(exits.slice(before).map((e) => [e.name, e.code, e.action, e.attempt]), [['hub', 1, 'restart', 2]]);
    await serves();
  });

  await t.test('a service failing past its start limit is given up and the demo stops, saying so', async () => {
    const facadeUrl = demo.facadeUrl;
    for (let i = 1; i <= RESTART.burst; i++) {
      await kill('facade');
      assert.deepEqual(exits.at(-1)!.attempt, i);
      assert.equal(exits.at(-1)!.delayMs, Math.min(RESTART.maxDelayMs, RESTART.delayMs * 2 ** (i - 1)));
      // Same port: the URL integrators were given still works.
      await eventually(async () => (await call(`/integrator/sites/${practiceA}/queries/immediate`, { body: { command: { text: QUICK } }, headers: key })).status === 200, 60_000, 250);
    }
    assert.equal(demo.facadeUrl, facadeUrl);
    const pids = Object.values(demo.processes);
    process.kill(demo.processes.facade!, 'SIGKILL');
    const failed = await demo.failed;
    assert.deepEqual([failed.name, failed.signal, failed.action, failed.attempt], ['facade', 'SIGKILL', 'gave-up', RESTART.burst + 1]);
    assert.deepEqual(pids.filter(alive), [], 'the demo stopped every service');
  });
});
