import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, ErrorCodes, ErrorStatus, Guid, isErrorCode, parseReplySubject, resolvePmsType, subjects } from '../src/index.ts';

const link = '0b7f0c1e-8d7a-4f7e-9a63-2a1c0f6b9d10';
const halo = '5a0d6c1b-3e2f-4a7b-8c9d-0e1f2a3b4c5d';

test('subject builders put each GUID in its own token', () => {
  assert.equal(subjects.query(link, halo), `halo.v1.q.${link}.${halo}`);
  assert.equal(subjects.queryAll(link), `halo.v1.q.${link}.>`);
  assert.equal(subjects.reply(link, 'req1', 'q1'), `halo.v1.r.${link}.req1.q1`);
  assert.equal(subjects.agentInbox(link), `_INBOX.${link}`);
  assert.deepEqual(parseReplySubject(subjects.reply(link, 'req1', 'q1')), { linkGuid: link, requesterId: 'req1', queryId: 'q1' });
});

test('subject builders refuse tokens that would widen a subscription or permission', () => {
  for (const bad of ['', 'a.b', '*', '>', 'a b', 'a\tb', 'a>', `${link}.>`, 'é']) {
    assert.throws(() => subjects.query(bad, halo), TypeError, JSON.stringify(bad));
    assert.throws(() => subjects.query(link, bad), TypeError, JSON.stringify(bad));
    assert.throws(() => subjects.heartbeat(bad), TypeError, JSON.stringify(bad));
    assert.throws(() => subjects.cancel(bad), TypeError, JSON.stringify(bad));
  }
});

test('reply subjects of another shape do not parse', () => {
  for (const subject of ['halo.v1.r.a.b', 'halo.v1.q.a.b.c', 'halo.v2.r.a.b.c', 'x.v1.r.a.b.c', 'halo.v1.r.a.b.c.d']) {
    assert.equal(parseReplySubject(subject), null, subject);
  }
});

test('GUIDs are lowercase UUIDs only', () => {
  assert.ok(Guid.safeParse(link).success);
  for (const bad of [link.toUpperCase(), `${link}x`, link.replaceAll('-', ''), '', 'not-a-guid']) assert.ok(!Guid.safeParse(bad).success, bad);
});

test('PMS types resolve from codes and display names, case-insensitively', () => {
  assert.equal(resolvePmsType('bp'), 'bp');
  assert.equal(resolvePmsType('Best Practice'), 'bp');
  assert.equal(resolvePmsType('  DENTAL4WINDOWS '), 'd4w');
  assert.equal(resolvePmsType('newpms'), 'newpms');
  assert.equal(resolvePmsType('Not A Code!'), undefined);
});

test('every error code maps to one HTTP status and AppError carries it', () => {
  for (const code of ErrorCodes) {
    assert.ok(isErrorCode(code));
    const status = ErrorStatus[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status < 600, code);
  }
  assert.ok(!isErrorCode('toString'), 'inherited names are not codes');
  const cause = new Error('inner');
  const error = new AppError('rate_limited', 'slow down', { cause, retryAfterSeconds: 3 });
  assert.equal(error.status, 429);
  assert.equal(error.cause, cause);
  assert.equal(error.retryAfterSeconds, 3);
});
