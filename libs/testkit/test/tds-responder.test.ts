// Cross-checks the TDS responder with an independent client, FreeTDS `tsql` (Debian package freetds-bin), so the
// responder's wire format is not only what tedious happens to accept. Skips when tsql is absent, unless CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startTdsResponder, TDS_DEFAULT_LOGIN } from '@halo/testkit';
import type { TdsResponder } from '@halo/testkit';

const hasTsql = spawnSync('tsql', ['-C'], { stdio: 'ignore' }).error === undefined;
const skip = !hasTsql && process.env.CI !== 'true'
  ? 'FreeTDS tsql is not installed (apt-get install freetds-bin, or deploy/install/apt-tools.sh tsql:freetds-bin); CI=true makes this a failure'
  : false;

function tsql(responder: TdsResponder, batch: string, password: string = TDS_DEFAULT_LOGIN.password): Promise<{ out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('tsql', ['-H', responder.host, '-p', String(responder.port), '-U', TDS_DEFAULT_LOGIN.user, '-P', password], {
      env: { ...process.env, TDSVER: '7.4', LANG: 'C.UTF-8' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', () => resolve({ out, err }));
    child.stdin.end(`${batch}\ngo\nexit\n`);
  });
}

/** tsql prints a header line of tab-separated column names, then one line per row, then "(n rows affected)". */
function parseTable(out: string, header: string): string[][] {
  const lines = out.split('\n').map((line) => line.replace(/^(?:\d+> )+/, ''));
  const start = lines.findIndex((line) => line === header);
  assert.ok(start >= 0, `no header line in tsql output:\n${out}`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^\(\d+ rows? affected\)$/.test(line)) break;
    rows.push(line.split('\t'));
  }
  return rows;
}

test('FreeTDS tsql logs in, runs a batch and reads the rows the responder sends', { skip }, async (t) => {
  const responder = await startTdsResponder({
    fixtures: new Map([['SELECT * FROM fixture', {
      columns: [
        { name: 'n', type: 'int' }, { name: 'big', type: 'bigint' }, { name: 'name', type: 'nvarchar', length: 40 },
        { name: 'code', type: 'varchar', length: 10 }, { name: 'amount', type: 'decimal', precision: 10, scale: 2 },
        { name: 'flag', type: 'bit' }, { name: 'ratio', type: 'float' }, { name: 'id', type: 'uniqueidentifier' },
      ],
      rows: [
        [1, '9007199254740993', 'Zoë', 'A1', '12.50', true, 0.25, '6F9619FF-8B86-D011-B42D-00C04FC964FF'],
        [2, null, null, null, '-0.05', false, null, null],
      ],
    }]]),
  });
  t.after(() => responder.close());
  const { out } = await tsql(responder, 'SELECT * FROM fixture');
  const rows = parseTable(out, 'n\tbig\tname\tcode\tamount\tflag\tratio\tid');
  assert.deepEqual(rows, [
    ['1', '9007199254740993', 'Zoë', 'A1', '12.50', '1', '0.25', '6F9619FF-8B86-D011-B42D-00C04FC964FF'],
    ['2', 'NULL', 'NULL', 'NULL', '-0.05', '0', 'NULL', 'NULL'],
  ]);
  assert.equal(responder.stats.logins, 1);
  assert.equal(responder.requests.at(-1)?.kind, 'batch');
});

test('FreeTDS tsql sees ERROR tokens and refused logins', { skip }, async (t) => {
  const responder = await startTdsResponder({
    fixtures: new Map([['SELECT broken', { error: { number: 208, message: "Invalid object name 'broken'." } }]]),
  });
  t.after(() => responder.close());
  const { err } = await tsql(responder, 'SELECT broken');
  assert.match(err, /Msg 208 \(severity 16, state 1\)[\s\S]*Invalid object name 'broken'/);
  const refused = await tsql(responder, 'SELECT 1', 'wrong');
  assert.match(refused.err + refused.out, /Login failed for user 'halo_reader'/);
  assert.equal(responder.stats.failedLogins, 1);
});

test('FreeTDS tsql reads a procedure\'s rows and RETURN status as the responder sends them', { skip }, async (t) => {
  const responder = await startTdsResponder({
    fixtures: new Map([['EXEC dbo.PatientBalance 7', {
      columns: [{ name: 'PatNum', type: 'int' }], rows: [[7]], returnStatus: 42,
      outputs: [{ name: 'balance', column: { name: '', type: 'decimal', precision: 10, scale: 2 }, value: '12.50' }],
    }]]),
  });
  t.after(() => responder.close());
  const { out, err } = await tsql(responder, 'EXEC dbo.PatientBalance 7');
  assert.deepEqual(parseTable(out, 'PatNum'), [['7']]);
  assert.match(out, /return status = 42/);
  // tsql does not print OUTPUT values, but it parses the RETURNVALUE token: a malformed one would end the session
  // with an error on stderr instead of the next prompt.
  assert.equal(err.trim(), '');
  assert.match(out, /\(return status = 42\)\n1> $/);
});
