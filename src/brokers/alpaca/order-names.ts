// The client ids tradewire knows Alpaca orders by where Alpaca chose its own: a bracket's legs, a replacement's successor.
import { BoundedMap, REMEMBERED_ORDERS } from '../bounded-map.ts';

/**
 * Both directions of the naming, in memory. Alpaca gives a bracket's legs client ids of its own and a
 * replacement a new one; tradewire journalled its own ids for them and keeps asking by those.
 */
export class OrderNames {
  // Bounded for a long-lived daemon: a forgotten leg is found by its broker order id, which the journal keeps.
  private readonly orderIds = new BoundedMap<string, string>(REMEMBERED_ORDERS);
  private readonly clientIds = new BoundedMap<string, string>(REMEMBERED_ORDERS);

  /** From now on, tradewire's `clientOrderId` means Alpaca's order `orderId`. */
  remember(clientOrderId: string, orderId: string): void {
    this.orderIds.set(clientOrderId, orderId);
    this.clientIds.set(orderId, clientOrderId);
  }

  /** Alpaca's order id behind one of tradewire's client ids, where they differ. */
  orderIdFor(clientOrderId: string): string | undefined {
    return this.orderIds.get(clientOrderId);
  }

  /** The client id tradewire knows an Alpaca order by: its own where it named the order, else Alpaca's. */
  clientIdFor(orderId: string, alpacaClientId: string): string {
    return this.clientIds.get(orderId) ?? alpacaClientId;
  }

  /** tradewire's own client id for an Alpaca order, where tradewire named it. */
  named(orderId: string): string | undefined {
    return this.clientIds.get(orderId);
  }
}
