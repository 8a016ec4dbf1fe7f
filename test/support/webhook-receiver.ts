import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got, checked the way an integrator would check it. */
export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  raw: string;
  /** Whether X-Halo-Signature-256 is the HMAC of `raw + "." + X-Halo-Timestamp` with the secret. */
  signatureValid: boolean;
  /** Whether X-Halo-Timestamp is within 5 minutes of now. */
  fresh: boolean;
  /** The status the receiver answered. */
  answered: number;
}

/**
 * An integrator's webhook endpoint on a random loopback port: verifies every request independently of the
 * sender's code and answers what `answer(request, attempt)` says (attempt counts requests with the same X-Halo-Id).
 */
export async function startWebhookReceiver(): Promise<{
  url: string;
  received: ReceivedWebhook[];
  setSecret(secret: string): void;
  answer: (webhookId: string, attempt: number) => number;
  setAnswer(fn: (webhookId: string, attempt: number) => number): void;
  close(): Promise<void>;
}> {
  let secret = '';
  let answer = (_id: string, _attempt: number) => 200;
  const received: ReceivedWebhook[] = [];
  const attempts = new Map<string, number>();
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      const id = String(req.headers['x-halo-id'] ?? '');
      const timestamp = String(req.headers['x-halo-timestamp'] ?? '');
      const expected = createHmac('sha256', secret).update(`${raw}.${timestamp}`).digest();
      const given = Buffer.from(String(req.headers['x-halo-signature-256'] ?? ''), 'hex');
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const status = answer(id, attempt);
      received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(raw) as Record<string, unknown>,
        raw,
        signatureValid: given.length === expected.length && timingSafeEqual(given, expected) && /^[0-9a-f]{64}$/.test(String(req.headers['x-halo-signature-256'])),
        fresh: Math.abs(Date.now() - Date.parse(timestamp)) <= 5 * 60_000,
        answered: status,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    setSecret: (s) => { secret = s; },
    get answer() { return answer; },
    setAnswer: (fn) => { answer = fn; },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
