// Near-miss detection for alert field names: a case variant or a one-edit typo of a known field, so a typo is refused, not ignored.

/**
 * Edit distance with adjacent transpositions counted as one edit (optimal string alignment):
 * `quantiyt` is one slip of the fingers, as much as `quantty` is. Stops counting once past `limit`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prevPrev: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (prevPrev[j - 2] ?? 0) + 1);
      row.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin > limit) return limit + 1;
    prevPrev = prev;
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Known names shorter than this only match by case: one edit from `price` or `time` is too easily another word. */
export const MIN_LENGTH_FOR_EDIT = 6;

/**
 * The known name that `name` is a near miss of, or undefined. An exact match is not a near miss.
 * Case variants win over one-edit matches; among equals, the earlier name in `known` wins.
 */
export function nearMissOf(name: string, known: readonly string[]): string | undefined {
  if (known.includes(name)) return undefined;
  const lower = name.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  return known.find((k) => k.length >= MIN_LENGTH_FOR_EDIT && editDistance(lower, k.toLowerCase(), 1) <= 1);
}
