// Role `all` (npm start): the HTTP side on this thread, execution, the position loop, the kill switch and the jobs on
// the execution thread, each with its own journal connection and Redis client.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import { createFastFailRedis } from '../queue/redis.ts';
import { AccountStateRepo } from '../store/account-state-repo.ts';
import { openDatabase } from '../store/db.ts';
import { PositionsRepo } from '../store/positions-repo.ts';
import type { Assembly } from './assembly.ts';
import { startExecutionHost } from './execution-host.ts';
import { localUrlOf, startHttpSide, type HttpSide } from './http-side.ts';

export interface RoleAllOptions {
  env: NodeJS.ProcessEnv;
  config: () => Config;
  logger: Logger;
  version: string;
  passphrase: string;
  /** The daemon was given its logger: the thread's lines go to it (see ThreadData.logTo). */
  forwardLogs: boolean;
}

export async function assembleAll(options: RoleAllOptions): Promise<Assembly> {
  const { config, logger } = options;
  // Opened (and migrated) before the thread opens its own connection, so only one of them ever migrates.
  const db = openDatabase(config().database.path);
  const redis = createFastFailRedis(config().redis.url);
  redis.on('error', (error: Error) => logger.warn({ event: 'redis.error', err: error.message }, 'redis connection error'));
  const closeOwn = async () => {
    await redis.quit().catch(() => redis.disconnect());
    db.close();
  };
  let host;
  try {
    await redis.connect();
    // Resolves once the thread has reconciled: it takes no job before the journal agrees with the broker.
    host = await startExecutionHost({ env: options.env, role: 'all', logger, forwardLogs: options.forwardLogs });
  } catch (error) {
    await closeOwn();
    throw error;
  }
  const execution = host;
  const now = () => new Date();
  let http: HttpSide;
  try {
    http = await startHttpSide({
      config, version: options.version, passphrase: options.passphrase, db, redis, logger,
      admin: { config, positions: new PositionsRepo(db, { now }), accountState: new AccountStateRepo(db, { now }), logger, now },
      desk: execution.desk,
      threadMetrics: () => execution.metrics(),
      readiness: [{ name: 'execution', check: async () => {
        if (execution.state() !== 'running') throw new Error(`the execution side is ${execution.state()}`);
      } }],
    });
  } catch (error) {
    await execution.stop();
    await closeOwn();
    throw error;
  }
  // Only now, with the journal reconciled and the address ours: the workers take jobs and the loop starts.
  await execution.run(localUrlOf(http.url));
  return {
    url: http.url,
    execution,
    reload: () => execution.reload(),
    async stop() {
      // No new alerts or admin requests first; then what is in flight on the thread finishes, then our own handles.
      await http.close();
      await execution.stop();
      await closeOwn();
    },
  };
}
