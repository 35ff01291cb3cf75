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

/**
 * The unscaled value at `scale` of a decimal text as a database or DuckDB prints it: insignificant
 * zeros beyond `scale` are accepted (`"12.5000"` at scale 2 → `1250n`), as are a `+` sign and a
 * missing integer part (`".5"`). Rejects non-zero digits beyond `scale`: never rounds.
 */
export function unscaledOf(text: string, scale: number): bigint {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] === '' && (match[3] ?? '') === '')) {
    throw new RangeError(`not a decimal number: ${JSON.stringify(text)}`);
  }
  const fraction = match[3] ?? '';
  if (/[1-9]/.test(fraction.slice(scale))) throw new RangeError(`${text} has more than ${scale} decimals`);
  const value = BigInt(`${match[2] || '0'}${fraction.slice(0, scale).padEnd(scale, '0')}`);
  return match[1] === '-' ? -value : value;
}

/** Scale of a decimal text (digits after the point). */
const scaleOf = (text: string): number => {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
};

/** `a + b` of two decimal texts, at the larger of their scales (`"1.5" + "2.25"` → `"3.75"`). */
export function addDecimalTexts(a: string, b: string): string {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  return formatUnscaled(parseUnscaled(a, scale) + parseUnscaled(b, scale), scale);
}

/** `a - b` of two decimal texts, at the larger of their scales. */
export function subtractDecimalTexts(a: string, b: string): string {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  return formatUnscaled(parseUnscaled(a, scale) - parseUnscaled(b, scale), scale);
}

/** Whether two decimal texts are the same number (`"1.50"` and `"1.5"` are). */
export function decimalTextsEqual(a: string, b: string): boolean {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  return parseUnscaled(a, scale) === parseUnscaled(b, scale);
}
