import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, isAppError, type AuditEntry, type SiteView, type SupportLink, type SupportPractice, type SupportWebhookSet, type SupportWebhookView } from '@halo/contracts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { SupportDeps } from '../deps.ts';
import { csrfField, field, formBodies, html, htmlErrors, page, requireSession, sendPage, signInRoutes, type Html, type SessionScope } from './web.ts';
import { streamRegistryChanges } from './live-feed.ts';
import { installInstructions } from './install-command.ts';
import { auditWebhookChange } from '../routes/support-webhooks.ts';
import type { BrowserUiDeps, ConsoleIntegrator, IntegratorSlots } from './browser-ui-deps.ts';

export interface ConsoleOptions {
  scope: SessionScope;
  support: SupportDeps;
  integrators: IntegratorSlots;
  /** For the live view (KV watch); without it the pages do not update by themselves. */
  nc?: NatsConnection;
  history?: BrowserUiDeps['history'];
}


/** `/console`: the support console (server-rendered pages over the registry's support verbs). */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const { scope, support } = options;
  formBodies(app);
  htmlErrors(app, '/console');
  requireSession(app, scope);
  const nav = html`<nav aria-label="Sections"><a href="/console/practices">Practices</a><a href="/console/links">Links</a><a href="/console/integrators">Integrators</a></nav>`;
  const view = (request: FastifyRequest, reply: FastifyReply, title: string, body: Html, status = 200, live?: string) => {
    const session = request.uiSession!;
    const signOut = html`<span class="who">${session.sub}</span><form method="post" action="/console/sign-out" class="inline">${csrfField(scope, session)}<button type="submit" class="link">Sign out</button></form>`;
    return sendPage(reply, page({ title, base: '/console', nav: html`${nav}${signOut}`, body, ...(live ? { live } : {}) }), status);
  };

  app.get('/console', async (_request, reply) => reply.redirect('/console/practices', 303));

  signInRoutes(app, scope, { label: 'Support key', home: '/console/practices', authenticate: (key) => support.auth.authenticate(key)?.supportUserId ?? null });

  app.get('/console/practices', async (request, reply) => {
    const q = typeof (request.query as { q?: unknown }).q === 'string' ? (request.query as { q: string }).q.trim() : '';
    const { practices } = await support.registry.list({});
    const needle = q.toLowerCase();
    const found = needle === '' ? practices : practices.filter((p) =>
      p.pmsId.toLowerCase().includes(needle) || p.pmsType.toLowerCase().includes(needle)
      || p.sites.some((s) => s.practiceName.toLowerCase().includes(needle)));
    const body = html`<form method="get" action="/console/practices" role="search" class="search">
<label for="q">PMS ID, PMS type or practice name</label>
<input id="q" name="q" type="search" value="${q}" autocomplete="off">
<button type="submit">Search</button>
</form>
${found.length === 0 ? html`<p role="status">No practice matches.</p>` : html`<table>
<caption>${found.length} practice${found.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">PMS ID</th><th scope="col">PMS type</th><th scope="col">Practice name</th><th scope="col">Sites</th><th scope="col">Authoritative since</th></tr></thead>
<tbody>${found.map((p) => html`<tr><td><a href="${practiceHref(p)}">${p.pmsId}</a></td><td>${p.pmsType}</td><td>${practiceName(p)}</td><td>${p.sites.length}</td><td>${p.since}</td></tr>`)}</tbody>
</table>`}`;
    return view(request, reply, 'Practices', body);
  });

  const stripOf = async (linkGuid: string): Promise<boolean[] | undefined> => options.history?.strip(linkGuid).catch(() => undefined);
  const practicePage = async (request: FastifyRequest, reply: FastifyReply, pmsType: string, pmsId: string, notice?: Html, status = 200) => {
    const [{ practices, links }, { entries }] = await Promise.all([
      support.registry.list({ pmsType, pmsId }),
      support.registry.audit({ pmsType, pmsId, limit: 50 }),
    ]);
    const practice = practices.find((p) => p.pmsType === pmsType && p.pmsId === pmsId);
    if (!practice) throw new AppError('not_found', 'no such practice');
    const session = request.uiSession!;
    const body = html`${notice ?? ''}
<div class="practice">
<section id="sites" aria-labelledby="sites-title">
<h2 id="sites-title">Sites side by side</h2>
<p>Authority epoch ${practice.epoch}, since ${practice.since}${practice.by ? html` (by ${practice.by}${practice.reason ? html`: “${practice.reason}”` : ''})` : ''}.</p>
<div class="cards">${await Promise.all(practice.sites.map(async (site) => siteCard(site, links.find((l) => l.linkGuid === site.linkGuid), practice, csrfField(scope, session), await stripOf(site.linkGuid))))}</div>
</section>
<aside id="audit" aria-labelledby="audit-title">
<h2 id="audit-title">Audit trail</h2>
${auditList(entries)}
</aside>
</div>`;
    return view(request, reply, `${practiceName(practice)} · ${practice.pmsType} ${practice.pmsId}`, body, status, options.nc ? '/console/live' : undefined);
  };

  app.get('/console/practices/:pmsType/:pmsId', async (request, reply) => {
    const { pmsType, pmsId } = request.params as { pmsType: string; pmsId: string };
    const moved = (request.query as { moved?: unknown }).moved;
    return practicePage(request, reply, pmsType, pmsId, typeof moved === 'string' ? html`<p class="notice ok" role="status">Authority moved to ${moved}. The audit trail has the entry.</p>` : undefined);
  });

  app.post('/console/practices/:pmsType/:pmsId/move', async (request, reply) => {
    const { pmsType, pmsId } = request.params as { pmsType: string; pmsId: string };
    const to = field(request.body, 'to');
    const reason = field(request.body, 'reason');
    const epoch = Number(field(request.body, 'epoch'));
    if (reason === '') return practicePage(request, reply, pmsType, pmsId, html`<p class="notice error" role="alert">A reason is required to move authority.</p>`, 400);
    if (!Number.isInteger(epoch)) throw new AppError('bad_request', 'the form is missing the authority epoch it was made from');
    if (field(request.body, 'step') !== 'commit') {
      const { practices, links } = await support.registry.list({ pmsType, pmsId });
      const practice = practices.find((p) => p.pmsType === pmsType && p.pmsId === pmsId);
      const target = practice?.sites.find((s) => s.haloGuid === to);
      if (!practice || !target) throw new AppError('not_found', 'no such site of this practice');
      const current = practice.sites.find((s) => s.authoritative);
      return view(request, reply, 'Confirm the authority move', confirmMove(practice, target, current, links, reason, epoch, csrfField(scope, request.uiSession!)));
    }
    try {
      await support.registry.move({ pmsType, pmsId, to, reason, by: request.uiSession!.sub, expectedEpoch: epoch });
    } catch (err) {
      if (isAppError(err) && err.code === 'conflict') {
        request.log.info({ pmsType, to }, 'console authority move refused: moved meanwhile');
        return practicePage(request, reply, pmsType, pmsId, html`<p class="notice error" role="alert"><strong>Not moved: someone else moved authority first.</strong> Nothing was overwritten. The sites below are as they are now; check the audit trail and decide again.</p>`, 409);
      }
      throw err;
    }
    request.log.info({ pmsType, to }, 'console authority moved');
    return reply.redirect(`${practiceHref({ pmsType, pmsId })}?moved=${encodeURIComponent(to)}`, 303);
  });

  const linksPage = async (request: FastifyRequest, reply: FastifyReply, notice?: Html, status = 200) => {
    const { links, practices } = await support.registry.list({});
    const csrf = csrfField(scope, request.uiSession!);
    const sites = new Map(practices.flatMap((p) => p.sites).map((s) => [s.haloGuid, s]));
    const body = html`${notice ?? ''}
<section aria-labelledby="enrol-title"><h2 id="enrol-title">Enrol a new Halo Link</h2>
<form method="post" action="/console/enrolment-tokens" class="row">${csrf}
<label for="note">Note (kept in the audit trail)</label><input id="note" name="note" maxlength="200">
<label for="relink">Re-enrol an existing link (optional)</label><select id="relink" name="linkGuid"><option value="">a new link</option>${links.map((l) => html`<option value="${l.linkGuid}">${l.linkGuid}</option>`)}</select>
<button type="submit">Issue a one-time enrolment token</button></form></section>
<section aria-labelledby="links-title"><h2 id="links-title">Links</h2>
<table><thead><tr><th scope="col">Link GUID</th><th scope="col">Environment</th><th scope="col">Availability</th><th scope="col">Halo Link version</th><th scope="col">Update status</th><th scope="col">Last seen</th><th scope="col">Sites</th><th scope="col">Revoke</th></tr></thead>
<tbody>${links.map((link) => html`<tr><td><code>${link.linkGuid}</code></td><td>${link.env}</td><td>${badge(link.availability)}</td><td>${link.version}</td>
<td data-slot="update-status">${updateStatusCell(link.updateStatus)}</td><td>${link.lastSeen}</td>
<td>${link.sites.map((g) => html`<div>${sites.get(g)?.practiceName ?? g}</div>`)}</td>
<td><form method="post" action="/console/links/${link.linkGuid}/revoke" class="stack">${csrf}
<label for="reason-${link.linkGuid}">Reason</label><input id="reason-${link.linkGuid}" name="reason" required maxlength="1000">
<button type="submit" class="danger">Revoke credentials</button></form></td></tr>`)}</tbody></table></section>`;
    return view(request, reply, 'Links', body, status);
  };

  app.get('/console/links', async (request, reply) => linksPage(request, reply));

  app.post('/console/links/:linkGuid/revoke', async (request, reply) => {
    const { linkGuid } = request.params as { linkGuid: string };
    const reason = field(request.body, 'reason');
    if (reason === '') return linksPage(request, reply, html`<p class="notice error" role="alert">A reason is required to revoke a link.</p>`, 400);
    if (!support.registry.revoke) throw new AppError('registry_unavailable', 'revocation is not enabled');
    const result = await support.registry.revoke({ linkGuid, reason, by: request.uiSession!.sub });
    return linksPage(request, reply, html`<p class="notice ok" role="status">Link ${result.linkGuid} revoked (${result.revokedKeys.length} key(s)); it stays out until it enrols again.</p>`);
  });

  app.post('/console/enrolment-tokens', async (request, reply) => {
    if (!support.registry.enrolmentToken) throw new AppError('registry_unavailable', 'enrolment is not enabled');
    const linkGuid = field(request.body, 'linkGuid');
    const note = field(request.body, 'note');
    const result = await support.registry.enrolmentToken({ by: request.uiSession!.sub, ...(linkGuid ? { linkGuid } : {}), ...(note ? { note } : {}) });
    const install = installInstructions(`https://${request.headers.host ?? 'facade'}`, result.token);
    const body = html`<p class="notice ok" role="status">Copy it now: the token is shown only once and is used up by the first enrolment.</p>
<dl class="facts"><dt>Token</dt><dd><code id="token">${result.token}</code></dd><dt>Environment</dt><dd>${result.env}</dd><dt>Expires</dt><dd>${result.expiresAt}</dd>
<dt>Enrols</dt><dd>${result.linkGuid ? `link ${result.linkGuid} again (its earlier credentials are revoked when it is used)` : 'a new link'}</dd></dl>
<h2>Install</h2><p>Add this to the Halo Link's config (<code>link.json</code>; <code>ca.pem</code> is the facade's CA):</p>
<pre id="install"><code>${install.config}</code></pre><p>then start it, on the practice server:</p><pre><code>${install.command}</code></pre>
<p><a href="/console/links">Back to links</a></p>`;
    return view(request, reply, 'One-time enrolment token', body);
  });

  const integratorsPage = async (request: FastifyRequest, reply: FastifyReply, notice?: Html, status = 200) => {
    const csrf = csrfField(scope, request.uiSession!);
    const integrators = options.integrators.list();
    // The support API's GET reads the same (KV `webhooks`); never the secret.
    const webhooks = await Promise.all(integrators.map((i) => support.webhooks ? support.webhooks.get(i.id) : Promise.resolve(undefined)));
    const body = html`${notice ?? ''}<table><thead><tr><th scope="col">Integrator</th><th scope="col">Onboarded PMS types</th><th scope="col">Key slots</th><th scope="col">Webhook URL</th></tr></thead>
<tbody>${integrators.map((i, n) => integratorRow(i, csrf, webhooks[n]))}</tbody></table>
<p class="muted">Rotating a slot mints a new key for it and the key in that slot stops working at once; the other slot keeps
working, so an integrator switches to the new key without downtime. The new key is shown once.</p>`;
    return view(request, reply, 'Integrators', body, status);
  };

  app.get('/console/integrators', async (request, reply) => integratorsPage(request, reply));

  app.post('/console/integrators/:integratorId/slots/:slot/rotate', async (request, reply) => {
    const { integratorId, slot } = request.params as { integratorId: string; slot: string };
    const by = request.uiSession!.sub;
    const inUse = options.integrators.list().find((i) => i.id === integratorId)?.slots[Number(slot) - 1] === true;
    if (inUse && field(request.body, 'step') !== 'commit') {
      // A slot holding a key: its key stops working at once, so say so and ask again (an empty slot breaks nothing).
      const body = html`<p>Rotate key slot ${slot} of <strong>${integratorId}</strong>?</p>
<ul class="consequences"><li>The key now in slot ${slot} stops working at once: requests with it get <strong>401 unauthorized</strong>.</li>
<li>The other slot is not changed; an integrator on it keeps working.</li><li>The new key is shown once, on the next page.</li></ul>
<form method="post" action="/console/integrators/${encodeURIComponent(integratorId)}/slots/${slot}/rotate" class="row">${csrfField(scope, request.uiSession!)}
<input type="hidden" name="step" value="commit"><button type="submit" class="danger">Rotate slot ${slot} now</button> <a href="/console/integrators">Cancel</a></form>`;
      return view(request, reply, 'Confirm the key rotation', body);
    }
    const key = await options.integrators.rotate(integratorId, Number(slot) - 1, by);
    request.log.info({ integratorId, slot: Number(slot), by }, 'subscription key rotated');
    // Audited like every other change, after it was made (as the registry does for moves); if the audit entry
    // cannot be written the key is still shown (it already works) and the page says so.
    const audited = await support.registry.keyRotated?.({ integratorId, slot: Number(slot), by }).then(() => true, (err: unknown) => {
      request.log.error({ integratorId, err: err instanceof Error ? err.name : typeof err }, 'key rotation not audited');
      return false;
    });
    const notice = html`<div class="notice ok" role="status"><p>Slot ${slot} of ${integratorId} has a new key. Copy it now: it is shown only this once.</p>
<p><code id="new-key">${key}</code></p>${audited === false ? notAudited : ''}</div>`;
    return integratorsPage(request, reply, notice);
  });

  const webhookAdmin = (integratorId: string) => {
    if (!options.integrators.list().some((i) => i.id === integratorId)) throw new AppError('not_found', 'no such integrator');
    if (!support.webhooks) throw new AppError('registry_unavailable', 'webhooks are not enabled on this facade');
    return support.webhooks;
  };

  app.post('/console/integrators/:integratorId/webhook', async (request, reply) => {
    const { integratorId } = request.params as { integratorId: string };
    const by = request.uiSession!.sub;
    const url = field(request.body, 'url');
    if (url === '') return integratorsPage(request, reply, html`<p class="notice error" role="alert">A webhook URL is required.</p>`, 400);
    let set: SupportWebhookSet;
    try {
      set = await webhookAdmin(integratorId).set(integratorId, url, by);
    } catch (err) {
      if (isAppError(err) && err.code === 'webhook_url_refused') return integratorsPage(request, reply, html`<p class="notice error" role="alert">Webhook URL not set: ${err.message}.</p>`, 400);
      throw err;
    }
    // As the support API's PUT: logged and audited, never the secret.
    request.log.info({ integratorId, by }, 'webhook set');
    const audited = await auditWebhookChange(support.registry, request.log, { integratorId, change: 'set', url: set.url, by });
    const notice = html`<div class="notice ok" role="status"><p>The webhook of ${integratorId} now goes to <code>${set.url}</code>. Give the integrator its signing secret now: it is shown only this once.</p>
<p><code id="webhook-secret">${set.secret}</code></p>${audited ? '' : notAudited}</div>`;
    return integratorsPage(request, reply, notice);
  });

  app.post('/console/integrators/:integratorId/webhook/remove', async (request, reply) => {
    const { integratorId } = request.params as { integratorId: string };
    const by = request.uiSession!.sub;
    const webhooks = webhookAdmin(integratorId);
    if (field(request.body, 'step') !== 'commit') {
      const current = await webhooks.get(integratorId);
      if (!current) throw new AppError('not_found', 'the integrator has no webhook');
      const body = html`<p>Remove the webhook of <strong>${integratorId}</strong> (<code>${current.url}</code>)?</p>
<ul class="consequences"><li>Nothing more is sent to it; events not yet delivered are dropped.</li>
<li>Setting a URL again makes a new signing secret.</li></ul>
<form method="post" action="/console/integrators/${encodeURIComponent(integratorId)}/webhook/remove" class="row">${csrfField(scope, request.uiSession!)}
<input type="hidden" name="step" value="commit"><button type="submit" class="danger">Remove the webhook now</button> <a href="/console/integrators">Cancel</a></form>`;
      return view(request, reply, 'Confirm removing the webhook', body);
    }
    if (!(await webhooks.delete(integratorId))) throw new AppError('not_found', 'the integrator has no webhook');
    request.log.info({ integratorId, by }, 'webhook removed');
    const audited = await auditWebhookChange(support.registry, request.log, { integratorId, change: 'removed', by });
    return integratorsPage(request, reply, html`<div class="notice ok" role="status"><p>The webhook of ${integratorId} is removed.</p>${audited ? '' : notAudited}</div>`);
  });

  if (options.nc) {
    const nc = options.nc;
    app.get('/console/live', async (request, reply) => streamRegistryChanges(nc, request, reply, request.log));
  }
}

