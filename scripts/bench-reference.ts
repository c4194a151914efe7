// The bench's reference servers, each run in a process of its own: `bare` (express parses JSON and answers) and
// `naive` (what a user would write without tradewire: express + zod + one BullMQ add, no auth, no dedupe, no journal).
// Prints "listening <url>" once it listens; SIGTERM closes it. Run: node --import tsx scripts/bench-reference.ts bare|naive
import { createServer } from 'node:http';
import express from 'express';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { z } from 'zod';

const kind = process.argv[2];
if (kind !== 'bare' && kind !== 'naive') {
  process.stderr.write('usage: bench-reference.ts bare|naive\n');
  process.exit(2);
}

// The naive stack's alert: the fields a TradingView message carries, checked, numbers as text or JSON numbers.
const number = z.union([z.string().regex(/^-?\d+(\.\d+)?$/), z.number()]);
const alertSchema = z.object({
  ticker: z.string().min(1).max(64),
  action: z.enum(['buy', 'sell']),
  sentiment: z.enum(['long', 'short', 'flat']).optional(),
  quantity: number.optional(),
  price: number.optional(),
  id: z.string().max(200).optional(),
}).loose();

const app = express();
app.use(express.json());
let close: () => Promise<void> = async () => undefined;

if (kind === 'bare') {
  app.post('/webhook', (req, res) => { res.status(200).json({ ok: true, keys: Object.keys(req.body as object).length }); });
} else {
  const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const queue = new Queue('alerts', { connection, prefix: process.env.REDIS_PREFIX ?? 'twbench-naive' });
  app.post('/webhook', (req, res, next) => {
    const parsed = alertSchema.safeParse(req.body);
    if (!parsed.success) { res.status(400).json({ error: 'invalid', issues: parsed.error.issues.length }); return; }
    queue.add('alert', parsed.data, { removeOnComplete: true }).then((job) => { res.status(202).json({ id: job.id, status: 'queued' }); }, next);
  });
  close = async () => { await queue.close(); connection.disconnect(); };
}

const server = createServer(app);
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`listening http://127.0.0.1:${address.port}\n`);
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => { void close().then(() => process.exit(0)); });
});
