// The registry's and the worker's internal listener as their main.ts opens it (HALO_METRICS_PORT=0, the port read
// from the `{ port }` log line): /health/live, /health/ready (NATS connected and JetStream resources open), and
// on SIGTERM not-ready first (for HALO_DRAIN_DELAY_MS), then a clean exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { projectRoot } from '@halo/config';
import { launchHub } from '@halo/testkit';
import { eventually } from '../support/system.ts';

const SERVICES = [
  { name: 'registry', script: 'services/registry/src/main.ts', ready: 'registry ready' },
  { name: 'worker', script: 'services/worker/src/main.ts', ready: 'worker ready' },
] as const;

for (const service of SERVICES) {
  test(`${service.name}: probes on the metrics port; not ready while NATS is down and first at SIGTERM`, async (t) => {
    const hub = await launchHub();
    t.after(() => hub.close());
    const child = spawn(process.execPath, [join(projectRoot(), service.script)], {
      cwd: projectRoot(),
      env: { ...process.env, HALO_NATS_URL: hub.clientUrl, HALO_METRICS_PORT: '0', HALO_DRAIN_DELAY_MS: '4000', HALO_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    });
    const listening = await eventually(async () => lines.find((l) => l.msg === 'metrics listening'), 30_000);
    const base = `http://127.0.0.1:${listening.port as number}`;
    const status = async (path: string) => (await fetch(`${base}${path}`)).status;
    await eventually(async () => lines.some((l) => l.msg === service.ready), 30_000);

    assert.equal(await status('/health/live'), 200);
    await eventually(async () => (await status('/health/ready')) === 200);
    assert.equal(await status('/metrics'), 200);
    assert.equal(await status('/nope'), 404);

    // Hub gone: not ready, still live; back: ready again.
    await hub.server.close();
    await eventually(async () => (await status('/health/ready')) === 503);
    assert.equal(await status('/health/live'), 200);
    await hub.server.start();
    await eventually(async () => (await status('/health/ready')) === 200, 30_000);

    child.kill('SIGTERM');
    const body = await eventually(async () => {
      const res = await fetch(`${base}/health/ready`);
      return res.status === 503 ? (await res.json()) as { error: { code: string; message: string } } : undefined;
    });
    assert.equal(body.error.code, 'service_unavailable');
    assert.match(body.error.message, /draining/);
    assert.equal(await status('/health/live'), 200, 'live while draining');
    const [code] = await exited;
    assert.equal(code, 0);
    const order = lines.map((l) => l.msg);
    assert.ok(order.indexOf('draining') < order.indexOf('stopped'), order.join(', '));
  });
}
