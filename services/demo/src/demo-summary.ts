import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A site as the demo reports it. */
export interface DemoSite {
  haloGuid: string;
  pmsType: string;
  pmsId: string;
  practiceName: string;
  authoritative: boolean;
}

/** What `<data>/demo.json` holds. */
export interface DemoSummary {
  /** https://127.0.0.1:<port>; its certificate comes from the demo's private CA (caFile). */
  facadeUrl: string;
  /** PEM of the CA the facade's (and the hub's leafnode) certificate comes from: `curl --cacert`, NODE_EXTRA_CA_CERTS. */
  caFile: string;
  subscriptionKey: string;
  /** Key for `/support/*` and `npm run support` (HALO_SUPPORT_KEY); absent in summaries from older runs. */
  supportKey?: string;
  /**
   * Internal metrics endpoints, as a deployment's Prometheus would scrape them: `facade`, `registry`, `worker`
   * (`/metrics`, HALO_METRICS_PORT) and the hub's nats-server monitoring (`/varz`); absent in older summaries.
   */
  metrics?: Record<string, string>;
  sites: DemoSite[];
}

/** A patient of practice A with several appointments in the generated data. */
export const DEMO_PATIENT = 42;

/** The demo query: one patient's appointments, with a named parameter. */
export function demoQueryBody(patNum = DEMO_PATIENT): object {
  return {
    command: {
      text: 'SELECT AptNum, AptDateTime, AptStatus, ProcDescript FROM appointment WHERE PatNum = @patNum ORDER BY AptDateTime',
      executionMode: 'reader',
      parameters: [{ name: '@patNum', type: 'Int', value: String(patNum) }],
    },
  };
}

/** The support console and integrator portal of the running facade (sign in with the support and subscription keys). */
export function demoBrowserUrls(summary: Pick<DemoSummary, 'facadeUrl'>): { console: string; portal: string } {
  return { console: `${summary.facadeUrl}/console`, portal: `${summary.facadeUrl}/portal` };
}

/** One titled, ready-to-paste shell command. */
export interface DemoCommand {
  title: string;
  command: string;
}

/** `text` quoted for a POSIX shell. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/**
 * curl commands against the running facade (HTTPS, trusting the demo CA): site lookup, a query on the
 * authoritative site, the same on a backup (403).
 */
export function demoCommands(summary: DemoSummary): DemoCommand[] {
  const { facadeUrl, subscriptionKey } = summary;
  const header = `--cacert ${shellQuote(summary.caFile)} -H 'Ocp-Apim-Subscription-Key: ${subscriptionKey}'`;
  const authoritative = summary.sites.find((s) => s.authoritative);
  const backup = summary.sites.find((s) => !s.authoritative && s.pmsId === authoritative?.pmsId);
  const commands: DemoCommand[] = [];
  if (authoritative) {
    commands.push({
      title: `Sites of PMS ID ${authoritative.pmsId} (${authoritative.practiceName} and its backup)`,
      command: `curl -s ${header} '${facadeUrl}/integrator/sites?practiceManagementSiteId=${encodeURIComponent(authoritative.pmsId)}'`,
    });
    const query = (haloGuid: string) =>
      `curl -s -X POST ${header} -H 'Content-Type: application/json' \\\n  --data '${JSON.stringify(demoQueryBody())}' \\\n  '${facadeUrl}/integrator/sites/${haloGuid}/queries/immediate'`;
    commands.push({ title: `Appointments of patient ${DEMO_PATIENT} at the authoritative site`, command: query(authoritative.haloGuid) });
    if (backup) commands.push({ title: 'The same query on the backup (not authoritative): 403 site_not_authoritative', command: query(backup.haloGuid) });
  }
  return commands;
}

/** Writes demo.json atomically (temp file + rename). */
export function writeDemoSummary(path: string, summary: DemoSummary): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** What `npm start` and `npm run cluster` print once the system is up: URL, CA, keys, sites, curl commands. */
export function summaryLines(demo: DemoSummary & { secretsDir: string; enrolled: readonly string[] }, dataDir: string): string[] {
  const ca = shellQuote(demo.caFile);
  return [
    '',
    `Halo is running. Facade: ${demo.facadeUrl}  (OpenAPI: ${demo.facadeUrl}/docs)`,
    `Support console: ${demoBrowserUrls(demo).console}  (sign in with the support key below)`,
    `Integrator portal: ${demoBrowserUrls(demo).portal}  (sign in with the subscription key below)`,
    `HTTPS certificate from the demo's private CA: ${demo.caFile} (curl --cacert, NODE_EXTRA_CA_CERTS; browsers will warn)`,
    `NATS secrets (operator, accounts, creds): ${demo.secretsDir}`,
    ...(demo.enrolled.length > 0 ? [`Enrolled with one-time tokens: ${demo.enrolled.map((g) => `link ${g}`).join(', ')}`] : []),
    `Subscription key (integrator "demo"): ${demo.subscriptionKey}`,
    ...(demo.supportKey ? [
      `Support key (support API /support/*): ${demo.supportKey}`,
      `  e.g. NODE_EXTRA_CA_CERTS=${ca} HALO_SUPPORT_URL=${demo.facadeUrl} HALO_SUPPORT_KEY=${demo.supportKey} npm run support -- list`,
    ] : []),
    ...(demo.metrics ? [`Metrics (internal): ${Object.entries(demo.metrics).map(([name, url]) => `${name} ${url}`).join(', ')}`] : []),
    '',
    'Sites:',
    ...demo.sites.map((s) => `  ${s.haloGuid}  ${s.pmsType}  ${s.pmsId}  ${s.practiceName}${s.authoritative ? '  (authoritative)' : '  (not authoritative)'}`),
    '',
    ...demoCommands(demo).flatMap((c) => [`# ${c.title}`, c.command, '']),
    `The same is in ${join(dataDir, 'demo.json')}; logs are in ${join(dataDir, 'logs')}.`,
    'Ctrl-C stops everything.',
    '',
  ];
}
