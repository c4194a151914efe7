// Error answers for every router and the app: JSON, never a stack trace or a file path, whatever NODE_ENV says.
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../ops/logger.ts';

/** An absolute path (POSIX or Windows) or a file URL inside a message: replaced before the message leaves the process. */
const PATH = /(?:file:\/\/)?(?:[A-Za-z]:\\|\/)(?:[^\s'"`:,()]+[\\/])+[^\s'"`:,()]*/g;

/** The message of an error as a client may read it: absolute paths replaced, at most one line of 300 characters. */
export function publicMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').replace(PATH, '<path>').slice(0, 300);
}

/** A status an error carries that is a client's fault (body-parser's 400/413/415, a route's 4xx), else undefined. */
export function clientStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown; statusCode?: unknown } | null)?.status ?? (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** body-parser's error types, answered with a fixed word rather than its message. */
const BODY_ERRORS: Record<string, string> = {
  'entity.too.large': 'payload_too_large',
  'entity.parse.failed': 'invalid_json',
  'encoding.unsupported': 'unsupported_encoding',
  'charset.unsupported': 'unsupported_charset',
  'request.aborted': 'request_aborted',
  'entity.verify.failed': 'bad_request',
  'request.size.invalid': 'bad_request',
  'stream.encoding.set': 'bad_request',
  'parameters.too.many': 'bad_request',
};

/**
 * The last error handler of the app (and of a router that wants one): a client's error keeps its 4xx status with a
 * fixed error word; anything else is logged with its stack and answered 500 {error: 'internal'}.
 */
export function jsonErrorHandler(logger?: Logger, event = 'http.error') {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const status = clientStatus(error);
    if (res.headersSent) {
      // Nothing more can be said to the client; end the answer instead of handing it to express's HTML page.
      res.end();
      return;
    }
    if (status !== undefined) {
      const type = (error as { type?: unknown }).type;
      res.status(status).json({ error: typeof type === 'string' ? (BODY_ERRORS[type] ?? 'bad_request') : 'bad_request' });
      return;
    }
    logger?.error({ event, method: req.method, path: req.baseUrl + req.path, err: error instanceof Error ? error.stack : String(error) }, 'request failed');
    res.status(500).json({ error: 'internal' });
  };
}
