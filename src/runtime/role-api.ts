// Role `api`: the webhook and the admin API, with the admin's trading actions answered here from its own brokers.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import type { Assembly } from './assembly.ts';
import { startExecutionSide } from './execution-side.ts';
import { startHttpSide } from './http-side.ts';

export async function assembleApi(options: { config: () => Config; logger: Logger; version: string; passphrase: string }): Promise<Assembly> {
  // Neither executes nor watches: only the brokers and the journal the admin's close, flatten and prices need.
  const side = await startExecutionSide({ config: options.config, logger: options.logger, execute: false, watch: false,
    owner: `api-${process.pid}-${Date.now().toString(36)}` });
  let http;
  try {
    http = await startHttpSide({ config: options.config, version: options.version, passphrase: options.passphrase, db: side.db, redis: side.redis,
      logger: options.logger, admin: side.ctx, desk: side.desk });
  } catch (error) {
    await side.stop();
    throw error;
  }
  const server = http;
  return {
    url: server.url,
    reload: async () => ({ ok: true }),
    async stop() {
      await server.close();
      await side.stop();
    },
  };
}
