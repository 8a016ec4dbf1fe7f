import { SiteForIntegrator } from '@halo/contracts';
import { samplePairingCode } from '@halo/sample-practice';
import type { FacadeCall } from './facade-client.ts';

/**
 * Pairs the demo integrator with each practice's authoritative site the way an integrator does on Halo:
 * `POST /integrator/pair-site?practiceManagementSiteId=&practiceManagementName=&pairingCode=`, with the code
 * the sample PMS issues (the practice would read it from its PMS).
 */
export async function pairSites(call: FacadeCall, subscriptionKey: string, pmsIds: readonly string[], signal?: AbortSignal): Promise<SiteForIntegrator[]> {
  const paired: SiteForIntegrator[] = [];
  for (const pmsId of pmsIds) {
    const query = new URLSearchParams({ practiceManagementSiteId: pmsId, practiceManagementName: 'Sample Dental', pairingCode: samplePairingCode(pmsId) });
    const answer = await call(`/integrator/pair-site?${query}`, {
      method: 'POST',
      headers: { 'Ocp-Apim-Subscription-Key': subscriptionKey },
      ...(signal ? { signal } : {}),
    });
    if (answer.status !== 200) throw new Error(`pairing with ${pmsId} failed: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    paired.push(SiteForIntegrator.parse(answer.body));
  }
  return paired;
}
