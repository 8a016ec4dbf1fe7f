import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

/** An answer of the facade: HTTP status and the body, parsed as JSON when it is JSON. */
export interface FacadeAnswer {
  status: number;
  body: unknown;
}

export interface FacadeRequest {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal;
  /** Default 5 000. */
  timeoutMs?: number;
}

/** Calls the facade over HTTPS trusting `ca` (the demo's private CA), as an integrator or support would. */
export type FacadeCall = (path: string, init?: FacadeRequest) => Promise<FacadeAnswer>;

/** A FacadeCall for `baseUrl`; `ca` is the PEM of the CA its certificate comes from (plain http needs none). */
export function facadeClient(baseUrl: string, ca: Buffer | undefined): FacadeCall {
  return (path, init = {}) => new Promise<FacadeAnswer>((resolve, reject) => {
    const url = new URL(path, baseUrl);
    const payload = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body), 'utf8');
    const headers: Record<string, string> = { ...init.headers, ...(payload ? { 'content-type': 'application/json' } : {}) };
    const signal = AbortSignal.any([AbortSignal.timeout(init.timeoutMs ?? 5_000), ...(init.signal ? [init.signal] : [])]);
    const options = { method: init.method ?? (payload ? 'POST' : 'GET'), headers, signal, ...(url.protocol === 'https:' && ca ? { ca } : {}) };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', (err) => reject(signal.aborted && !init.signal?.aborted ? new Error(`no answer from ${url.origin} in time`) : err));
    req.end(payload);
  });
}
