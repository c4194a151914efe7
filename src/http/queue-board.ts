// Bull Board at /admin/queues: every execution lane, behind the admin token, read-only unless the config allows retries.
import { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Redis } from 'ioredis';
import { AuthFailureLog } from '../intake/auth-log.ts';
import type { Logger } from '../ops/logger.ts';
import { laneQueueName } from '../queue/lanes.ts';
import { requireSameOriginJson, requireToken } from './admin-auth.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

export interface QueueBoardDeps {
  redis: Redis;
  prefix: string;
  laneCount: number;
  adminToken: string | undefined;
  /** server.queueBoard.allowRetries: failed jobs may be retried from the board (read at start). */
  allowRetries: boolean;
  failuresPerMinute?: () => number;
  logger?: Logger | undefined;
}

export interface QueueBoard {
  router: Router;
  /** Closes the board's queue handles (the Redis connection is the caller's). */
  close(): Promise<void>;
}

/**
 * The board's page loads its own scripts, styles and images from this server and reads its JSON API; nothing from
 * elsewhere (its web font is left to the browser's fallback), and no site may frame it.
 */
const BOARD_POLICY = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
  + "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'";

/** The board's two retry actions: every failed job of a queue, or one job (which must be a failed one). */
const RETRY_FAILED = /^\/api\/queues\/[^/]+\/retry\/failed$/;
const RETRY_ONE = /^\/api\/queues\/([^/]+)\/([^/]+)\/retry$/;
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses every action but a retry of failed jobs, and that too unless the config allows it: read-only is decided
 * here, not only by which buttons the board shows. A completed execution job is never run again from the board.
 */
export function queueBoardActions(allowRetries: boolean, stateOf: (queue: string, jobId: string) => Promise<string | undefined>) {
  const refuse = (res: Response, message: string) => { res.status(403).json({ error: 'read_only', message }); };
  return (req: Request, res: Response, next: NextFunction): void => {
    if (READS.has(req.method)) {
      next();
      return;
    }
    if (!allowRetries) {
      refuse(res, 'the queue board is read-only: set server.queueBoard.allowRetries: true in the config to retry failed jobs from it');
      return;
    }
    const one = req.method === 'PUT' ? RETRY_ONE.exec(req.path) : null;
    if (req.method === 'PUT' && RETRY_FAILED.test(req.path)) {
      next();
    } else if (one?.[1] && one[2]) {
      stateOf(decodeURIComponent(one[1]), decodeURIComponent(one[2])).then((state) => {
        if (state === 'failed') next();
        else refuse(res, `only a failed job is retried from the queue board; this one is ${state ?? 'not found'}`);
      }, next);
    } else {
      refuse(res, 'the queue board only retries failed jobs: every other action is refused');
    }
  };
}

/** The board and its queue handles, built on its first authenticated request: most daemons never open it (~8 MB). */
async function buildBoard(deps: QueueBoardDeps): Promise<{ queues: Map<string, Queue>; router: Router }> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'), import('@bull-board/api/bullMQAdapter'), import('@bull-board/express'),
  ]);
  const queues = [...Array.from({ length: deps.laneCount }, (_, lane) => laneQueueName(lane))].map((name) => {
    const queue = new Queue(name, { connection: deps.redis, prefix: deps.prefix });
    queue.on('error', () => undefined);
    return queue;
  });
  const adapter = new ExpressAdapter().setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: !deps.allowRetries, allowRetries: deps.allowRetries })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'tradewire' } },
  });
  return { queues: new Map(queues.map((queue) => [queue.name, queue])), router: adapter.getRouter() as Router };
}

export function createQueueBoard(deps: QueueBoardDeps): QueueBoard {
  let built: ReturnType<typeof buildBoard> | undefined;
  const board = () => {
    built ??= buildBoard(deps);
    built.catch(() => { built = undefined; });
    return built;
  };

  const router = express.Router();
  // Basic, so that a browser asks for the token (as on /dashboard); scripts send it as a bearer token.
  router.use(requireToken(deps.adminToken, {
    challenge: 'Basic', failuresPerMinute: deps.failuresPerMinute,
    failureLog: deps.logger && new AuthFailureLog(deps.logger, 'queue_board.unauthorized', 'queue board request with a wrong or missing token'),
  }));
  router.use(queueBoardActions(deps.allowRetries, async (name, jobId) => {
    const state = await (await board()).queues.get(name)?.getJobState(jobId);
    return state === 'unknown' ? undefined : state;
  }));
  // A retry changes state like any admin action: the bearer token, JSON, and this server's own origin.
  router.use(requireSameOriginJson());
  router.use((req, res, next) => {
    if (READS.has(req.method)) res.set('Content-Security-Policy', BOARD_POLICY);
    next();
  });
  router.use((req, res, next) => { board().then((b) => b.router(req, res, next), next); });
  return {
    router,
    async close() {
      const open = built && await built.catch(() => undefined);
      await Promise.all([...open?.queues.values() ?? []].map((queue) => queue.close()));
    },
  };
}
