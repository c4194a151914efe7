// A Map that forgets its oldest entries past a size: an adapter's memory of the orders it placed, bounded for a long-lived daemon.

/**
 * Insertion-ordered, like Map; setting a new key when full drops the oldest one. Adapters keep what they learnt of
 * their orders (symbol, alias, endpoint) to answer lookups fast; an order forgotten this way is found the slow way
 * (asked by id, or searched), so the bound costs a call, never a wrong answer.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a BoundedMap holds at least 1 entry, not ${limit}`);
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) {
      const oldest = this.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    return super.set(key, value);
  }
}

/** How many orders an adapter remembers: weeks of busy trading, a few MB. */
export const REMEMBERED_ORDERS = 50_000;
