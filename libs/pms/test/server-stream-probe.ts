// Streams a generated result of ~190 MB of JSON from PostgreSQL or MariaDB through a connector while sampling
// this process's RSS; prints the figures as one JSON line. Run by postgres.test.ts / mysql.test.ts in its own
// process with a pinned young generation (see streaming.test.ts for why).
import { openConnector } from '@halo/pms';
import type { MysqlConfig, PostgresConfig } from '@halo/pms';

const [configJson, rowsArg] = process.argv.slice(2);
if (configJson === undefined) throw new Error('usage: server-stream-probe.ts <config json> [rows]');
const config = JSON.parse(configJson) as PostgresConfig | MysqlConfig;
const rows = Number(rowsArg ?? 1_000_000);
// ~190 bytes of JSON per row: a counter and a 180-character string.
const text = config.engine === 'postgres'
  ? "SELECT x, repeat('x', 180) AS pad FROM generate_series(1, @n::int) AS x"
  : "SELECT seq AS x, REPEAT('x', 180) AS pad FROM seq_1_to_10000000 WHERE seq <= @n";

const connector = await openConnector(config);
try {
  const cursor = await connector.stream({
    text, parameters: [{ name: '@n', direction: 'input', type: 'Int', value: String(rows) }], executionMode: 'reader', deadline: Date.now() + 600_000,
  });
  const before = process.memoryUsage().rss;
  let peak = before;
  let batches = 0;
  let received = 0;
  let last: unknown;
  for await (const batch of cursor) {
    received += batch.length;
    batches += 1;
    last = batch.at(-1)?.[0];
    if (batches % 50 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const { rowCount, bytes, executionMs } = cursor.summary();
  console.log(JSON.stringify({ received, rowCount, bytes, batches, executionMs, before, peak, last }));
} finally {
  await connector.close();
}
