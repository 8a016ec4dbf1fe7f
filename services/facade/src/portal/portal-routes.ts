import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { WebhookDelivery } from '@halo/contracts';
import type { Authenticator, SiteDirectory } from '../deps.ts';
import type { BrowserUiDeps } from '../console/browser-ui-deps.ts';
import { csrfField, formBodies, html, htmlErrors, page, requireSession, sendPage, signInRoutes, type Html, type SessionScope } from '../console/web.ts';
import type { UsageEntry, UsageStore } from '../usage/usage-store.ts';
import { usageByDay, type UsageDay } from '../usage/usage-summary.ts';
import { usageChart } from './usage-chart.ts';
import { bindBucket } from '@halo/messaging';

export interface PortalOptions {
  scope: SessionScope;
  auth: Authenticator;
  usage: UsageStore;
  directory: SiteDirectory;
  /** For the paired sites (the registry's `pairings` bucket); without it only queried sites are listed. */
  nc?: NatsConnection;
  deliveries?: BrowserUiDeps['deliveries'];
}

const DAYS = 14;
const RECENT = 50;

/** `/portal`: an integrator's own usage, recent queries (metadata only), sites and webhook deliveries, signed in with its subscription key. */
export async function portalRoutes(app: FastifyInstance, options: PortalOptions): Promise<void> {
  const { scope } = options;
  formBodies(app);
  htmlErrors(app, '/portal');
  requireSession(app, scope);
  const view = (request: FastifyRequest, reply: FastifyReply, title: string, body: Html) => {
    const session = request.uiSession!;
    const nav = html`<nav aria-label="Sections"><a href="/portal">Usage</a></nav><span class="who">${session.sub}</span>
<form method="post" action="/portal/sign-out" class="inline">${csrfField(scope, session)}<button type="submit" class="link">Sign out</button></form>`;
    return sendPage(reply, page({ title, base: '/portal', nav, body }));
  };

  signInRoutes(app, scope, { label: 'Subscription key', home: '/portal', authenticate: (key) => options.auth.authenticate(key)?.integratorId ?? null });

  app.get('/portal', async (request, reply) => {
    const integratorId = request.uiSession!.sub;
    const entries = await options.usage.read(integratorId, Date.now() - DAYS * 86_400_000);
    const days = usageByDay(entries, DAYS);
    const paired = options.nc ? await pairedSites(options.nc, integratorId) : [];
    // Sites it paired with or was answered by (2xx): a GUID it merely tried tells it nothing new here.
    const siteIds = [...new Set([...paired, ...entries.flatMap((e) => (e.siteId && e.status < 300 ? [e.siteId] : []))])];
    const sites = (await Promise.all(siteIds.map((id) => options.directory.get(id).catch(() => null)))).flatMap((s) => (s ? [s] : []));
    // The rest of the page is still worth showing when the records cannot be read.
    const deliveries = await options.deliveries?.recent(integratorId, RECENT).catch((err: unknown) => {
      request.log.warn({ err: err instanceof Error ? err.name : typeof err }, 'reading webhook deliveries failed');
      return null;
    });
    const recent = entries.filter((e) => e.queryId !== undefined || e.siteId !== undefined).slice(-RECENT).reverse();
    const body = html`<section aria-labelledby="chart-title"><h2 id="chart-title">Requests per day (last ${DAYS} days)</h2>
${usageChart(days)}
${usageTable(days)}</section>
<section aria-labelledby="recent-title"><h2 id="recent-title">Recent queries</h2>
<p class="muted">Metadata only: the query text, parameters and rows are never kept.</p>
${recentTable(recent)}</section>
<section aria-labelledby="sites-title"><h2 id="sites-title">Your sites</h2>
${sites.length === 0 ? html`<p>No paired or queried sites yet.</p>` : html`<table><thead><tr><th scope="col">Halo GUID</th><th scope="col">Practice</th><th scope="col">PMS ID</th><th scope="col">Paired</th><th scope="col">Authoritative</th><th scope="col">Availability</th></tr></thead>
<tbody>${sites.map((s) => html`<tr><td><code>${s.haloGuid}</code></td><td>${s.practiceName}</td><td>${s.pmsId}</td><td>${paired.includes(s.haloGuid) ? 'yes' : 'no'}</td><td>${s.authoritative ? 'yes' : 'no'}</td><td><span class="badge ${s.availability}">${s.availability}</span></td></tr>`)}</tbody></table>`}</section>
<section aria-labelledby="webhooks-title"><h2 id="webhooks-title">Webhook deliveries</h2>
<div data-slot="webhook-deliveries">${deliveries === undefined ? html`<p class="muted">Webhooks are not enabled on this facade.</p>`
  : deliveries === null ? html`<p role="alert">The webhook deliveries cannot be read just now.</p>` : deliveriesTable(deliveries)}</div></section>`;
    return view(request, reply, `Usage of ${integratorId}`, body);
  });
}

