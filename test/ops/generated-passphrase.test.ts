import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveWebhookPassphrase } from '../../src/ops/generated-passphrase.ts';

describe('webhook passphrase for a paper-only setup', () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'tw-pass-'));

  it('uses the configured one and writes nothing', () => {
    const file = join(dir(), 'webhook-passphrase');
    expect(resolveWebhookPassphrase('s3cret-configured', { file, anyLiveAccount: true })).toEqual({ passphrase: 's3cret-configured', source: 'configured' });
    expect(() => statSync(file)).toThrow();
  });

  it('generates one at first start, mode 600, and reads the same one back on the next start', () => {
    const file = join(dir(), 'sub', 'webhook-passphrase');
    const first = resolveWebhookPassphrase(undefined, { file, anyLiveAccount: false });
    expect(first.source).toEqual({ file, created: true });
    expect(first.passphrase.length).toBeGreaterThanOrEqual(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.passphrase);
    const second = resolveWebhookPassphrase('', { file, anyLiveAccount: false });
    expect(second).toEqual({ passphrase: first.passphrase, source: { file, created: false } });
  });

  it('refuses to generate one when a live account is configured', () => {
    const file = join(dir(), 'webhook-passphrase');
    expect(() => resolveWebhookPassphrase(undefined, { file, anyLiveAccount: true })).toThrow(/WEBHOOK_PASSPHRASE/);
    expect(() => statSync(file)).toThrow();
  });
});