const notAudited = html`<p><strong>The audit entry could not be written</strong>; tell whoever keeps the audit trail.</p>`;

function integratorRow(i: ConsoleIntegrator, csrf: Html, webhook: SupportWebhookView | null | undefined): Html {
  const id = encodeURIComponent(i.id);
  return html`<tr><td>${i.id}</td><td>${i.pmsTypes ? i.pmsTypes.join(', ') || 'none' : 'every type'}</td>
<td>${i.slots.map((used, n) => html`<form method="post" action="/console/integrators/${encodeURIComponent(i.id)}/slots/${n + 1}/rotate" class="row">${csrf}
<span>slot ${n + 1}: ${used ? 'in use' : 'empty'}</span><button type="submit" aria-label="Rotate slot ${n + 1} of ${i.id}">Rotate</button></form>`)}</td>
<td data-slot="webhook-url">${webhook === undefined ? html`<span class="muted">webhooks are not enabled</span>` : html`${webhook
    ? html`<div><code>${webhook.url}</code></div><div class="muted">set by ${webhook.updatedBy}, ${webhook.updatedAt}</div>
<form method="post" action="/console/integrators/${id}/webhook/remove" class="row">${csrf}<button type="submit" class="danger" aria-label="Remove the webhook of ${i.id}">Remove</button></form>`
    : html`<div class="muted">not configured</div>`}
<form method="post" action="/console/integrators/${id}/webhook" class="stack">${csrf}
<label for="webhook-${i.id}">${webhook ? 'New URL (makes a new secret)' : 'URL'}</label><input id="webhook-${i.id}" name="url" type="url" required maxlength="2048" placeholder="https://">
<button type="submit" aria-label="Set webhook of ${i.id}">Set webhook</button></form>`}</td></tr>`;
}

