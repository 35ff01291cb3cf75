import { describe, expect, it } from 'vitest';
import type { FieldType } from '#shared/canonical';
import { buildConverter, instantMicrosConverter, isCompatible } from '#shared/mapping/coerce';
import { decimalConverter } from '#shared/mapping/decimal';
import { ValueProblem } from '#shared/mapping/errors';
import { zoneConverter } from '#shared/mapping/time';
import type { SourceKind } from '#shared/types';

const configPath = 'streams.payments.columns.amount';

function problemOf(fn: () => unknown): ValueProblem {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValueProblem) return e;
    throw e;
  }
  throw new Error('expected a ValueProblem');
}

describe('decimalConverter', () => {
  const d18_2 = decimalConverter({ precision: 18, scale: 2, configPath });
  const d38_10 = decimalConverter({ precision: 38, scale: 10, configPath });

  it.each([
    ['12.34', 1234n],
    ['12.3', 1230n],
    ['12', 1200n],
    ['12.', 1200n],
    ['.5', 50n],
    ['-0.01', -1n],
    ['+7.00', 700n],
    ['-0.00', 0n],
    ['0', 0n],
    ['000123.4500', 12345n],
    ['12.340000000000', 1234n],
    ['9999999999999999.99', 999999999999999999n],
    ['-9999999999999999.99', -999999999999999999n],
    ['1e3', 100000n],
    ['1.5E-1', 15n],
    ['125E-2', 125n],
    ['0.0012e3', 120n],
  ])('DECIMAL(18,2) %s → %s', (text, expected) => {
    expect(d18_2(text)).toBe(expected);
  });

  it('is exact at DECIMAL(38,10), beyond what a double can hold', () => {
    expect(d38_10('1234567890123456789012345678.0123456789')).toBe(12345678901234567890123456780123456789n);
    expect(d38_10('-0.0000000001')).toBe(-1n);
    expect(d38_10('12.34')).toBe(123400000000n);
    expect(d38_10('9007199254740993')).toBe(90071992547409930000000000n);
  });

  it('refuses to round, naming the decimals and the landed type', () => {
    const p = problemOf(() => d18_2('12.345'));
    expect(p.problem).toBe('has 3 decimals but the landed type is DECIMAL(18,2)');
    expect(p.hint).toBe('widen scale in streams.payments.columns.amount or fix the source');
    expect(problemOf(() => d18_2('0.0010')).problem).toBe('has 3 decimals but the landed type is DECIMAL(18,2)');
    expect(problemOf(() => d18_2('1.5E-3')).problem).toBe('has 4 decimals but the landed type is DECIMAL(18,2)');
  });

  it('refuses integer digits the precision cannot hold', () => {
    const p = problemOf(() => d18_2('12345678901234567.00'));
    expect(p.problem).toBe('has 17 integer digits but the landed type is DECIMAL(18,2) (at most 16)');
    expect(p.hint).toBe('widen precision in streams.payments.columns.amount or fix the source');
    expect(problemOf(() => d18_2('1e16')).problem).toMatch(/17 integer digits/);
    const d4_4 = decimalConverter({ precision: 4, scale: 4, configPath });
    expect(d4_4('0.1234')).toBe(1234n);
    expect(problemOf(() => d4_4('1.0')).problem).toMatch(/1 integer digits/);
  });

  it.each(['', '-', '.', 'abc', '1.2.3', '--1', '1,5', ' 12', '12 ', 'NaN', 'Infinity', '1e', '1e+', '0x10'])(
    'refuses %j',
    (text) => {
      expect(problemOf(() => d18_2(text)).problem).toMatch(/^is not a decimal number/);
    },
  );
});

