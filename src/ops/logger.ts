// The logger: pino JSON events with every secret-named field censored, written off the request path; pretty on a terminal.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const CENSOR = '[redacted]';
/**
 * A key naming a secret holds one, at any depth: a field whose name (lower case, letters and digits only) contains
 * one of these. Broader than a list of paths, and it needs no list to be kept in step with the code.
 */
const SECRET_NAME_PARTS = ['passphrase', 'secret', 'password', 'token', 'apikey', 'keyid', 'accesskey', 'authorization', 'signature'];
const MAX_DEPTH = 8;
/** The secret names pino redacts itself at the top level (cheap: no wildcard), for child loggers' bindings. */
const TOP_LEVEL_SECRET_KEYS = ['passphrase', 'token', 'adminToken', 'secret', 'secretKey', 'apiSecret', 'apiKey', 'keyId', 'accessToken', 'password', 'authorization', 'signature'];
const verdicts = new Map<string, boolean>();

export function isSecretKey(key: string): boolean {
  let secret = verdicts.get(key);
  if (secret === undefined) {
    const name = key.toLowerCase().replace(/[^a-z0-9]/g, '');
    secret = SECRET_NAME_PARTS.some((part) => name.includes(part));
    if (verdicts.size > 10_000) verdicts.clear();
    verdicts.set(key, secret);
  }
  return secret;
}

/**
 * The value with every secret-named field replaced by '[redacted]', at any depth (to 8 levels), in plain objects,
 * arrays and errors. Copy on write: the caller's object is never changed, and one without secrets comes back
 * as it is, so the usual log line costs a walk over its keys (pino's wildcard redaction cost ~25 µs a line).
 */
export function censorSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const censored = censorSecrets(item, depth + 1);
      if (censored !== item) (copy ??= [...value])[i] = censored;
    });
    return (copy ?? value) as T;
  }
  const proto = Object.getPrototypeOf(value) as object | null;
  const isError = value instanceof Error;
  if (proto !== Object.prototype && proto !== null && !isError) return value; // Dates, Decimals, Buffers: no fields of ours
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const censored = item !== undefined && item !== null && isSecretKey(key) ? CENSOR : censorSecrets(item, depth + 1);
    if (censored === item) continue;
    // An error stays an error of its class (pino's serializer reads its type, message, stack and cause from it).
    copy ??= isError ? Object.assign(Object.create(proto) as object, { message: (value as Error).message, stack: (value as Error).stack, cause: (value as Error).cause }, record) : { ...record };
    copy[key] = censored;
  }
  return (copy ?? value) as T;
}

export interface LoggerOptions {
  level?: string;
  /** Where the JSON lines go; tests pass a stream to assert on what was logged. */
  destination?: DestinationStream;
  pretty?: boolean;
}

/** Lines wait in memory until this many bytes are buffered (one write for many lines), or for FLUSH_EVERY_MS at most. */
const BUFFER_BYTES = 4096;
const FLUSH_EVERY_MS = 200;
let stdoutSink: ReturnType<typeof pino.destination> | undefined;

/**
 * Standard output as the daemon's loggers share it: asynchronous and buffered, so a log line costs the request
 * path a string append and no system call (a synchronous write, or one asynchronous write per line, was ~6 % of
 * the webhook's CPU). What is buffered is written synchronously when the process exits (pino registers that), when
 * it crashes, and when SIGTERM or SIGINT arrives: the lines just before an ending are the ones that explain it.
 */
export function stdoutDestination(): ReturnType<typeof pino.destination> {
  if (!stdoutSink) {
    stdoutSink = pino.destination({ dest: 1, sync: false, minLength: BUFFER_BYTES, periodicFlush: FLUSH_EVERY_MS });
    flushOnEnding(stdoutSink);
  }
  return stdoutSink;
}

function flushOnEnding(sink: ReturnType<typeof pino.destination>): void {
  // A crash leaves no event loop to wait on: write what is buffered synchronously. (A write already under way in the
  // thread pool may then land after these lines: complete, possibly out of order, at a crash only.)
  // A monitor does not change what a crash does (Node still prints it and exits 1); it only runs first.
  process.on('uncaughtExceptionMonitor', () => {
    try {
      sink.flushSync();
    } catch {
      // Standard output cannot take more as the process ends: nothing else can be done with the lines.
    }
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = () => {
      // Someone else handles the signal (main.ts stops the daemon and exits, and pino writes the rest at exit):
      // start writing now, in order, and leave the ending to them.
      if (process.listenerCount(signal) > 1) {
        sink.flush();
        return;
      }
      // A listener of ours alone would swallow the signal: write what is buffered, then end as the signal would have.
      // A write already under way finishes first (the rest written synchronously after it keeps the order); it is
      // waited for 1 s at most.
      process.removeListener(signal, onSignal);
      const giveUpAt = Date.now() + 1000;
      const finish = () => {
        if ((sink as unknown as { _writing?: boolean })._writing === true && Date.now() < giveUpAt) {
          setTimeout(finish, 2);
          return;
        }
        try {
          sink.flushSync();
        } finally {
          process.kill(process.pid, signal);
        }
      };
      finish();
    };
    process.on(signal, onSignal);
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    // Every line passes through the censor before it is written (and the base bindings); a child logger's own
    // bindings do not (pino formats them once, without the hook), so their top-level secret names are redacted too.
    formatters: { log: (object: Record<string, unknown>) => censorSecrets(object), bindings: (bindings: pino.Bindings) => censorSecrets(bindings) },
    redact: { paths: TOP_LEVEL_SECRET_KEYS, censor: CENSOR },
    base: { service: 'tradewire' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  // Pretty when a person watches a terminal, whatever NODE_ENV says (npm start sets production); LOG_FORMAT=json keeps
  // JSON there too. PM2, compose and pipes are no terminal: JSON.
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.LOG_FORMAT !== 'json');
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  return pino(base, stdoutDestination());
}
