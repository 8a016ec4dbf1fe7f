// Messages through a hub nats-server, read from its monitoring endpoint (/connz lists client and leaf node
// connections): how many each connection published (in) and was delivered (out) between two samples.

/** In and out message counts by connection name (a leaf node's is its link's name). */
export type MessageCounts = Record<string, { in: number; out: number }>;

interface Counted {
  name?: string;
  in_msgs: number;
  out_msgs: number;
}

/** The counts now (connections that closed since an earlier sample are missing, not subtracted). */
export async function hubMessages(monitorUrl: string): Promise<MessageCounts> {
  const connz = await fetch(`${monitorUrl}/connz?limit=4096`).then((r) => r.json() as Promise<{ connections?: Counted[] }>);
  const counts: MessageCounts = {};
  for (const c of connz.connections ?? []) {
    const entry = (counts[c.name || 'unnamed'] ??= { in: 0, out: 0 });
    entry.in += c.in_msgs;
    entry.out += c.out_msgs;
  }
  return counts;
}

/** Adds the messages each connection moved between two samples to `into`. */
export function addMessages(into: MessageCounts, before: MessageCounts, after: MessageCounts): void {
  for (const [name, now] of Object.entries(after)) {
    const was = before[name] ?? { in: 0, out: 0 };
    const entry = (into[name] ??= { in: 0, out: 0 });
    entry.in += now.in - was.in;
    entry.out += now.out - was.out;
  }
}

/** Per-operation messages between two samples, as "name in/out" for every connection that moved any. */
export function messagesLine(before: MessageCounts, after: MessageCounts, operations: number): string {
  const parts: string[] = [];
  let total = 0;
  for (const [name, now] of Object.entries(after)) {
    const was = before[name] ?? { in: 0, out: 0 };
    const inPer = (now.in - was.in) / operations;
    const outPer = (now.out - was.out) / operations;
    if (inPer < 0.005 && outPer < 0.005) continue;
    total += inPer;
    parts.push(`${name} ${inPer.toFixed(2)}/${outPer.toFixed(2)}`);
  }
  return `hub msgs/op (published/delivered)  ${parts.join('  ')}  | published ${total.toFixed(2)}`;
}
