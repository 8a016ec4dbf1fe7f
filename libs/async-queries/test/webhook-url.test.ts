import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { isAppError } from '@halo/contracts';
import { checkWebhookUrl, derivedEventId, isRefusedAddress, signWebhook, webhookBody } from '../src/index.ts';

test('loopback, link-local, private, shared and reserved addresses are refused; public ones are not', () => {
  for (const ip of ['127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.10', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'ff02::1', 'nonsense']) {
    assert.equal(isRefusedAddress(ip), true, ip);
  }
  for (const ip of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(isRefusedAddress(ip), false, ip);
});

test('checkWebhookUrl refuses non-https, credentials and private hosts unless the operator allows them', async () => {
  const refused = async (url: string, allowPrivate = false) => {
    await assert.rejects(checkWebhookUrl(url, { allowPrivate }), (err) => isAppError(err) && err.code === 'webhook_url_refused', url);
  };
  await refused('http://93.184.216.34/hook');
  await refused('ftp://93.184.216.34/hook', true);
  await refused('https://127.0.0.1/hook');
  await refused('https://localhost:8443/hook');
  await refused('https://[::1]/hook');
  await refused('https://u:p@93.184.216.34/hook');
  await refused('/relative');
  assert.equal((await checkWebhookUrl('https://93.184.216.34/hook', { allowPrivate: false })).hostname, '93.184.216.34');
  assert.equal((await checkWebhookUrl('http://127.0.0.1:9/hook', { allowPrivate: true })).port, '9');
});

test('the signature is lowercase hex HMAC-SHA256 of body + "." + timestamp', () => {
  const event = { id: derivedEventId('async', 'q'), occurredAt: '2026-03-05T14:30:00.000Z', siteId: '12345678-abcd-4f01-8345-6789abcdef01', queryId: 'abcdef01-2345-4789-abcd-ef0123456789', webhookSource: 'async' as const, integratorId: 'acme' };
  const body = webhookBody(event);
  assert.deepEqual(Object.keys(JSON.parse(body)), ['id', 'occurredAt', 'siteId', 'queryId', 'webhookSource']);
  const timestamp = '2026-03-05T14:30:01.000Z';
  const signature = signWebhook('whsec_test', body, timestamp);
  assert.match(signature, /^[0-9a-f]{64}$/);
  assert.equal(signature, createHmac('sha256', 'whsec_test').update(Buffer.from(`${body}.${timestamp}`, 'utf8')).digest('hex'));
  assert.notEqual(signWebhook('whsec_test', body, '2026-03-05T14:30:02.000Z'), signature);
});

test('derived event ids are stable UUIDs per cause', () => {
  const a = derivedEventId('registered', 'id-1', '3');
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(derivedEventId('registered', 'id-1', '3'), a);
  assert.notEqual(derivedEventId('registered', 'id-1', '4'), a);
});