/** What the link's auto-updater last reported: its state and the versions and refusal code that go with it. */
function updateStatusCell(status: SupportLink['updateStatus']): Html {
  if (!status) return html`<span class="muted">not reported</span>`;
  const details = [
    status.previous ? `from ${status.previous}` : '',
    status.failedVersion ? `${status.failedVersion} failed` : '',
    status.code ? `code ${status.code}` : '',
  ].filter(Boolean);
  return html`${badge(status.state)} ${status.version}${details.length > 0 ? html`<div class="muted">${details.join(' · ')}</div>` : ''}<div class="muted">${status.at}</div>`;
}

function practiceHref(p: { pmsType: string; pmsId: string }): string {
  return `/console/practices/${encodeURIComponent(p.pmsType)}/${encodeURIComponent(p.pmsId)}`;
}

function practiceName(p: SupportPractice): string {
  return p.sites.find((s) => s.authoritative)?.practiceName ?? p.sites[0]?.practiceName ?? p.pmsId;
}

function badge(text: string): Html {
  return html`<span class="badge ${text}">${text}</span>`;
}

function drift(link: SupportLink | undefined): string {
  if (!link || link.clockSkewMs === undefined) return 'unknown (no heartbeat yet)';
  // `|| 0` turns -0 into 0: a link a few ms behind reads 0.0 s, not -0.0 s.
  const seconds = (Math.round(link.clockSkewMs / 100) / 10 || 0).toFixed(1);
  return link.clockDrift ? `${seconds} s (too far off)` : `${seconds} s`;
}

