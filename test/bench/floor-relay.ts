// The floor of the relay's architecture: the least a relay on it can do, as two bare processes of the same shape as
// ours. A "facade" (node:https and one NATS connection to the hub) and an "agent" (a NATS connection to a leaf of
// the same hub, over the same leafnode TLS and creds, running statements on better-sqlite3 in its own thread).
// - POST /query: one NATS request; the agent answers JSON.stringify of the rows, which is the HTTP answer.
// - POST /stream: the agent makes NDJSON lines into chunks of the relay's chunk size and sends them under the
//   relay's credit window; the facade writes each chunk to the HTTP response as it comes and grants credit once the
//   response has taken it. The lines are encoded in JS (field names once, JSON.stringify per value: what our SQLite
//   worker does) or, with `encoding: 'sqlite'`, by SQLite itself (json_object over the statement, one string a row).
// No auth, validation, isolation, limits, logs, metrics, usage, status, timeouts, cancel or error paths: what a real
// relay needs is absent on purpose. The benches measure it beside ours, so each aim can be read against what the
// architecture itself costs on the machine.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Database from 'better-sqlite3';
import mysql from 'mysql2';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { connect, createInbox, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';

const SUBJECT = 'bench.floor.query';
const STREAM_SUBJECT = 'bench.floor.stream';
const creditSubject = (id: string) => `bench.floor.credit.${id}`;

export interface FloorOptions {
  hubUrl: string;
  leafClientUrl: string;
  /** NATS creds of the facade (none: a hub without auth). */
  credsFile?: string;
  /** The HTTPS certificate and key (none: plain HTTP, as a test system's facade). */
  tls?: { certFile: string; keyFile: string };
  /** The SQLite file of the one-row query and of a streamed SQLite result (none: no SQLite). */
  dbPath?: string;
  /** The one-row statement (its one parameter @patNum). */
  text: string;
  /**
   * The streamed statement (on the SQLite file, its parameters `@n`-style, given by position with each request, or on
   * the PostgreSQL or MariaDB server given, with none), with the relay's chunk size and credit window.
   */
  stream?: { text: string; chunkBytes: number; window: number; postgres?: pg.ClientConfig; mysql?: mysql.ConnectionOptions };
}

export interface FloorRelay {
  url: string;
  pids: { facade: number; agent: number };
  close(): Promise<void>;
}

async function start(role: 'facade' | 'agent', options: FloorOptions): Promise<{ child: ChildProcess; ready: { port?: number } }> {
  const child = fork(new URL(import.meta.url), [role, JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [ready] = (await once(child, 'message')) as [{ port?: number }];
  return { child, ready };
}

/** Starts the floor's agent, then its facade; close() stops both. */
export async function startFloorRelay(options: FloorOptions): Promise<FloorRelay> {
  const agent = await start('agent', options);
  const facade = await start('facade', options);
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${facade.ready.port}`,
    pids: { facade: facade.child.pid!, agent: agent.child.pid! },
    async close() {
      for (const { child } of [facade, agent]) {
        child.kill();
        if (child.exitCode === null) await once(child, 'exit');
      }
    },
  };
}

async function runAgent(options: FloorOptions): Promise<void> {
  const nc = await connect({ servers: options.leafClientUrl });
  const db = options.dbPath === undefined ? undefined : new Database(options.dbPath, { readonly: true });
  if (db) {
    const statement = db.prepare(options.text.replace('@patNum', '?'));
    nc.subscribe(SUBJECT, {
      callback: (_err, msg) => {
        const { command } = msg.json<{ command: { parameters: Array<{ value: string }> } }>();
        msg.respond(JSON.stringify(statement.all(Number(command.parameters[0]!.value))));
      },
    });
  }
  if (options.stream) {
    const stream = options.stream;
    const sqlite = db ? sqliteStatements(db, stream.text) : undefined;
    const servers = await connectServers(stream);
    nc.subscribe(STREAM_SUBJECT, {
      callback: (_err, msg) => {
        const { id, source, parameters, encoding } = msg.json<FloorStreamRequest & { id: string }>();
        const rows = source === 'postgres' ? postgresLines(servers.postgres!, stream.text)
          : source === 'mysql' ? mysqlLines(servers.mysql!, stream.text)
            : encoding === 'sqlite' ? (sqlite!.lines.iterate(...parameters) as Iterable<string>) : jsLines(sqlite!.cells, parameters);
        void sendStream(nc, rows, id, msg.reply!, stream);
      },
    });
  }
  await nc.flush();
  process.send!({});
}

/** The streamed statement on SQLite, as arrays of values and wrapped in json_object (one NDJSON line a row). */
function sqliteStatements(db: Database.Database, text: string): { cells: Database.Statement; lines: Database.Statement } {
  const positional = text.replace(/@\w+/g, '?');
  const cells = db.prepare(positional).raw();
  const pairs = cells.columns().map(({ name }) => `'${name.replaceAll("'", "''")}', "${name.replaceAll('"', '""')}"`).join(', ');
  return { cells, lines: db.prepare(`SELECT json_object(${pairs}) || char(10) FROM (${positional})`).pluck() };
}

type Stream = NonNullable<FloorOptions['stream']>;

/** One streamed result: from the SQLite file (its rows encoded in JS or by SQLite itself) or a server. */
export type FloorStreamRequest = { source: 'sqlite'; encoding: 'js' | 'sqlite'; parameters: unknown[] } | { source: 'postgres' | 'mysql'; encoding: 'js'; parameters: [] };

/** One row as an NDJSON line: the field names encoded once, JSON.stringify per value (dates as ISO text). */
function lineOf(names: readonly string[], row: readonly unknown[]): string {
  let line = '{';
  for (let i = 0; i < row.length; i++) line += (i ? ',' : '') + names[i] + JSON.stringify(row[i]);
  return `${line}}\n`;
}

const jsonNames = (names: readonly string[]) => names.map((name) => `${JSON.stringify(name)}:`);

function* jsLines(statement: Database.Statement, parameters: unknown[]): Generator<string> {
  const names = jsonNames(statement.columns().map((c) => c.name));
  for (const row of statement.iterate(...parameters) as Iterable<unknown[]>) yield lineOf(names, row);
}

async function connectServers(stream: Stream): Promise<{ postgres?: pg.Client; mysql?: mysql.Connection }> {
  const out: { postgres?: pg.Client; mysql?: mysql.Connection } = {};
  if (stream.postgres) {
    // Every value as the server's text: no parsing at all, the least a client can do with a row.
    out.postgres = new pg.Client({ ...stream.postgres, types: { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig });
    await out.postgres.connect();
  }
  if (stream.mysql) {
    const connection = mysql.createConnection({ ...stream.mysql, dateStrings: true });
    await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
    out.mysql = connection;
  }
  return out;
}

/** A PostgreSQL result read through a cursor, 1,000 rows a read, as pg-cursor gives them. */
async function* postgresLines(client: pg.Client, text: string): AsyncGenerator<string> {
  const cursor = client.query(new Cursor<unknown[]>(text, [], { rowMode: 'array' }));
  try {
    let names: string[] | undefined;
    for (;;) {
      const rows = await cursor.read(1000);
      if (rows.length === 0) return;
      names ??= jsonNames((cursor as unknown as { _result: { fields: Array<{ name: string }> } })._result.fields.map((f) => f.name));
      for (const row of rows) yield lineOf(names, row);
    }
  } finally {
    await cursor.close();
  }
}

/** A MariaDB result streamed by mysql2 (its stream pauses the socket while the consumer waits). */
async function* mysqlLines(connection: mysql.Connection, text: string): AsyncGenerator<string> {
  const query = connection.query({ sql: text, rowsAsArray: true });
  let names: string[] | undefined;
  query.once('fields', (fields: Array<{ name: string }>) => { names = jsonNames(fields.map((f) => f.name)); });
  for await (const row of query.stream({ highWaterMark: 1000 })) yield lineOf(names!, row as unknown[]);
}

async function sendStream(nc: NatsConnection, lines: Iterable<string> | AsyncIterable<string>, id: string, reply: string, options: Stream): Promise<void> {
  let credit = 0;
  let wake: (() => void) | undefined;
  const sub = nc.subscribe(creditSubject(id), { callback: (_e, m) => { credit = Number(m.string()); wake?.(); } });
  await nc.flush();
  let seq = 0;
  let text = '';
  const send = async (data: string) => {
    while (seq - credit >= options.window) await new Promise<void>((r) => { wake = r; });
    seq++;
    nc.publish(reply, data);
  };
  for await (const line of lines) {
    text += line;
    if (text.length >= options.chunkBytes) {
      await send(text);
      text = '';
    }
  }
  if (text) await send(text);
  await send('');
  sub.unsubscribe();
}

async function runFacade(options: FloorOptions): Promise<void> {
  const nc = await connect({ servers: options.hubUrl, ...(options.credsFile ? { authenticator: credsAuthenticator(readFileSync(options.credsFile)) } : {}) });
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/stream') {
      void serveStream(nc, req, res, options.stream!);
      return;
    }
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      nc.request(SUBJECT, Buffer.concat(parts), { timeout: 5000 }).then(
        (reply) => res.writeHead(200, { 'content-type': 'application/json' }).end(reply.data),
        () => res.writeHead(503).end(),
      );
    });
  };
  const server = options.tls ? createHttpsServer({ cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) }, handler) : createHttpServer(handler);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

async function serveStream(nc: NatsConnection, req: IncomingMessage, res: ServerResponse, options: Stream): Promise<void> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const request = JSON.parse(Buffer.concat(parts).toString()) as FloorStreamRequest;
  const id = randomUUID();
  const inbox = createInbox();
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  let received = 0;
  let granted = 0;
  const grant = () => {
    if (received - granted < options.window / 2) return;
    granted = received;
    nc.publish(creditSubject(id), String(granted));
  };
  const sub = nc.subscribe(inbox, {
    callback: (_e, m) => {
      if (m.data.length === 0) {
        sub.unsubscribe();
        res.end();
        return;
      }
      received++;
      if (res.write(m.data)) grant();
      else res.once('drain', grant);
    },
  });
  nc.publish(STREAM_SUBJECT, JSON.stringify({ ...request, id }), { reply: inbox });
}

const [role, json] = process.argv.slice(2);
if (role === 'agent' || role === 'facade') {
  const options = JSON.parse(json!) as FloorOptions;
  await (role === 'agent' ? runAgent(options) : runFacade(options));
}
