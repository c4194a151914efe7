// Deterministic client order ids: derived from the signal (or position), account and leg, hashed to fit each broker.
import { createHash, randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

export const CLIENT_ID_PREFIX = 'tw';

export interface ClientIdLimits {
  maxLength: number;
  /** RegExp character class body of allowed characters. */
  alphabet: string;
}

/**
 * The client order id for one leg of one signal at one account. The same inputs always give the same id,
 * so a retry or a re-delivered job finds the order it placed before instead of placing another.
 */
export function clientOrderId(parts: { source: string; account: string; leg: string; sequence?: number }, limits: ClientIdLimits): string {
  const seq = parts.sequence === undefined ? '' : `-${parts.sequence}`;
  const legCode = parts.leg.slice(0, 2);
  const digest = createHash('sha256').update(`${parts.source}|${parts.account}|${parts.leg}${seq}`).digest('hex');
  const head = `${CLIENT_ID_PREFIX}-${legCode}${seq}-`;
  const room = Math.max(8, limits.maxLength - head.length);
  const id = `${head}${digest.slice(0, Math.min(room, 32))}`;
  const allowed = new RegExp(`^[${limits.alphabet}]+$`);
  if (id.length > limits.maxLength || !allowed.test(id)) {
    // No '-' in the alphabet (Kite's tag: letters and digits): prefix and leg code unseparated, so the id stays ours and says its leg.
    const compact = `${CLIENT_ID_PREFIX}${legCode}${digest}`.slice(0, limits.maxLength);
    if (compact.length - CLIENT_ID_PREFIX.length - legCode.length >= COMPACT_MIN_DIGEST && allowed.test(compact)) return compact;
    // Fall back to a bare hex digest that fits any alphabet with letters and digits.
    return digest.slice(0, limits.maxLength);
  }
  return id;
}

/** The least digest a compact id keeps: 12 hex digits, 48 bits. */
const COMPACT_MIN_DIGEST = 12;
const COMPACT_ID = new RegExp(`^${CLIENT_ID_PREFIX}(en|st|ta|ex)[0-9a-f]{${COMPACT_MIN_DIGEST},}$`);

/** True when a client order id is one of ours (tradewire never touches orders it did not create). */
export function isOwnClientOrderId(id: string): boolean {
  return id.startsWith(`${CLIENT_ID_PREFIX}-`) || COMPACT_ID.test(id);
}

/**
 * Signal ids: ULIDs, monotonic within a millisecond so ids sort in arrival order. The randomness comes
 * from a pooled CSPRNG buffer: ulid's default asks the OS for every one of the 16 random characters,
 * which was the webhook's single largest cost per alert (6 % of its CPU in bench:ingest's profile).
 */
export function signalIdFactory(): (seedTime?: number) => string {
  return monotonicFactory(pooledRandom());
}

/** A PRNG in [0, 1) with 8 bits of crypto randomness per call, read from a refilled pool (ulid needs 5 per character). */
export function pooledRandom(poolSize = 4096): () => number {
  const pool = Buffer.alloc(poolSize);
  let next = poolSize;
  return () => {
    if (next === poolSize) {
      randomFillSync(pool);
      next = 0;
    }
    const byte = pool[next] ?? 0;
    next += 1;
    return byte / 256;
  };
}