/** The last 24 h of a link's heartbeats as a strip of quarter-hours (inline SVG, with a text alternative). */
function availabilityStrip(id: string, strip: readonly boolean[]): Html {
  const heard = strip.filter(Boolean).length;
  const width = 4;
  return html`<figure class="strip-figure"><svg role="img" aria-labelledby="strip-${id}" viewBox="0 0 ${strip.length * width} 14" width="100%" height="14" preserveAspectRatio="none" class="strip">
<title id="strip-${id}">Heartbeats in ${heard} of the last ${strip.length} quarter-hours</title>
${strip.map((on, i) => html`<rect x="${i * width}" y="0" width="${width - 0.5}" height="14" class="${on ? 'on' : 'off'}"/>`)}</svg>
<figcaption class="muted">last 24 h: heard from in ${heard} of ${strip.length} quarter-hours (now at the right)</figcaption></figure>`;
}

function siteCard(site: SiteView, link: SupportLink | undefined, practice: SupportPractice, csrf: Html, strip: readonly boolean[] | undefined): Html {
  const movable = !site.authoritative && site.status === 'active';
  const id = site.haloGuid;
  return html`<article class="card${site.authoritative ? ' authoritative' : ''}" aria-labelledby="site-${id}" data-site="${id}">
<h3 id="site-${id}">${site.practiceName}</h3>
<p>${site.authoritative ? html`<span class="badge authoritative">authoritative</span>` : html`<span class="badge">not authoritative</span>`} ${badge(site.availability)}</p>
<dl class="facts">
<dt>Halo GUID</dt><dd><code>${id}</code></dd>
<dt>Status</dt><dd>${site.status}</dd>
<dt>Halo Link version</dt><dd>${site.haloLinkVersion}</dd>
<dt>Last seen</dt><dd>${site.lastSeen ?? 'never'}</dd>
<dt>Clock drift</dt><dd>${drift(link)}</dd>
<dt>Link</dt><dd><code>${site.linkGuid}</code></dd>
<dt>Database and machine</dt><dd>${site.databaseIdentity}</dd>
<dt>PMS version</dt><dd>${site.practiceManagementVersion ?? 'unknown'}</dd>
<dt>Registered</dt><dd>${site.createdAt}</dd>
</dl>
${strip ? availabilityStrip(id, strip) : ''}
${movable ? html`<form method="post" action="${practiceHref(practice)}/move" class="stack">${csrf}
<input type="hidden" name="to" value="${id}"><input type="hidden" name="epoch" value="${practice.epoch}">
<label for="reason-${id}">Reason for making this site authoritative</label>
<textarea id="reason-${id}" name="reason" required maxlength="1000" rows="2"></textarea>
<button type="submit">Make authoritative…</button></form>` : ''}
</article>`;
}

