/**
 * The mapper's fast paths against the general paths they stand in for, on many generated values:
 * every result and every side result must be the same.
 */
import { describe, expect, it } from 'vitest';
import { buildConverter, instantMicrosConverter } from '#shared/mapping/coerce';
import { ValueProblem } from '#shared/mapping/errors';
import { parseDateTime, parseDateTimeGeneral, parsed, zoneConverter, zoneOffsetAt } from '#shared/mapping/time';
import type { SourceKind } from '#shared/types';
import { random } from '../../helpers/random.ts';

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** parseDateTime's result and side results, comparable with toEqual (NaN equals NaN). */
function parse(fn: (text: string) => number, text: string) {
  const wall = fn(text);
  return { wall, ...parsed };
}

/** Timestamp texts of every shape, mostly valid, many just off. */
function timestampTexts(count: number, seed: number): string[] {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const year = rnd() < 0.8 ? 1900 + Math.floor(rnd() * 250) : Math.floor(rnd() * 10000);
    const month = rnd() < 0.95 ? 1 + Math.floor(rnd() * 12) : pick([0, 13, 19]);
    const day = rnd() < 0.9 ? 1 + Math.floor(rnd() * 28) : pick([0, 29, 30, 31, 32, 39]);
    const hour = rnd() < 0.95 ? Math.floor(rnd() * 24) : pick([24, 25, 99]);
    const minute = rnd() < 0.97 ? Math.floor(rnd() * 60) : pick([60, 61, 99]);
    const second = rnd() < 0.97 ? Math.floor(rnd() * 60) : pick([60, 61, 99]);
    const sep = rnd() < 0.85 ? ' ' : pick(['T', 't', 'X', '_']);
    let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}${sep}${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}`;
    const fraction = Math.floor(rnd() * 12);
    if (fraction > 0) {
      text += rnd() < 0.9 ? '.' : pick([',', ':', ' ']);
      for (let d = 1; d < fraction; d++) text += String(Math.floor(rnd() * 10));
    }
    if (rnd() < 0.1) text += pick(['Z', 'z', '+00', '+01', '-03:30', '+0530', '+05:30:15', ' ', 'x', '+16']);
    if (rnd() < 0.1) {
      // One character replaced by anything a text column might hold.
      const at = Math.floor(rnd() * text.length);
      const c = pick(['0', '9', '-', ':', ' ', '.', '/', 'a', '\u0663', '\u0000', '\uff11', '+']);
      text = text.slice(0, at) + c + text.slice(at + 1);
    }
    if (rnd() < 0.03) text = text.slice(0, Math.floor(rnd() * text.length));
    texts.push(text);
  }
  return texts;
}

describe('parseDateTime fast path', () => {
  it('gives the general parser’s result and side results on 200,000 generated texts', () => {
    const texts = timestampTexts(200_000, 42);
    let mismatches = 0;
    for (const text of texts) {
      const general = parse(parseDateTimeGeneral, text);
      const fast = parse(parseDateTime, text);
      if (!Object.is(general.wall, fast.wall) || JSON.stringify(general) !== JSON.stringify(fast)) {
        mismatches++;
        expect({ text, ...fast }).toEqual({ text, ...general });
      }
    }
    expect(mismatches).toBe(0);
    // The texts exercise both outcomes.
    const valid = texts.filter((t) => !Number.isNaN(parseDateTime(t))).length;
    expect(valid).toBeGreaterThan(100_000);
    expect(valid).toBeLessThan(190_000);
  });

  it('keeps the date of consecutive values right (the day count it reuses)', () => {
    // Sorted texts repeat dates; invalid days of the same month sit between valid ones.
    const texts = timestampTexts(50_000, 7).sort();
    for (const text of texts) expect(parse(parseDateTime, text)).toEqual(parse(parseDateTimeGeneral, text));
    for (const text of [
      '2024-02-29 10:00:00',
      '2023-02-29 10:00:00',
      '2024-02-29 11:00:00.5',
      '2100-02-29 00:00:00',
      '2000-02-29 00:00:00',
      '1900-02-29 00:00:00',
      '2024-04-31 00:00:00',
      '2024-04-30 23:59:59.999999999',
      '0000-00-00 00:00:00',
      '0000-01-01 00:00:00',
      '0000-00-00 00:00:00.000000',
      '9999-12-31 23:59:59.999999',
    ]) {
      expect({ text, ...parse(parseDateTime, text) }).toEqual({ text, ...parse(parseDateTimeGeneral, text) });
    }
    expect(parseDateTime('2024-02-29 10:00:00')).toBe(Date.parse('2024-02-29T10:00:00Z'));
    expect(parseDateTime('2023-02-29 10:00:00')).toBeNaN();
    expect(parseDateTime('0000-00-00 00:00:00')).toBeNaN();
    expect(parsed.zero).toBe(true);
  });
});

/** UTC days on which the zone's offset changes, between two years. */
function transitionDays(zone: string, fromYear: number, toYear: number): number[] {
  const days: number[] = [];
  const DAY = 86_400_000;
  let previous = zoneOffsetAt(zone, Date.UTC(fromYear, 0, 1));
  for (let t = Date.UTC(fromYear, 0, 1) + DAY; t < Date.UTC(toYear + 1, 0, 1); t += DAY) {
    const offset = zoneOffsetAt(zone, t);
    if (offset !== previous) days.push(Math.floor(t / DAY) - 1);
    previous = offset;
  }
  return days;
}

describe('timestamp converters over DST transitions', () => {
  const zones = ['Europe/Malta', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago'];
  it.each(zones)('%s: landed ms and µs are those of the general parser', (name) => {
    const zone = zoneConverter(name);
    const target = { kind: 'timestamp' as SourceKind, nullable: true, configPath: 'x', zone };
    const toMs = buildConverter({ ...target, type: { kind: 'timestamp' } });
    const toUs = instantMicrosConverter(target);
    const rnd = random(name.length);
    const days = transitionDays(name, 2019, 2026);
    expect(days.length).toBeGreaterThanOrEqual(14);
    let checked = 0;
    for (const day of days) {
      // Two days of wall-clock time around the change, every 73 seconds, with fractions of every width.
      for (let wall = (day - 0.5) * 86_400_000; wall < (day + 1.5) * 86_400_000; wall += 73_000) {
        const iso = new Date(wall).toISOString();
        const digits = Math.floor(rnd() * 10);
        const fraction =
          digits === 0
            ? ''
            : `.${String(Math.floor(rnd() * 1e9))
                .padStart(9, '0')
                .slice(0, digits)}`;
        const text = `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}`;
        const general = parseDateTimeGeneral(text);
        const sub = parsed.subMilliMicros;
        expect(toMs(text)).toBe(zone.toUtc(general));
        expect(toUs(text)).toBe(zone.toUtcMicros(general, sub));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30_000);
  });

  it('keeps the errors of malformed and zero-date texts', () => {
    const zone = zoneConverter('Europe/Malta');
    const required = buildConverter({
      type: { kind: 'timestamp' },
      kind: 'timestamp',
      nullable: false,
      configPath: 'streams.x.columns.y',
      zone,
    });
    const nullable = buildConverter({
      type: { kind: 'timestamp' },
      kind: 'timestamp',
      nullable: true,
      configPath: 'streams.x.columns.y',
      zone,
    });
    for (const text of ['2024-02-30 00:00:00', '2024-01-01 24:00:00', '2024-01-01 12:00:00.', '2024-01-01 1:00:00']) {
      expect(() => required(text)).toThrow(ValueProblem);
      expect(() => required(text)).toThrow(/is not a valid timestamp/);
    }
    expect(() => required('0000-00-00 00:00:00')).toThrow(/zero date/);
    expect(nullable('0000-00-00 00:00:00')).toBeNull();
  });
});

/**
 * Independent reference of the decimal converter: the value of the text by BigInt arithmetic,
 * unscaled at `scale`, or the kind of refusal (a fraction needing rounding, too many digits, not
 * a number).
 */
function referenceDecimal(text: string, precision: number, scale: number): bigint | string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?/.exec(text)!;
  if (m[2] === '' && (m[3] ?? '') === '') return 'syntax';
  const int = m[2]!;
  const frac = m[3] ?? '';
  let exp = 0;
  const rest = text.slice(m[0].length);
  if (rest !== '') {
    const e = /^[eE]([+-]?)(\d*)/.exec(rest);
    if (!e) return 'syntax';
    // The exponent is refused as soon as its digits pass 400, before what follows them is read.
    const digits = e[2]!.replace(/^0+/, '');
    if (digits.length > 3 || Number(digits) > 400) return 'range';
    if (e[2] === '' || e[0].length !== rest.length) return 'syntax';
    exp = Number(digits) * (e[1] === '-' ? -1 : 1);
  }
  const digits = BigInt(int + frac || '0');
  const shift = scale - frac.length + exp;
  let unscaled: bigint;
  if (shift >= 0) unscaled = digits * 10n ** BigInt(shift);
  else {
    const divisor = 10n ** BigInt(-shift);
    if (digits % divisor !== 0n) return 'fraction';
    unscaled = digits / divisor;
  }
  if (unscaled >= 10n ** BigInt(precision)) return 'range';
  return m[1] === '-' ? -unscaled : unscaled;
}

function decimalTexts(count: number, seed: number): string[] {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const digits = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += String(Math.floor(rnd() * 10));
    return s;
  };
  const texts: string[] = [];
  for (let i = 0; i < count; i++) {
    const shape = rnd();
    let text: string;
    if (shape < 0.3) text = `${Math.floor(rnd() * 200_000)}.${digits(2)}`;
    else if (shape < 0.4) text = pick(['0', '0.00', '-0', '-0.00', '+0.5', '.5', '5.', '00012.30', '-.01', '0.000']);
    else {
      const sign = pick(['', '', '-', '+']);
      const int = digits(Math.floor(rnd() * 42));
      const frac = rnd() < 0.7 ? `.${digits(Math.floor(rnd() * 42))}` : '';
      const exp = rnd() < 0.1 ? `${pick(['e', 'E'])}${pick(['', '+', '-'])}${Math.floor(rnd() * 60)}` : '';
      text = sign + int + frac + exp;
    }
    if (rnd() < 0.05) {
      const at = Math.floor(rnd() * (text.length + 1));
      text = text.slice(0, at) + pick([' ', 'x', '.', '-', 'e', '\u0663', ',', 'e999']) + text.slice(at);
    }
    texts.push(text);
  }
  return texts;
}

describe('decimal converter', () => {
  it.each([
    [18, 2],
    [38, 0],
    [38, 10],
    [38, 38],
    [9, 4],
  ])(
    'DECIMAL(%i,%i): every value or refusal is the BigInt reference’s, on 50,000 generated texts',
    (precision, scale) => {
      const convert = buildConverter({
        type: { kind: 'decimal', precision, scale },
        kind: 'decimal',
        nullable: true,
        configPath: 'x',
        zone: zoneConverter('UTC'),
      });
      const outcomes = { value: 0, syntax: 0, fraction: 0, range: 0 };
      for (const text of decimalTexts(50_000, precision * 100 + scale)) {
        const expected = referenceDecimal(text, precision, scale);
        let actual: bigint | string;
        try {
          actual = convert(text) as bigint;
        } catch (e) {
          if (!(e instanceof ValueProblem)) throw e;
          actual = e.code;
        }
        if (actual !== expected) expect({ text, actual }).toEqual({ text, actual: expected });
        outcomes[typeof expected === 'bigint' ? 'value' : (expected as 'syntax')]++;
      }
      // Every outcome is exercised.
      for (const count of Object.values(outcomes)) expect(count).toBeGreaterThan(100);
    },
  );

  it('lands small values as shared BigInts and keeps negative zero zero', () => {
    const convert = buildConverter({
      type: { kind: 'decimal', precision: 18, scale: 2 },
      kind: 'decimal',
      nullable: true,
      configPath: 'x',
      zone: zoneConverter('UTC'),
    });
    expect(convert('-0.00')).toBe(0n);
    expect(convert('-0')).toBe(0n);
    expect(convert('12.34')).toBe(1234n);
    expect(convert('-12.34')).toBe(-1234n);
    expect(convert('1310.71')).toBe(131071n);
    expect(convert('1310.72')).toBe(131072n);
    expect(convert('9999999999999999.99')).toBe(999999999999999999n);
    expect(() => convert('99999999999999999.99')).toThrow(
      /has 17 integer digits but the landed type is DECIMAL\(18,2\)/,
    );
    expect(() => convert('0.125')).toThrow(/has 3 decimals but the landed type is DECIMAL\(18,2\)/);
  });
});
