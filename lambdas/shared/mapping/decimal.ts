/**
 * Exact conversion of decimal text to an unscaled bigint at a fixed scale. Never rounds: digits that
 * would be lost are an error, as are integer digits the precision cannot hold.
 */
import { ValueProblem } from './errors.ts';

const ZEROS: string[] = Array.from({ length: 40 }, (_, i) => '0'.repeat(i));
const POW10: number[] = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * Unscaled values below this are landed as shared BigInts, made on first use: amounts in cents up
 * to 1,310.71 (and zero, most payouts) then cost an array read instead of an allocation. A BigInt
 * is immutable, so one instance can stand in every column and row.
 */
const SMALL_BIGINTS = 1 << 17;
const smallBigInts: (bigint | undefined)[] = new Array(SMALL_BIGINTS);

/** `BigInt(v)` of an integer `v`, shared when it is small and not negative. */
export function integerBigInt(v: number): bigint {
  if (v >= 0 && v < SMALL_BIGINTS) {
    let big = smallBigInts[v];
    if (big === undefined) {
      big = BigInt(v);
      smallBigInts[v] = big;
    }
    return big;
  }
  return BigInt(v);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Where the problem is fixed, for messages: `streams.payments.columns.amount`. */
export interface DecimalTarget {
  readonly precision: number;
  readonly scale: number;
  readonly configPath: string;
}

/**
 * Returns a converter of decimal text (`-12345.6789`, `+.5`, `1.5E+3`, `12`) to the unscaled bigint
 * at `scale` (12.34 at scale 4 → 123400n). Throws {@link ValueProblem} when the value has more
 * non-zero fractional digits than `scale`, more integer digits than `precision - scale`, or is not
 * a finite decimal number.
 */
export function decimalConverter(target: DecimalTarget): (text: string) => bigint {
  const { precision, scale, configPath } = target;
  const maxIntDigits = precision - scale;
  const typeName = `DECIMAL(${precision},${scale})`;

  const tooManyDecimals = (significant: number) =>
    new ValueProblem(
      `has ${significant} decimals but the landed type is ${typeName}`,
      `widen scale in ${configPath} or fix the source`,
      'fraction',
    );
  const tooManyDigits = (digits: number) =>
    new ValueProblem(
      `has ${digits} integer digits but the landed type is ${typeName} (at most ${maxIntDigits})`,
      `widen precision in ${configPath} or fix the source`,
      'range',
    );
  const notANumber = () =>
    new ValueProblem(
      `is not a decimal number (expected digits with an optional sign and decimal point, for ${typeName})`,
      `check that ${configPath} maps a numeric column, or fix the source`,
      'syntax',
    );

  /** Builds the result from the digits of the integer part and the fractional part (no sign). */
  const fromParts = (neg: boolean, intDigits: string, fracDigits: string): bigint => {
    let i = 0;
    while (i < intDigits.length && intDigits.charCodeAt(i) === 48) i++;
    const int = intDigits.slice(i);
    if (fracDigits.length > scale) {
      let end = fracDigits.length;
      while (end > scale && fracDigits.charCodeAt(end - 1) === 48) end--;
      if (end > scale) throw tooManyDecimals(end);
      fracDigits = fracDigits.slice(0, scale);
    }
    if (int.length > maxIntDigits) throw tooManyDigits(int.length);
    const digits = int + fracDigits + ZEROS[scale - fracDigits.length];
    const v = digits.length === 0 ? 0n : BigInt(digits);
    return neg ? -v : v;
  };

  return (text: string): bigint => {
    const len = text.length;
    let i = 0;
    let neg = false;
    const first = text.charCodeAt(0);
    if (first === 45) {
      neg = true;
      i = 1;
    } else if (first === 43) {
      i = 1;
    }
    // Leading zeros do not count as integer digits.
    while (i < len - 1 && text.charCodeAt(i) === 48 && isDigit(text.charCodeAt(i + 1))) i++;
    const intStart = i;
    // Fast path: up to 15 significant digits fit a double exactly, so accumulate as a number.
    let acc = 0;
    while (i < len && isDigit(text.charCodeAt(i))) {
      acc = acc * 10 + (text.charCodeAt(i) - 48);
      i++;
    }
    const intEnd = i;
    let fracStart = i;
    let fracEnd = i;
    if (i < len && text.charCodeAt(i) === 46) {
      i++;
      fracStart = i;
      while (i < len && isDigit(text.charCodeAt(i))) i++;
      fracEnd = i;
    }
    if (intEnd === intStart && fracEnd === fracStart) throw notANumber();
    if (i < len) {
      const c = text.charCodeAt(i);
      if (c !== 101 && c !== 69) throw notANumber();
      return withExponent(text, neg, intStart, intEnd, fracStart, fracEnd, i + 1);
    }
    const intLen = intEnd - intStart;
    const fracLen = fracEnd - fracStart;
    const intIsZero = intLen === 1 && text.charCodeAt(intStart) === 48;
    if (fracLen <= scale && intLen + scale <= 15) {
      if (!intIsZero && intLen > maxIntDigits) throw tooManyDigits(intLen);
      let v = acc;
      for (let k = fracStart; k < fracEnd; k++) v = v * 10 + (text.charCodeAt(k) - 48);
      v *= POW10[scale - fracLen]!;
      return integerBigInt(neg ? -v : v);
    }
    return fromParts(neg, text.slice(intStart, intEnd), text.slice(fracStart, fracEnd));
  };

  function withExponent(
    text: string,
    neg: boolean,
    intStart: number,
    intEnd: number,
    fracStart: number,
    fracEnd: number,
    expStart: number,
  ): bigint {
    let i = expStart;
    let expNeg = false;
    if (text.charCodeAt(i) === 45) {
      expNeg = true;
      i++;
    } else if (text.charCodeAt(i) === 43) {
      i++;
    }
    const digitsStart = i;
    let exp = 0;
    while (i < text.length && isDigit(text.charCodeAt(i))) {
      exp = exp * 10 + (text.charCodeAt(i) - 48);
      if (exp > 400) throw new ValueProblem(`has an exponent out of range for ${typeName}`, `fix the source`, 'range');
      i++;
    }
    if (i === digitsStart || i !== text.length) throw notANumber();
    if (expNeg) exp = -exp;
    const all = text.slice(intStart, intEnd) + text.slice(fracStart, fracEnd);
    const point = intEnd - intStart + exp;
    if (point <= 0) return fromParts(neg, '', '0'.repeat(-point) + all);
    if (point >= all.length) return fromParts(neg, all + '0'.repeat(point - all.length), '');
    return fromParts(neg, all.slice(0, point), all.slice(point));
  }
}
