// An integrator already on Halo Connect moves by changing the base URL: Halo's documented request examples
// (the `example` values of Halo's integrator OpenAPI 26.619, api-evangelist/halo-connect,
// openapi/halo-connect-integrator-openapi.json), sent unchanged, and working variants of them, each answer a
// body that our own OpenAPI (/docs/json, generated from the zod schemas) documents for that operation and status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { samplePairingCode } from '@halo/sample-practice';
import { resultRows } from '../support/halo-result.ts';
import { eventually, startAsyncTestSystem, type AsyncTestSystem } from '../support/async-system.ts';

type Json = Record<string, any>;

/** Halo's examples: ImmediateCommand / AsyncCommand, Parameter, Catalogue, PairSite and getSites parameters. */
const HALO_PARAMETER = { name: '@siteid', direction: 'input', type: 'Int', value: '66', size: 43 };
const HALO_IMMEDIATE = { maxTimeInQueue: 15000, command: { text: 'GetPatientID', executionMode: 'reader', type: 'text', parameters: [HALO_PARAMETER] }, catalogue: 'Patients' };
const HALO_ASYNC = { maxTimeInQueue: 900000, command: { text: 'GetPatientID', executionMode: 'reader', type: 'text', parameters: [HALO_PARAMETER] }, catalogue: 'Patients' };
const HALO_PAIR = 'practiceManagementSiteId=12345&practiceManagementName=Best%20Practice&pairingCode=ABC123';
const HALO_SITES = 'practiceManagementSiteId=12345&practiceManagementName=Best%20Practice';
const HALO_QUERY_ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

/** Checks each answer against the response schema our OpenAPI gives its operation and status. */
class Contract {
  readonly #doc: Json;
  readonly #ajv = new Ajv({ strict: false, allErrors: true });
  readonly checked: string[] = [];

  constructor(doc: Json) {
    this.#doc = doc;
  }

  /** `route` is the OpenAPI path, e.g. `/integrator/sites/{siteId}`. */
  async check(method: string, route: string, res: Response): Promise<{ status: number; body: Json }> {
    const text = await res.text();
    const operation = this.#doc.paths?.[route]?.[method.toLowerCase()];
    assert.ok(operation, `our OpenAPI documents ${method} ${route}`);
    const response = operation.responses?.[String(res.status)];
    assert.ok(response, `${method} ${route} documents status ${res.status} (body ${text.slice(0, 300)})`);
    const schema = response.content?.['application/json']?.schema;
    assert.ok(schema, `${method} ${route} ${res.status} has a JSON schema`);
    const body = JSON.parse(text) as Json;
    const validate = this.#ajv.compile(schema);
    assert.ok(validate(body), `${method} ${route} ${res.status}: ${JSON.stringify(validate.errors)} in ${text.slice(0, 500)}`);
    this.checked.push(`${method} ${route} ${res.status}`);
    return { status: res.status, body };
  }

  /** True when the documented schema of an operation's status accepts `body` (the checks above can fail). */
  accepts(method: string, route: string, status: number, body: unknown): boolean {
    const schema = this.#doc.paths[route][method.toLowerCase()].responses[String(status)].content['application/json'].schema;
    return this.#ajv.compile(schema)(body) as boolean;
  }
}

async function openContract(sys: AsyncTestSystem): Promise<Contract> {
  const res = await fetch(`${sys.facade().url}/docs/json`);
  assert.equal(res.status, 200);
  return new Contract((await res.json()) as Json);
}