describe('buildConverter', () => {
  const zone = zoneConverter('Europe/Malta');
  const conv = (type: FieldType, kind: SourceKind, nullable = true) =>
    buildConverter({ type, kind, nullable, configPath: 'streams.players.columns.x', zone });

  it('converts integers to INT with a range check', () => {
    const int32 = conv({ kind: 'int32' }, 'integer');
    expect(int32('0')).toBe(0);
    expect(int32('2147483647')).toBe(2147483647);
    expect(int32('-2147483648')).toBe(-2147483648);
    expect(int32('007')).toBe(7);
    expect(conv({ kind: 'int32' }, 'decimal')('3.00')).toBe(3);
    expect(problemOf(() => int32('2147483648')).problem).toBe('is out of range for INT (-2147483648 to 2147483647)');
    expect(problemOf(() => int32('-2147483649')).problem).toMatch(/out of range for INT/);
    expect(problemOf(() => int32('99999999999999999999999')).problem).toMatch(/out of range for INT/);
    expect(problemOf(() => int32('3.5')).problem).toBe('has a fractional part but the landed type is INT');
    expect(problemOf(() => int32('three')).problem).toMatch(/^is not an integer/);
    expect(conv({ kind: 'int32' }, 'boolean')('t')).toBe(1);
  });

  it('converts integers to BIGINT exactly', () => {
    const int64 = conv({ kind: 'int64' }, 'integer');
    expect(int64('9223372036854775807')).toBe(9223372036854775807n);
    expect(int64('-9223372036854775808')).toBe(-9223372036854775808n);
    expect(problemOf(() => int64('9223372036854775808')).problem).toBe('is out of range for BIGINT (64-bit signed)');
  });

  it('converts booleans from PostgreSQL, MySQL and file spellings', () => {
    const bool = conv({ kind: 'boolean' }, 'boolean');
    for (const t of ['t', 'true', '1', 'TRUE', 'True']) expect(bool(t)).toBe(true);
    for (const f of ['f', 'false', '0', 'FALSE', ' false ']) expect(bool(f)).toBe(false);
    expect(problemOf(() => bool('yes')).problem).toBe('is not a boolean (expected t/f, true/false or 1/0)');
  });

  it('converts timestamps by source kind: timestamptz as UTC, naive in the source zone', () => {
    expect(conv({ kind: 'timestamp' }, 'timestamptz')('2024-07-01 10:00:00.123456+00')).toBe(
      Date.parse('2024-07-01T10:00:00.123Z'),
    );
    expect(conv({ kind: 'timestamp' }, 'timestamptz')('2024-07-01 10:00:00')).toBe(Date.parse('2024-07-01T10:00:00Z'));
    expect(conv({ kind: 'timestamp' }, 'timestamp')('2024-07-01 10:00:00')).toBe(Date.parse('2024-07-01T08:00:00Z'));
    expect(conv({ kind: 'timestamp' }, 'text')('2024-07-01T10:00:00+03:00')).toBe(Date.parse('2024-07-01T07:00:00Z'));
    expect(conv({ kind: 'timestamp' }, 'date')('2024-01-15')).toBe(Date.parse('2024-01-14T23:00:00Z'));
    expect(problemOf(() => conv({ kind: 'timestamp' }, 'timestamp')('2024-02-30 00:00:00')).problem).toMatch(
      /^is not a valid timestamp/,
    );
  });

  it('converts cursors to exact UTC microseconds by the same rules as timestamps', () => {
    const us = (kind: SourceKind) => instantMicrosConverter({ kind, nullable: false, configPath, zone });
    const at = (iso: string, beyondMs = 0) => BigInt(Date.parse(iso)) * 1000n + BigInt(beyondMs);
    expect(us('timestamptz')('2024-07-01 10:00:00.123456+00')).toBe(at('2024-07-01T10:00:00.123Z', 456));
    expect(us('timestamptz')('2024-07-01 10:00:00.000001')).toBe(at('2024-07-01T10:00:00Z', 1));
    expect(us('timestamp')('2024-07-01 10:00:00.000999')).toBe(at('2024-07-01T08:00:00Z', 999));
    expect(us('text')('2024-07-01T10:00:00.5+03:00')).toBe(at('2024-07-01T07:00:00.500Z'));
    expect(us('date')('2024-01-15')).toBe(at('2024-01-14T23:00:00Z'));
    // Malta's skipped hour of 2024: every wall time in it is the instant of the change.
    expect(us('timestamp')('2024-03-31 02:59:59.999999')).toBe(at('2024-03-31T01:00:00Z'));
    expect(problemOf(() => us('timestamp')('0000-00-00 00:00:00')).problem).toMatch(/zero date/);
    expect(problemOf(() => us('timestamp')('2024-02-30 00:00:00')).problem).toMatch(/^is not a valid timestamp/);
  });

  it("lands MySQL's zero date as NULL when allowed and refuses it otherwise", () => {
    expect(conv({ kind: 'timestamp' }, 'timestamp')('0000-00-00 00:00:00')).toBeNull();
    expect(conv({ kind: 'date' }, 'date')('0000-00-00')).toBeNull();
    expect(problemOf(() => conv({ kind: 'timestamp' }, 'timestamp', false)('0000-00-00 00:00:00')).problem).toMatch(
      /zero date/,
    );
  });

  it('converts dates to days and refuses a time of day', () => {
    expect(conv({ kind: 'date' }, 'date')('1990-05-17')).toBe(7441);
    expect(conv({ kind: 'date' }, 'timestamp')('1990-05-17 00:00:00')).toBe(7441);
    expect(conv({ kind: 'date' }, 'date')('1969-12-31')).toBe(-1);
    expect(problemOf(() => conv({ kind: 'date' }, 'timestamp')('1990-05-17 13:00:00')).problem).toBe(
      'has a time of day but the landed type is DATE (the time would be lost)',
    );
  });

  it('keeps the text of any column landing in a string field', () => {
    expect(conv({ kind: 'string' }, 'decimal')('0012.50')).toBe('0012.50');
    expect(conv({ kind: 'string' }, 'json')('{"a":1}')).toBe('{"a":1}');
  });

  it('knows which kinds can feed which types', () => {
    expect(isCompatible('json', { kind: 'decimal', precision: 18, scale: 2 })).toBe(false);
    expect(isCompatible('integer', { kind: 'timestamp' })).toBe(false);
    expect(isCompatible('text', { kind: 'decimal', precision: 18, scale: 2 })).toBe(true);
    expect(isCompatible('boolean', { kind: 'string' })).toBe(true);
  });
});
