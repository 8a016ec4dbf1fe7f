import { SitesResponse, type SiteForIntegrator } from '@halo/contracts';
import type { FacadeCall } from './facade-client.ts';

export interface WaitForSitesOptions {
  /** The facade, trusting its CA. */
  call: FacadeCall;
  subscriptionKey: string;
  /** How many sites each PMS ID must list. */
  expected: ReadonlyMap<string, number>;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Polls `GET /integrator/sites` through the facade until every PMS ID lists its expected sites; returns them all. */
export async function waitForSites(options: WaitForSitesOptions): Promise<SiteForIntegrator[]> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    options.signal?.throwIfAborted();
    const found: SiteForIntegrator[] = [];
    let complete = true;
    for (const [pmsId, count] of options.expected) {
      try {
        const response = await options.call(`/integrator/sites?practiceManagementSiteId=${encodeURIComponent(pmsId)}`, {
          headers: { 'Ocp-Apim-Subscription-Key': options.subscriptionKey },
          ...(options.signal ? { signal: options.signal } : {}),
        });
        if (response.status !== 200) {
          last = `${pmsId}: HTTP ${response.status} ${JSON.stringify(response.body)}`;
          complete = false;
          continue;
        }
        const { sites } = SitesResponse.parse(response.body);
        found.push(...sites);
        if (sites.length < count) {
          last = `${pmsId}: ${sites.length} of ${count} sites`;
          complete = false;
        }
      } catch (err) {
        options.signal?.throwIfAborted();
        last = `${pmsId}: ${err instanceof Error ? err.message : String(err)}`;
        complete = false;
      }
    }
    options.signal?.throwIfAborted();
    if (complete) return found;
    if (Date.now() > deadline) throw new Error(`the facade did not list every demo site within ${options.timeoutMs} ms (${last})`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