test("Halo's request examples, sent unchanged, get answers our OpenAPI documents; so do working queries", async (t) => {
  const sys = await startAsyncTestSystem();
  t.after(() => sys.close());
  const agent = await sys.startAgent('link-1', [{ name: 'a', path: sys.sampleDatabase('practice-a', 'PMS-CONTRACT-1') }]);
  const siteId = agent.sites[0]!.haloGuid;
  const contract = await openContract(sys);
  const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
  const site = '/integrator/sites/{siteId}';

  // Pairing and sites with Halo's example parameters: no such practice here.
  const pairedNone = await contract.check('POST', '/integrator/pair-site', await sys.call(`/integrator/pair-site?${HALO_PAIR}`, { method: 'POST' }));
  assert.equal(pairedNone.status, 404);
  assert.equal(pairedNone.body.error.statusText, 'Not Found');
  assert.equal((await contract.check('POST', '/integrator/pairSite', await sys.call(`/integrator/pairSite?${HALO_PAIR}`, { method: 'POST' }))).status, 404);
  assert.deepEqual((await contract.check('GET', '/integrator/sites', await sys.call(`/integrator/sites?${HALO_SITES}`))).body, { sites: [] });

  // The same calls for this practice.
  const pairQuery = new URLSearchParams({ practiceManagementSiteId: 'PMS-CONTRACT-1', practiceManagementName: 'Sample Dental', pairingCode: samplePairingCode('PMS-CONTRACT-1') });
  const paired = await contract.check('POST', '/integrator/pair-site', await sys.call(`/integrator/pair-site?${pairQuery}`, { method: 'POST' }));
  assert.equal(paired.body.id, siteId);
  const found = await contract.check('GET', '/integrator/sites', await sys.call('/integrator/sites?practiceManagementSiteId=PMS-CONTRACT-1&practiceManagementName=Sample%20Dental'));
  assert.equal(found.body.sites[0].id, siteId);
  const status = await contract.check('GET', site, await sys.call(`/integrator/sites/${siteId}`));
  assert.equal(status.body.availability, 'online');

  // Halo's immediate example: "GetPatientID" is no SQL here and "Patients" no catalogue of this site.
  const haloImmediate = await contract.check('POST', `${site}/queries/immediate`, await sys.call(`/integrator/sites/${siteId}/queries/immediate`, json(HALO_IMMEDIATE)));
  assert.equal(haloImmediate.status, 400, JSON.stringify(haloImmediate.body));
  assert.equal(haloImmediate.body.error.statusText, 'Bad Request');
  // A statement the database refuses (an unknown table) answers the executionFailed query object.
  const failed = await contract.check('POST', `${site}/queries/immediate`, await sys.call(`/integrator/sites/${siteId}/queries/immediate`, json({ command: { text: 'SELECT * FROM GetPatientID' } })));
  assert.equal(failed.status, 400);
  assert.equal(failed.body.status, 'executionFailed');
  assert.equal(failed.body.error.code, 'query_failed');

  // Working immediate queries, with Halo's maxTimeInQueue (ms) and parameter shape.
  const reader = await contract.check('POST', `${site}/queries/immediate`, await sys.call(`/integrator/sites/${siteId}/queries/immediate`, json({
    maxTimeInQueue: 15000,
    command: { text: 'SELECT PatNum, LName FROM patient WHERE PatNum <= @siteid ORDER BY PatNum', executionMode: 'reader', type: 'text', parameters: [{ ...HALO_PARAMETER, value: '3' }] },
  })));
  assert.equal(reader.status, 200);
  assert.equal(reader.body.maxTimeInQueue, 15000);
  assert.deepEqual(resultRows(reader.body).map((r) => r.PatNum), [1, 2, 3]);
  const scalar = await contract.check('POST', `${site}/queries/immediate`, await sys.call(`/integrator/sites/${siteId}/queries/immediate`, json({ command: { text: 'SELECT count(*) AS n FROM patient', executionMode: 'scalar' } })));
  assert.deepEqual(resultRows(scalar.body), [{ n: 300 }]);
  await contract.check('POST', `${site}/queries/immediate`, await sys.call(`/integrator/sites/${siteId}/queries/immediate?format=records`, json({ command: { text: 'SELECT 1 AS one' } })));
  // GET .../queries/{id} answers for immediate queries too (kept in the background, so it may take a moment).
  for (const answered of [reader.body, failed.body]) {
    const kept = await eventually(async () => {
      const res = await sys.call(`/integrator/sites/${siteId}/queries/${answered.id}`);
      return res.status === 200 ? res : void (await res.body?.cancel());
    }, 10_000, 50);
    const { body } = await contract.check('GET', `${site}/queries/{queryId}`, kept);
    assert.deepEqual(body, answered.status === 'successful' ? (({ result: _result, ...rest }) => rest)(answered) : answered);
  }

  // Halo's async example: accepted (201, the query object); the agent refuses the unknown catalogue.
  const haloAsync = await contract.check('POST', `${site}/queries/async`, await sys.call(`/integrator/sites/${siteId}/queries/async`, json(HALO_ASYNC)));
  assert.equal(haloAsync.status, 201);
  assert.equal(haloAsync.body.maxTimeInQueue, 900000);
  const refusedId = haloAsync.body.id as string;
  const settled = await eventually(async () => {
    const body = (await (await sys.call(`/integrator/sites/${siteId}/queries/${refusedId}`)).json()) as Json;
    return body.status === 'executionFailed' ? body : undefined;
  }, 30_000, 100);
  assert.equal(settled.errorDetails.errorType, 'haloLink');
  await contract.check('GET', `${site}/queries/{queryId}`, await sys.call(`/integrator/sites/${siteId}/queries/${refusedId}`));

  // A working async query: status, batch status (Halo's body shape with Halo's example id), pages, stream.
  const submitted = await contract.check('POST', `${site}/queries/async`, await sys.call(`/integrator/sites/${siteId}/queries/async`, json({ command: { text: 'SELECT PatNum FROM patient ORDER BY PatNum LIMIT 4' } })));
  const id = submitted.body.id as string;
  await eventually(async () => ((await (await sys.call(`/integrator/sites/${siteId}/queries/${id}`)).json()) as Json).status === 'successful', 30_000, 100);
  const done = await contract.check('GET', `${site}/queries/{queryId}`, await sys.call(`/integrator/sites/${siteId}/queries/${id}`));
  assert.deepEqual(done.body.result.pages.map((p: Json) => p.rows), [{ count: 4, rangeStart: 0, rangeEnd: 3 }]);
  const batch = await contract.check('POST', `${site}/queries/status`, await sys.call(`/integrator/sites/${siteId}/queries/status`, json({ queryIds: [id, HALO_QUERY_ID] })));
  assert.deepEqual(batch.body.results.map((r: Json) => r.status), ['found', 'notFound']);
  const pageRes = await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1`);
  assert.equal(pageRes.headers.get('rows-count'), '4');
  assert.ok(Number(pageRes.headers.get('size')) > 0);
  const page = await contract.check('GET', `${site}/queries/{queryId}/results/{page}`, pageRes);
  assert.deepEqual(resultRows(page.body).map((r) => r.PatNum), [1, 2, 3, 4]);
  const streamed = await contract.check('GET', `${site}/queries/{queryId}/results/{page}/stream`, await sys.call(`/integrator/sites/${siteId}/queries/${id}/results/1/stream`));
  assert.deepEqual(streamed.body, page.body);

  // Errors documented with Halo's error shape: unknown query, expired-or-unknown pages, a finished query's DELETE.
  await contract.check('GET', `${site}/queries/{queryId}`, await sys.call(`/integrator/sites/${siteId}/queries/${HALO_QUERY_ID}`));
  await contract.check('GET', `${site}/queries/{queryId}/results/{page}`, await sys.call(`/integrator/sites/${siteId}/queries/${HALO_QUERY_ID}/results/1`));
  const finished = await contract.check('DELETE', `${site}/queries/{queryId}`, await sys.call(`/integrator/sites/${siteId}/queries/${id}`, { method: 'DELETE', headers: { 'content-type': 'application/json' } }));
  assert.equal(finished.status, 409);
  // GET and DELETE with `Content-Type: application/json` and no body are served (many clients always send it).
  const getWithType = await sys.call(`/integrator/sites/${siteId}/queries/${id}`, { headers: { 'content-type': 'application/json' } });
  assert.equal(getWithType.status, 200);
  await getWithType.body?.cancel();
  assert.ok(contract.checked.length >= 20, contract.checked.join('\n'));
  // The old shapes are not what the document describes.
  assert.equal(contract.accepts('POST', `${site}/queries/status`, 200, { queries: [], notFound: [], gone: [] }), false);
  assert.equal(contract.accepts('POST', `${site}/queries/immediate`, 200, { ...reader.body, result: { rowCount: 3, columns: [], records: [] } }), false);
  assert.equal(contract.accepts('POST', `${site}/queries/immediate`, 200, { ...reader.body, statusTiming: { queued: reader.body.createdAt } }), false);
  assert.equal(contract.accepts('GET', site, 200, { site: status.body }), false);
  assert.equal(contract.accepts('POST', '/integrator/pair-site', 404, { error: { status: 404, code: 'not_found', message: 'x' } }), false);
});
