import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as lookupCallback } from 'node:dns';
import { AppError } from '@halo/contracts';

/** Loopback, link-local, private, shared, multicast and reserved ranges: never a webhook target by default. */
const REFUSED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) REFUSED.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96]] as const) REFUSED.addSubnet(net, prefix, 'ipv6');

/** Whether `address` is loopback, link-local, private or otherwise not a public internet address. */
export function isRefusedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return REFUSED.check(address, 'ipv4');
  if (family !== 6) return true;
  // IPv4-mapped (::ffff:a.b.c.d) is the IPv4 address it maps.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return REFUSED.check(mapped[1]!, 'ipv4');
  return REFUSED.check(address, 'ipv6');
}

/** Operator's choice: private targets (and plain http) allowed, for development and tests only. */
export interface WebhookUrlPolicy {
  allowPrivate: boolean;
}

/**
 * Checks a webhook URL before it is stored: HTTPS (plain http only when private targets are allowed), no
 * credentials, and a host that resolves only to public addresses. Throws AppError `webhook_url_refused`.
 */
export async function checkWebhookUrl(value: string, policy: WebhookUrlPolicy): Promise<URL> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AppError('webhook_url_refused', 'the webhook URL is not a valid absolute URL');
  }
  if (url.protocol !== 'https:' && !(policy.allowPrivate && url.protocol === 'http:')) throw new AppError('webhook_url_refused', 'the webhook URL must use https');
  if (url.username || url.password) throw new AppError('webhook_url_refused', 'the webhook URL must not carry credentials');
  if (policy.allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    throw new AppError('webhook_url_refused', 'the webhook URL host does not resolve');
  }
  if (addresses.length === 0 || addresses.some(isRefusedAddress)) {
    throw new AppError('webhook_url_refused', 'the webhook URL resolves to a loopback, link-local or private address');
  }
  return url;
}

/**
 * A `lookup` for http(s).request that refuses loopback, link-local and private answers at connect time, so a
 * host re-pointed after its URL was checked (DNS rebinding) is still never reached.
 */
export function guardedLookup(policy: WebhookUrlPolicy): LookupFunction {
  return (hostname, options, callback) => {
    lookupCallback(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as Array<{ address: string; family: number }>;
      const allowed = policy.allowPrivate ? list : list.filter((a) => !isRefusedAddress(a.address));
      if (allowed.length === 0) return callback(Object.assign(new Error('webhook host resolves to a refused address'), { code: 'EREFUSEDADDRESS' }), '', 0);
      if (options.all) return (callback as unknown as (e: null, a: typeof allowed) => void)(null, allowed);
      return callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}
