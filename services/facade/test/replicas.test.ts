import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '@halo/log';
import { connectNats } from '@halo/messaging';
import { launchHub } from '@halo/testkit';
import { startFacade } from '../src/index.ts';
import { KEY } from './fakes.ts';

const log = createLogger({ name: 'facade-replicas-test', level: 'silent' });
const LIMIT = { perSecond: 10, burst: 10 };
const TTL_MS = 1_000;

/** Fires `n` requests at once at `url` (an unknown route: it costs a token and needs no registry); counts the admitted. */
async function burst(url: string, n: number): Promise<{ admitted: number; limited: Array<{ retryAfter: string | null; code: string }> }> {
  const responses = await Promise.all(Array.from({ length: n }, async () => {
    const r = await fetch(`${url}/integrator/sites/x/queries/y`, { headers: { 'ocp-apim-subscription-key': KEY } });
    const body = await r.json() as { error: { code: string } };
    return { status: r.status, retryAfter: r.headers.get('retry-after'), code: body.error.code };
  }));
  for (const r of responses) if (r.status !== 429) assert.equal(r.status, 404);
  const limited = responses.filter((r) => r.status === 429);
  return { admitted: responses.length - limited.length, limited };
}

test('two facade replicas on one hub hold an integrator to its limit together; a dead one\'s share returns after its TTL', async (t) => {
  const hub = await launchHub();
  t.after(() => hub.close());
  const start = async (name: string) => {
    const nc = await connectNats({ servers: hub.clientUrl, name, log });
    t.after(() => nc.close());
    const facade = await startFacade({ requirePairing: false, nc, port: 0, host: '127.0.0.1', keys: [{ integratorId: 'acme', key: KEY }], rateLimit: LIMIT, replicaTtlMs: TTL_MS, log });
    t.after(() => facade.close());
    return { nc, facade };
  };
  const a = await start('facade-a');
  const b = await start('facade-b');
  // Let each replica's watch hear the other's announcement (milliseconds; one heartbeat is ttl/3).
  await sleep(TTL_MS / 2);

  // 40 requests at once, half at each replica: the integrator's limit is 10 in all, not 10 per replica.
  const [fromA, fromB] = await Promise.all([burst(a.facade.url, 20), burst(b.facade.url, 20)]);
  const admitted = fromA.admitted + fromB.admitted;
  t.diagnostic(`admitted across two replicas: ${admitted} (A ${fromA.admitted}, B ${fromB.admitted}) of 40; limit burst ${LIMIT.burst}`);
  assert.ok(admitted < 1.5 * LIMIT.burst, `${admitted} admitted across two replicas; the limit is ${LIMIT.burst}`);
  assert.ok(fromA.admitted >= 1 && fromB.admitted >= 1, 'each replica admits its share');
  for (const refused of [...fromA.limited, ...fromB.limited]) {
    assert.equal(refused.code, 'rate_limited');
    assert.ok(Number(refused.retryAfter) >= 1);
  }

  // B dies without closing (its connection is gone, its key stays): A takes the whole limit once B's entry expires
  // (TTL) and its bucket refills (1 s at 10/s).
  await b.nc.close();
  await sleep(2 * TTL_MS);
  const alone = await burst(a.facade.url, 20);
  t.diagnostic(`admitted by the remaining replica: ${alone.admitted} of 20`);
  assert.ok(alone.admitted > 0.75 * LIMIT.burst, `${alone.admitted} admitted by the one live replica; its share should be the whole ${LIMIT.burst}`);
});