/** Halo GUIDs the integrator paired with (KV `pairings`, keys `<base64url integratorId>.<haloGuid>`). */
async function pairedSites(nc: NatsConnection, integratorId: string): Promise<string[]> {
  const prefix = Buffer.from(integratorId, 'utf8').toString('base64url');
  try {
    const kv = await bindBucket(nc, 'pairings');
    const out: string[] = [];
    for await (const key of await kv.keys(`${prefix}.>`)) out.push(key.slice(prefix.length + 1));
    return out;
  } catch {
    return [];
  }
}

function usageTable(days: readonly UsageDay[]): Html {
  const statuses = [...new Set(days.flatMap((d) => Object.keys(d.byStatus)))].sort();
  return html`<table class="usage"><caption>Per day (UTC)</caption><thead><tr><th scope="col">Day</th><th scope="col">Requests</th>${statuses.map((s) => html`<th scope="col">${s}</th>`)}<th scope="col">Rate-limited</th><th scope="col">Bytes</th><th scope="col">p50 ms</th><th scope="col">p99 ms</th><th scope="col">By site</th></tr></thead>
<tbody>${days.filter((d) => d.total > 0).map((d) => html`<tr><td>${d.day}</td><td>${d.total}</td>${statuses.map((s) => html`<td>${d.byStatus[s] ?? 0}</td>`)}<td>${d.rateLimited}</td><td>${d.bytes}</td><td>${d.p50Ms}</td><td>${d.p99Ms}</td>
<td>${Object.entries(d.bySite).map(([site, n]) => html`<div><code>${site}</code>: ${n}</div>`)}</td></tr>`)}</tbody></table>`;
}

function recentTable(recent: readonly UsageEntry[]): Html {
  if (recent.length === 0) return html`<p>No queries yet.</p>`;
  return html`<table class="recent"><thead><tr><th scope="col">When</th><th scope="col">Query id</th><th scope="col">Site</th><th scope="col">Mode</th><th scope="col">Status</th><th scope="col">Error code</th><th scope="col">Duration ms</th><th scope="col">Size (bytes)</th></tr></thead>
<tbody>${recent.map((e) => html`<tr><td>${new Date(e.at).toISOString()}</td><td><code>${e.queryId ?? '—'}</code></td><td><code>${e.siteId ?? '—'}</code></td><td>${e.mode ?? '—'}</td><td>${e.status}</td><td>${e.errorCode ?? '—'}</td><td>${e.durationMs}</td><td>${e.bytes}</td></tr>`)}</tbody></table>`;
}

function deliveriesTable(deliveries: readonly WebhookDelivery[]): Html {
  if (deliveries.length === 0) return html`<p>No webhook deliveries yet.</p>`;
  return html`<p class="muted">Metadata only: each event's latest attempt. Retries back off, doubling from the first delay.</p>
<table class="deliveries"><thead><tr><th scope="col">When</th><th scope="col">Event id</th><th scope="col">Source</th><th scope="col">Query id</th><th scope="col">Site</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">State</th></tr></thead>
<tbody>${deliveries.map((d) => html`<tr><td>${d.at}</td><td><code>${d.eventId}</code></td><td>${d.webhookSource}</td><td><code>${d.queryId}</code></td><td><code>${d.siteId}</code></td><td>${d.attempts}</td>
<td>${d.lastStatus !== undefined ? `HTTP ${d.lastStatus}` : d.lastError ?? '—'}</td><td><span class="badge ${d.state}">${d.state}</span></td></tr>`)}</tbody></table>`;
}
