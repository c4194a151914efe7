// The logger: pino JSON events with every secret path redacted; pretty when a person watches a terminal.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Every place a secret can sit in a logged object. Paths are pino's redaction syntax. */
export const REDACT_PATHS = [
  'passphrase', '*.passphrase', '*.*.passphrase', 'body.passphrase', 'payload.passphrase',
  'token', '*.token', 'adminToken', '*.adminToken',
  'secret', '*.secret', '*.secretKey', '*.apiSecret', '*.apiKey', '*.keyId', '*.accessToken', '*.password',
  'headers.authorization', 'req.headers.authorization', 'req.headers["x-tradewire-signature"]',
  'req.headers["apca-api-secret-key"]', 'req.headers["x-mbx-apikey"]',
];

export interface LoggerOptions {
  level?: string;
  /** Where the JSON lines go; tests pass a stream to assert on what was logged. */
  destination?: DestinationStream;
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'tradewire' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination);
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.NODE_ENV !== 'production');
  if (pretty) return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' } } });
  return pino(base);
}
