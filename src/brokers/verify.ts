// `check-config --online`: each configured account's credentials tried against its broker, one account at a time.
import type { Config } from '../config/schema.ts';
import { BrokerError } from '../domain/errors.ts';
import { createBroker, type RegistryDeps } from './registry.ts';

export interface AccountCheck {
  account: string;
  broker: string;
  ok: boolean;
  /** What the broker answered: the account's currency and equity when it worked, the refusal when not. */
  detail: string;
}

/**
 * Connects each account, reads its balance and disconnects. Every account is tried, whatever happened to the
 * others, so one run tells the user everything that is wrong. Nothing is ever ordered.
 */
export async function verifyAccounts(config: Config, deps: RegistryDeps): Promise<AccountCheck[]> {
  const checks: AccountCheck[] = [];
  for (const [account, accountConfig] of Object.entries(config.accounts)) {
    try {
      const broker = await createBroker(account, accountConfig, deps);
      try {
        await broker.connect();
        const summary = await broker.account();
        checks.push({ account, broker: accountConfig.broker, ok: true, detail: `credentials accepted; equity ${summary.equity.toFixed()} ${summary.currency}` });
      } finally {
        await broker.disconnect().catch(() => undefined);
      }
    } catch (error) {
      checks.push({ account, broker: accountConfig.broker, ok: false, detail: describe(error) });
    }
  }
  return checks;
}

function describe(error: unknown): string {
  if (error instanceof BrokerError) return `${error.kind}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
