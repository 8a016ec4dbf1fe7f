/** Formats a `.creds` file (what nats-server's `credentials` and nats.js's credsAuthenticator read). */
export function formatCreds(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----', jwt, '------END NATS USER JWT------', '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.', '',
    '-----BEGIN USER NKEY SEED-----', seed, '------END USER NKEY SEED------', '',
    '*************************************************************', '',
  ].join('\n');
}

/** The JWT and seed of a `.creds` file. */
export function parseCreds(text: string): { jwt: string; seed: string } {
  const block = (name: string) => {
    const m = new RegExp(`-{3,}BEGIN ${name}-{3,}\\s*\\n([^\\n]+)\\n`).exec(text);
    if (!m?.[1]) throw new Error(`creds file has no ${name}`);
    return m[1].trim();
  };
  return { jwt: block('NATS USER JWT'), seed: block('USER NKEY SEED') };
}
