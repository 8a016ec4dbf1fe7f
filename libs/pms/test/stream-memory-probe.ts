// Streams a generated result of ~190 MB of JSON through a connector while sampling the RSS of this process and
// of the SQLite worker; prints the figures as one JSON line. Run by streaming.test.ts in its own process so
// its V8 flags are fixed (see there).
import { openConnector } from '@halo/pms';
import { onlyWorkerPid, residentBytes } from './process-stats.ts';

const [path, rowsArg] = process.argv.slice(2);
if (path === undefined) throw new Error('usage: stream-memory-probe.ts <database> [rows]');
const rows = Number(rowsArg ?? 1_000_000);
// ~190 bytes of JSON per row: a counter and a 180-character string.
const text = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${rows}) SELECT x, printf('%.180c', 'x') AS pad FROM c`;

const connector = await openConnector({ engine: 'sqlite', path });
try {
  const cursor = await connector.stream({ text, parameters: [], executionMode: 'reader', deadline: Date.now() + 600_000 });
  const worker = onlyWorkerPid();
  const parentBefore = process.memoryUsage().rss;
  const workerBefore = residentBytes(worker);
  let parentPeak = parentBefore;
  let workerPeak = workerBefore;
  let batches = 0;
  let received = 0;
  for await (const batch of cursor) {
    received += batch.length;
    batches += 1;
    if (batches % 50 === 0) {
      parentPeak = Math.max(parentPeak, process.memoryUsage().rss);
      workerPeak = Math.max(workerPeak, residentBytes(worker));
    }
  }
  const { rowCount, bytes, executionMs } = cursor.summary();
  console.log(JSON.stringify({ received, rowCount, bytes, batches, executionMs, parentBefore, parentPeak, workerBefore, workerPeak }));
} finally {
  await connector.close();
}
