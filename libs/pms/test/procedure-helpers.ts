import type { Cell, ResultParameter } from '@halo/contracts';
import type { Connector, QueryInput } from '@halo/pms';

/** Streams a statement to the end: its rows, rows affected and output parameters. */
export async function collectAll(connector: Connector, input: QueryInput): Promise<{ rows: Cell[][]; affected?: number; parameters?: ResultParameter[] }> {
  const cursor = await connector.stream(input);
  const rows: Cell[][] = [];
  for await (const batch of cursor) rows.push(...batch);
  const { affected, parameters } = cursor.summary();
  return { rows, ...(affected === undefined ? {} : { affected }), ...(parameters === undefined ? {} : { parameters }) };
}
