/**
 * The rows of a Halo-shaped result: `result.data` (or a result page's `data`) is base64 of the UTF-8 JSON
 * array of row objects.
 */
export function resultRows(body: unknown): Record<string, any>[] {
  const holder = body as { result?: { data?: unknown }; data?: unknown };
  const data = holder.result?.data ?? holder.data;
  if (typeof data !== 'string') throw new TypeError(`no base64 data in ${JSON.stringify(body).slice(0, 200)}`);
  return JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as Record<string, any>[];
}
