// The gateway's brokerage session: checked before trading, kept alive with POST /tickle on a timer, stopped on disconnect.
import type { HttpClient } from '../http.ts';
import type { Logger } from '../../ops/logger.ts';
import { AuthenticationError } from '../../domain/errors.ts';
import { BROKER, loginHint } from './errors.ts';
import { authStatusSchema, tickleSchema } from './wire.ts';
import type { WireAuthStatus } from './wire.ts';

export interface GatewaySessionOptions {
  client: HttpClient;
  gatewayUrl: string;
  clock: () => Date;
  logger: Pick<Logger, 'warn' | 'debug'>;
  /** IBKR asks for a tickle about once a minute; the session ends after some minutes without one. */
  tickleIntervalMs: number;
  /** How long a good status (from a check or a tickle) is trusted before an order asks again. */
  trustMs: number;
}

export class GatewaySession {
  private status: { authenticated: boolean; at: number; detail: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: GatewaySessionOptions) {}

  /** Asks the gateway now (POST /iserver/auth/status) and remembers the answer. */
  async check(): Promise<WireAuthStatus> {
    const status = await this.options.client.request({ method: 'POST', path: '/iserver/auth/status', schema: authStatusSchema });
    this.remember(status);
    return status;
  }

  /** Throws AuthenticationError, telling the user to log in at the gateway, unless the session is known good and fresh. */
  async ensure(): Promise<void> {
    const known = this.status;
    const fresh = known !== undefined && known.authenticated && this.options.clock().getTime() - known.at < this.options.trustMs;
    if (!fresh) await this.check();
    const now = this.status;
    if (!now?.authenticated) {
      throw new AuthenticationError(`ibkr: the gateway is not logged in${now?.detail ? ` (${now.detail})` : ''}: ${loginHint(this.options.gatewayUrl)}`, { broker: BROKER });
    }
  }

  /** A 401 from any call means the session is gone: the next order asks again instead of trusting the old answer. */
  forget(): void {
    this.status = undefined;
  }

  startKeepAlive(): void {
    this.stopKeepAlive();
    this.timer = setInterval(() => { void this.tickle(); }, this.options.tickleIntervalMs);
    // The keep-alive alone never keeps the process running.
    this.timer.unref();
  }

  stopKeepAlive(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get keepingAlive(): boolean {
    return this.timer !== undefined;
  }

  private async tickle(): Promise<void> {
    try {
      const answer = await this.options.client.request({ method: 'POST', path: '/tickle', schema: tickleSchema });
      const status = answer.iserver?.authStatus;
      if (status) this.remember(status);
      if (status && !status.authenticated) {
        this.options.logger.warn({ event: 'broker.session_lost', broker: BROKER }, `ibkr: the gateway session is no longer authenticated: ${loginHint(this.options.gatewayUrl)}`);
      }
    } catch (error) {
      if (error instanceof AuthenticationError) this.forget();
      this.options.logger.warn({ event: 'broker.tickle_failed', broker: BROKER, error: (error as Error).message }, 'ibkr: keep-alive tickle failed');
    }
  }

  private remember(status: WireAuthStatus): void {
    // A competing session (the same user logged in elsewhere) cannot trade from here either.
    const authenticated = status.authenticated && status.connected !== false && status.competing !== true;
    const detail = [status.competing === true ? 'another session competes for this login' : '', status.connected === false ? 'not connected to IBKR' : '', status.fail ?? '', status.message ?? '']
      .filter((part) => part !== '').join('; ');
    this.status = { authenticated, at: this.options.clock().getTime(), detail };
  }
}
