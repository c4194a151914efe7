import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/ops/logger.ts';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (line: string) => { lines.push(line); } } };
}

describe('logger redaction', () => {
  it('never writes a passphrase, token or broker secret, wherever it sits in the logged object', () => {
    const out = capture();
    const logger = createLogger({ level: 'info', destination: out.destination });
    logger.info({ passphrase: 'pw-top-SECRET1', body: { passphrase: 'pw-body-SECRET2', ticker: 'AAPL' }, account: { apiSecret: 'SECRET3', apiKey: 'SECRET4' },
      req: { headers: { authorization: 'Bearer SECRET5', 'x-tradewire-signature': 'sha256=SECRET6' } }, adminToken: 'SECRET7' }, 'event');
    const text = out.lines.join('');
    for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5', 'SECRET6', 'SECRET7']) expect(text).not.toContain(secret);
    expect(text).toContain('"ticker":"AAPL"');
    expect(text).toContain('[redacted]');
  });
});
