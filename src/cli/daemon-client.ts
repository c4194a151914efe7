// The CLI's side of the admin API and the webhook: one request to the running daemon, its answer, or why it could not be reached.
export type DaemonAnswer = { reached: true; status: number; body: unknown } | { reached: false; reason: string };

export interface RequestOptions {
  method: 'GET' | 'POST';
  url: string;
  token?: string | undefined;
  body?: string | undefined;
  timeoutMs?: number | undefined;
}

/** Sends one request; a refused connection, an unknown host or a timeout comes back as `reached: false` with the cause. */
export async function requestDaemon(options: RequestOptions): Promise<DaemonAnswer> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(options.url, {
      method: options.method, headers, body: options.body, signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    });
  } catch (error) {
    return { reached: false, reason: causeOf(error) };
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { reached: true, status: response.status, body };
}

function causeOf(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'no answer in time';
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
