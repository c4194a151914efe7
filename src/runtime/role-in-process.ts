// Role `api` (the webhook and the admin API, whose trading actions run here from its own brokers), and role `all` on
// one event loop when TRADEWIRE_EXECUTION=inline: for tests whose broker fakes (msw) live in their own thread, and
// for debugging. The default `all` runs the execution side on its own thread (role-all.ts).
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import type { Assembly } from './assembly.ts';
import { startExecutionSide } from './execution-side.ts';
import { localUrlOf, startHttpSide } from './http-side.ts';

export interface InProcessOptions {
  role: 'api' | 'all';
  config: () => Config;
  logger: Logger;
  version: string;
  passphrase: string;
}

export async function assembleInProcess(options: InProcessOptions): Promise<Assembly> {
  const all = options.role === 'all';
  // Role api neither executes nor watches: only the brokers and the journal the admin's close, flatten and prices need.
  const side = await startExecutionSide({ config: options.config, logger: options.logger, execute: all, watch: all,
    owner: `${options.role}-${process.pid}-${Date.now().toString(36)}` });
  let http;
  try {
    http = await startHttpSide({ config: options.config, version: options.version, passphrase: options.passphrase, db: side.db, redis: side.redis,
      logger: options.logger, admin: side.ctx, desk: side.desk });
  } catch (error) {
    await side.stop();
    throw error;
  }
  const server = http;
  // Only now, with the journal reconciled and the address ours: the workers take jobs and the loop starts.
  side.run(localUrlOf(server.url));
  return {
    url: server.url,
    reload: async () => {
      await side.reschedule();
      return { ok: true };
    },
    async stop() {
      // No new alerts or admin requests first; then what is in flight (a job's order, a tick's close) finishes.
      await server.close();
      await side.stop();
    },
  };
}
