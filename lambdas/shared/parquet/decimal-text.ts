/** Exact text of unscaled decimals, as manifests and reconciliation exchange money sums. */

/** `-123456n` at scale 2 → `"-1234.56"`; scale 0 → `"-123456"`. Never rounds. */
export function formatUnscaled(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale === 0) return negative ? `-${digits}` : digits;
  const padded = digits.padStart(scale + 1, '0');
  const text = `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
  return negative ? `-${text}` : text;
}

/** Inverse of {@link formatUnscaled}: `"-1234.56"` at scale 2 → `-123456n`. Rejects more decimals than `scale`. */
export function parseUnscaled(text: string, scale: number): bigint {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  const fraction = match[3] ?? '';
  if (fraction.length > scale) throw new RangeError(`${text} has more than ${scale} decimals`);
  const value = BigInt(match[2]! + fraction.padEnd(scale, '0'));
  return match[1] === '-' ? -value : value;
}
