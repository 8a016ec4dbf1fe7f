import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@halo/log';

/**
 * What `npm start` and `npm run cluster` print: `say` writes "<name>: message" lines, and `log` (for runService's
 * own lines: stopping, a failed close, stopped) reaches the terminal the same way instead of as JSON.
 */
export function terminalLog(name: string): { say: (message: string) => void; log: Logger } {
  const say = (message: string) => process.stdout.write(`${name}: ${message}\n`);
  const log = createLogger({
    name,
    destination: new Writable({
      write(chunk, _encoding, done) {
        const { msg, reason, what } = JSON.parse(String(chunk)) as { msg: string; reason?: string; what?: string };
        say(`${msg}${reason ? ` (${reason})` : ''}${what ? `: ${what}` : ''}`);
        done();
      },
    }),
  });
  return { say, log };
}
