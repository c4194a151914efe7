// What a channel's sender answers, and the shared fetch step: a bounded wait, and errors that never carry the URL.
export type SendResult = { ok: true } | { ok: false; retryable: boolean; retryAfterMs?: number | undefined; error: string };

export interface Sender {
  readonly service: 'discord' | 'slack' | 'telegram';
  /** The longest text the service takes in one message. */
  readonly maxLength: number;
  send(text: string): Promise<SendResult>;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** How long one send may take before it counts as failed (and is retried): a hanging service never holds a channel. */
export const SEND_TIMEOUT_MS = 10_000;

/** POSTs JSON; a network failure or timeout comes back as a retryable result naming the cause (never the URL: it holds the token). */
export async function postJson(fetchImpl: FetchLike, url: string, body: unknown, signal?: AbortSignal): Promise<Response | SendResult> {
  try {
    const timeout = AbortSignal.timeout(SEND_TIMEOUT_MS);
    return await fetchImpl(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    const cause = (error as { cause?: { code?: unknown } }).cause?.code;
    const reason = name === 'TimeoutError' ? 'no answer in time' : name === 'AbortError' ? 'stopped' : typeof cause === 'string' ? cause : 'network error';
    return { ok: false, retryable: true, error: reason };
  }
}

/** Seconds from a Retry-After header (delta form only), as ms. */
export function retryAfterHeader(response: Response): number | undefined {
  const raw = response.headers.get('retry-after');
  const seconds = raw === null ? NaN : Number(raw);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
}

/** A short, single-line excerpt of a service's error answer for the log. */
export function excerpt(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 200);
}
