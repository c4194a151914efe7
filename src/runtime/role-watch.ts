// Roles `worker` (executes queued signals and watches positions) and `monitor` (watches only): no HTTP, one event loop.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';
import type { Assembly } from './assembly.ts';
import { startExecutionSide } from './execution-side.ts';
import type { Role } from './roles.ts';

export async function assembleWatcher(options: { role: Extract<Role, 'worker' | 'monitor'>; config: () => Config; logger: Logger }): Promise<Assembly> {
  const side = await startExecutionSide({ config: options.config, logger: options.logger, execute: options.role === 'worker', watch: true,
    owner: `${options.role}-${process.pid}-${Date.now().toString(36)}` });
  side.run();
  return {
    url: '',
    reload: async () => {
      await side.reschedule();
      return { ok: true };
    },
    stop: () => side.stop(),
  };
}
