import { AppError } from '@halo/contracts';
import { isHubFailure } from './async-store.ts';
import type { ConnectionState } from './connection-state.ts';

/** Runs one JetStream operation of `what` ("registered queries are"): 503 at once while the hub is unreachable, and when it fails it. */
export async function guardHub<T>(connection: ConnectionState, what: string, operation: () => Promise<T>): Promise<T> {
  connection.assertConnected(what);
  try {
    return await operation();
  } catch (err) {
    if (isHubFailure(err)) throw new AppError('service_unavailable', `${what} unavailable: the hub did not answer; retry shortly`, { cause: err });
    throw err;
  }
}
