import { describe, expect, it } from 'vitest';
import {
  addDecimalTexts,
  decimalTextsEqual,
  formatUnscaled,
  parseUnscaled,
  subtractDecimalTexts,
  unscaledOf,
} from '#shared/parquet/decimal-text';

describe('decimal text', () => {
  it('formats and parses unscaled values exactly, both ways', () => {
    for (const [value, scale, text] of [
      [-123456n, 2, '-1234.56'],
      [5n, 2, '0.05'],
      [-5n, 3, '-0.005'],
      [0n, 2, '0.00'],
      [-123456n, 0, '-123456'],
      [10n ** 37n, 10, '1000000000000000000000000000.0000000000'],
    ] as const) {
      expect(formatUnscaled(value, scale)).toBe(text);
      expect(parseUnscaled(text, scale)).toBe(value);
    }
    expect(parseUnscaled('12.5', 2)).toBe(1250n);
    expect(() => parseUnscaled('12.500', 2)).toThrow(/more than 2 decimals/);
    expect(() => parseUnscaled('+1', 0)).toThrow(/not a decimal number/);
  });

  it('reads a decimal as a database prints it, with insignificant zeros beyond the scale, never rounding', () => {
    expect(unscaledOf('12.5000', 2)).toBe(1250n);
    expect(unscaledOf(' -0.50 ', 2)).toBe(-50n);
    expect(unscaledOf('+.5', 1)).toBe(5n);
    expect(unscaledOf('7', 3)).toBe(7000n);
    expect(() => unscaledOf('12.501', 2)).toThrow(/more than 2 decimals/);
    expect(() => unscaledOf('.', 2)).toThrow(/not a decimal number/);
    expect(() => unscaledOf('1e3', 2)).toThrow(/not a decimal number/);
  });

  it('adds, subtracts and compares decimal texts at the larger scale', () => {
    expect(addDecimalTexts('1.5', '2.25')).toBe('3.75');
    expect(addDecimalTexts('-1', '0.001')).toBe('-0.999');
    expect(subtractDecimalTexts('1.5', '2.25')).toBe('-0.75');
    expect(subtractDecimalTexts('100', '100')).toBe('0');
    expect(decimalTextsEqual('1.50', '1.5')).toBe(true);
    expect(decimalTextsEqual('-0.00', '0')).toBe(true);
    expect(decimalTextsEqual('1.51', '1.5')).toBe(false);
  });
});
