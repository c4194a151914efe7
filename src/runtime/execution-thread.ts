// The execution thread of role `all`: the lane workers, the position loop, the kill switch, the jobs and the desk,
// on their own event loop and journal connection, answering the HTTP thread's requests (src/runtime/protocol.ts).
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ConfigError } from '../config/load.ts';
import { createLogger } from '../ops/logger.ts';
import { useThreadMetrics } from '../ops/metrics.ts';
import { nextConfig } from './config-reload.ts';
import { startExecutionSide, type ExecutionSide } from './execution-side.ts';
import type { FromThread, Request, ThreadData, ToThread } from './protocol.ts';
import { loadStartupConfig } from './startup.ts';

const port = parentPort;
if (!port) throw new Error('execution-thread.ts runs as a worker thread (src/runtime/execution-host.ts starts it)');
const data = workerData as ThreadData;
const send = (message: FromThread) => port.postMessage(message);
// To stdout like the HTTP side's default logger; or, when the daemon was given a logger, to the HTTP thread, which
// writes each line to it: one log, in order with the answers.
const logger = data.logTo === 'own' ? createLogger({ level: data.logLevel })
  : createLogger({ level: data.logLevel, destination: { write: (line: string) => send({ type: 'log', line }) } });
const env = data.env as NodeJS.ProcessEnv;
// Before anything counts: this thread's series say `execution`, and the process-wide ones (memory, CPU) are the main thread's.
const metrics = useThreadMetrics('execution', { defaults: false });

let side: ExecutionSide | undefined;
let config = await loadStartupConfig(env).catch((error: unknown) => {
  send({ type: 'failed', error: error instanceof Error ? error.message : String(error), startup: true });
  return undefined;
});
if (config) {
  try {
    side = await startExecutionSide({
      config: () => config!, logger, execute: true, watch: true,
      owner: `${data.role}-${process.pid}-t${threadId}-${Date.now().toString(36)}`,
    });
    send({ type: 'reconciled', differences: side.differences });
  } catch (error) {
    logger.error({ event: 'execution.start_failed', err: error instanceof Error ? error.message : String(error) }, 'the execution side could not start');
    send({ type: 'failed', error: error instanceof Error ? error.message : String(error), startup: true });
    config = undefined;
  }
}
if (!side) {
  port.close();
} else {
  const running = side;
  const answer = async (request: Request): Promise<unknown> => {
    switch (request.kind) {
      case 'desk':
        return running.desk(request.action, request.input);
      case 'reload':
        try {
          ({ config } = await nextConfig(config!, env));
          await running.reschedule();
          return { ok: true };
        } catch (error) {
          // The HTTP side validated the same file a moment ago: this is a file changed again in between.
          return { ok: false, error: error instanceof ConfigError || error instanceof Error ? error.message : String(error) };
        }
      case 'metrics':
        return metrics.json();
      case 'stop':
        await running.stop();
        return null;
    }
  };
  port.on('message', (message: ToThread) => {
    if (message.type === 'run') {
      running.run(message.adminUrl);
      send({ type: 'running' });
      return;
    }
    const { id, request } = message;
    void answer(request).then(
      (value) => {
        send({ type: 'answer', id, ok: true, value });
        // After stop, nothing of ours holds the loop open but the port: closing it ends the thread.
        if (request.kind === 'stop') port.close();
      },
      (error: unknown) => send({ type: 'answer', id, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
}