function confirmMove(practice: SupportPractice, target: SiteView, current: SiteView | undefined, links: readonly SupportLink[], reason: string, epoch: number, csrf: Html): Html {
  const linkOf = (s: SiteView) => links.find((l) => l.linkGuid === s.linkGuid);
  return html`<p>Make <strong>${target.practiceName}</strong> (<code>${target.haloGuid}</code>, ${target.databaseIdentity}) authoritative for PMS ID <strong>${practice.pmsId}</strong> (${practice.pmsType}).</p>
<h2>What integrators will see</h2>
<ul class="consequences">
<li>Queries to <code>${target.haloGuid}</code> are answered (it is ${target.availability}${linkOf(target) ? `, Halo Link ${linkOf(target)!.version}` : ''}).</li>
${current ? html`<li>Queries to <code>${current.haloGuid}</code> (${current.practiceName}, now authoritative) are refused with <strong>403 site_not_authoritative</strong>.</li>` : ''}
<li><code>GET /integrator/sites?practiceManagementSiteId=${practice.pmsId}</code> lists <code>${target.haloGuid}</code> as the authoritative site.</li>
</ul>
<p>Reason (kept in the audit trail): “${reason}”</p>
<form method="post" action="${practiceHref(practice)}/move" class="row">${csrf}
<input type="hidden" name="to" value="${target.haloGuid}"><input type="hidden" name="epoch" value="${epoch}">
<input type="hidden" name="reason" value="${reason}"><input type="hidden" name="step" value="commit">
<button type="submit" class="danger">Move authority</button> <a href="${practiceHref(practice)}">Cancel</a></form>`;
}

function auditList(entries: readonly AuditEntry[]): Html {
  if (entries.length === 0) return html`<p>No entries yet.</p>`;
  return html`<ol class="audit" reversed>${[...entries].reverse().map((e) => html`<li><div><strong>${e.action}</strong> · ${e.at}</div>
<div>by ${e.who}${e.to ? html` → <code>${e.to}</code>` : ''}${e.from ? html` (from <code>${e.from}</code>)` : ''}</div>${e.reason ? html`<div class="reason">“${e.reason}”</div>` : ''}</li>`)}</ol>`;
}

