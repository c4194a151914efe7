// The broker registry: one adapter per configured account, built from the account's config. Each adapter's module is
// imported when an account uses it: the others (their wire schemas, their WebSocket client) are never loaded.
import type { Broker } from './broker.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ops/logger.ts';

export interface BrokerRegistry {
  get(account: string): Broker;
  accounts(): string[];
  disconnectAll(): Promise<void>;
}

export interface RegistryDeps {
  logger: Logger;
  now: () => Date;
}

type AccountConfig = Config['accounts'][string];

/** One account's adapter, not yet connected. */
export async function createBroker(name: string, account: AccountConfig, deps: RegistryDeps): Promise<Broker> {
  switch (account.broker) {
    case 'paper': {
      const { PaperBroker } = await import('./paper/paper-broker.ts');
      const { createFeedPricing } = await import('../market/create-feed.ts');
      return new PaperBroker({
        name,
        ledgerPath: account.ledgerPath,
        currency: account.currency,
        startingCash: account.startingCash,
        feeRate: account.feeRate,
        feePerOrder: account.feePerOrder,
        slippagePercent: account.slippagePercent,
        clock: deps.now,
        priceFeed: account.priceFeed && createFeedPricing(account.priceFeed, { account: name, logger: deps.logger, clock: deps.now }),
      });
    }
    case 'alpaca': {
      const { AlpacaBroker } = await import('./alpaca/alpaca-broker.ts');
      return new AlpacaBroker({
        name,
        environment: account.environment,
        keyId: account.keyId,
        secretKey: account.secretKey,
        baseUrl: account.baseUrl,
        streamUrl: account.streamUrl,
        logger: deps.logger,
        clock: deps.now,
      });
    }
    case 'binance-usdm': {
      const { BinanceUsdmBroker } = await import('./binance/binance-broker.ts');
      return new BinanceUsdmBroker({
        name,
        environment: account.environment,
        apiKey: account.apiKey,
        apiSecret: account.apiSecret,
        baseUrl: account.baseUrl,
        streamUrl: account.streamUrl,
        leverage: account.leverage,
        marginType: account.marginType,
        positionMode: account.positionMode,
        workingType: account.workingType,
        clock: deps.now,
        logger: deps.logger,
      });
    }
    case 'ibkr': {
      const { IbkrBroker } = await import('./ibkr/ibkr-broker.ts');
      return new IbkrBroker({
        name,
        accountId: account.accountId,
        gatewayUrl: account.gatewayUrl,
        allowedPrompts: account.allowedPrompts,
        verifyCertificate: account.verifyCertificate,
        logger: deps.logger,
        clock: deps.now,
      });
    }
    case 'zerodha': {
      const { ZerodhaBroker } = await import('./zerodha/zerodha-broker.ts');
      return new ZerodhaBroker({
        name,
        apiKey: account.apiKey,
        accessToken: account.accessToken,
        baseUrl: account.baseUrl,
        exchange: account.exchange,
        product: account.product,
        marketProtection: account.marketProtection,
        gttStopLimitPercent: account.gttStopLimitPercent,
        clock: deps.now,
        logger: deps.logger,
      });
    }
    case 'coinbase': {
      const { CoinbaseBroker } = await import('./coinbase/coinbase-broker.ts');
      return new CoinbaseBroker({
        name,
        keyName: account.keyName,
        privateKey: account.privateKey,
        baseUrl: account.baseUrl,
        logger: deps.logger,
        clock: deps.now,
      });
    }
    default: {
      // Every broker the config accepts is built: a new one in the schema fails to compile here until it is.
      const unbuilt: never = account;
      throw new Error(`account '${name}': no adapter for ${JSON.stringify(unbuilt)}`);
    }
  }
}

/** Builds and connects every configured account's broker; one that fails to connect stops the start. */
export async function createBrokers(config: Config, deps: RegistryDeps): Promise<BrokerRegistry> {
  const built = new Map<string, Broker>();
  try {
    for (const [name, account] of Object.entries(config.accounts)) {
      const broker = await createBroker(name, account, deps);
      await broker.connect();
      built.set(name, broker);
      deps.logger.info({ event: 'broker.connected', account: name, broker: broker.name }, `account ${name} connected`);
    }
  } catch (error) {
    await Promise.allSettled([...built.values()].map((b) => b.disconnect()));
    throw error;
  }
  return {
    get(account) {
      const broker = built.get(account);
      if (!broker) throw new Error(`unknown account '${account}'`);
      return broker;
    },
    accounts: () => [...built.keys()],
    async disconnectAll() {
      await Promise.allSettled([...built.values()].map((b) => b.disconnect()));
    },
  };
}
