// A webhook passphrase for setups that set none: generated once for paper-only use, kept in data/ with mode 600.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface PassphraseResolution {
  passphrase: string;
  /** Where it came from: the environment or config, or the file it was read from or written to. */
  source: 'configured' | { file: string; created: boolean };
}

/**
 * Returns the configured passphrase, or for a setup with no live account the one kept in `file`
 * (creating it on first start). A live account never starts on a generated secret.
 */
export function resolveWebhookPassphrase(configured: string | undefined, opts: { file: string; anyLiveAccount: boolean }): PassphraseResolution {
  if (configured !== undefined && configured !== '') return { passphrase: configured, source: 'configured' };
  if (opts.anyLiveAccount) {
    throw new Error('a live account is configured but no webhook passphrase is set: set WEBHOOK_PASSPHRASE');
  }
  if (existsSync(opts.file)) {
    const kept = readFileSync(opts.file, 'utf8').trim();
    if (kept.length >= 16) return { passphrase: kept, source: { file: opts.file, created: false } };
  }
  mkdirSync(dirname(opts.file), { recursive: true });
  const passphrase = randomBytes(24).toString('base64url');
  writeFileSync(opts.file, `${passphrase}\n`, { mode: 0o600 });
  chmodSync(opts.file, 0o600);
  return { passphrase, source: { file: opts.file, created: true } };
}
