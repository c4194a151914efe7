// Instrument rules (tick, step, minimums) and the checks sizing applies with them.
import { Decimal, floorToStep, roundToTick } from './money.ts';

export type AssetClass = 'equity' | 'crypto' | 'future' | 'forex' | 'other';

export interface Instrument {
  symbol: string;             // the broker's symbol, after normalization ('AAPL', 'BTCUSDT')
  assetClass: AssetClass;
  tickSize: Decimal;          // price increment
  stepSize: Decimal;          // quantity increment
  minQuantity: Decimal;
  minNotional: Decimal;       // price × quantity must reach this
  maxQuantity?: Decimal | undefined;
  lotSize?: Decimal | undefined;
  shortable: boolean;
  fractionable: boolean;
  quoteCurrency: string;
}

export type InstrumentViolation =
  | { rule: 'min_quantity'; minimum: Decimal; quantity: Decimal }
  | { rule: 'min_notional'; minimum: Decimal; notional: Decimal }
  | { rule: 'max_quantity'; maximum: Decimal; quantity: Decimal }
  | { rule: 'step'; step: Decimal; quantity: Decimal }
  | { rule: 'tick'; tick: Decimal; price: Decimal };

/** Brings a quantity and price onto the instrument's grid: quantity floored to the step, price to the tick. */
export function conform(instrument: Instrument, quantity: Decimal, price: Decimal): { quantity: Decimal; price: Decimal } {
  return { quantity: floorToStep(quantity, instrument.stepSize), price: roundToTick(price, instrument.tickSize) };
}

/** Every rule an order of this quantity at this price breaks (empty when it may be sent). */
export function violations(instrument: Instrument, quantity: Decimal, price: Decimal): InstrumentViolation[] {
  const found: InstrumentViolation[] = [];
  if (quantity.lt(instrument.minQuantity)) found.push({ rule: 'min_quantity', minimum: instrument.minQuantity, quantity });
  if (instrument.maxQuantity && quantity.gt(instrument.maxQuantity)) found.push({ rule: 'max_quantity', maximum: instrument.maxQuantity, quantity });
  if (instrument.stepSize.gt(0) && !quantity.mod(instrument.stepSize).isZero()) found.push({ rule: 'step', step: instrument.stepSize, quantity });
  if (instrument.tickSize.gt(0) && !price.mod(instrument.tickSize).isZero()) found.push({ rule: 'tick', tick: instrument.tickSize, price });
  const notional = quantity.mul(price);
  if (notional.lt(instrument.minNotional)) found.push({ rule: 'min_notional', minimum: instrument.minNotional, notional });
  return found;
}

export function describeViolation(v: InstrumentViolation): string {
  switch (v.rule) {
    case 'min_quantity': return `quantity ${v.quantity} is below the minimum ${v.minimum}`;
    case 'max_quantity': return `quantity ${v.quantity} is above the maximum ${v.maximum}`;
    case 'min_notional': return `notional ${v.notional} is below the minimum ${v.minimum}`;
    case 'step': return `quantity ${v.quantity} is not a multiple of the step ${v.step}`;
    case 'tick': return `price ${v.price} is not a multiple of the tick ${v.tick}`;
  }
}

export function defaultInstrument(symbol: string, overrides: Partial<Instrument> = {}): Instrument {
  return {
    symbol,
    assetClass: 'equity',
    tickSize: new Decimal('0.01'),
    stepSize: new Decimal('1'),
    minQuantity: new Decimal('1'),
    minNotional: new Decimal('0'),
    shortable: true,
    fractionable: false,
    quoteCurrency: 'USD',
    ...overrides,
  };
}
