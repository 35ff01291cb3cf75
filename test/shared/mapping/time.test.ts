import { describe, expect, it } from 'vitest';
import {
  parseDate,
  parseDateTime,
  parsed,
  wallTimeToEpochMicros,
  wallTimeToEpochMs,
  ZoneConverter,
} from '#shared/mapping/time';

const utc = (iso: string) => Date.parse(iso);

describe('parseDateTime', () => {
  it.each([
    ['2024-03-31 01:30:00+00', '2024-03-31T01:30:00.000Z', true],
    ['2024-03-31 01:30:00', '2024-03-31T01:30:00.000Z', false],
    ['2024-03-31T01:30:00Z', '2024-03-31T01:30:00.000Z', true],
    ['2024-03-31 07:00:00+05:30', '2024-03-31T01:30:00.000Z', true],
    ['2024-03-30 22:30:00-03', '2024-03-31T01:30:00.000Z', true],
    ['2024-03-31 02:30:00+0100', '2024-03-31T01:30:00.000Z', true],
    ['1900-01-01 00:00:00+00:19:32', '1899-12-31T23:40:28.000Z', true],
    ['2024-12-31 23:59:59.999999+00', '2024-12-31T23:59:59.999Z', true],
    ['2024-01-01 00:00:00.1', '2024-01-01T00:00:00.100Z', false],
    ['2024-01-01 00:00:00.12', '2024-01-01T00:00:00.120Z', false],
    ['2024-01-01 00:00:00.123456789', '2024-01-01T00:00:00.123Z', false],
    ['2024-01-01 10:20', '2024-01-01T10:20:00.000Z', false],
    ['2024-02-29', '2024-02-29T00:00:00.000Z', false],
    ['1969-12-31 23:59:59.999', '1969-12-31T23:59:59.999Z', false],
    ['0001-01-01 00:00:00', '0001-01-01T00:00:00.000Z', false],
  ])('%s', (text, iso, hasOffset) => {
    const wall = parseDateTime(text);
    const instant = parsed.hasOffset ? wall - parsed.offsetMs : wall;
    expect(new Date(instant).toISOString()).toBe(iso.startsWith('0001') ? '0001-01-01T00:00:00.000Z' : iso);
    expect(parsed.hasOffset).toBe(hasOffset);
  });

  it('truncates microseconds towards the past, also before 1970', () => {
    expect(parseDateTime('1969-12-31 23:59:59.9999')).toBe(-1);
    expect(parseDateTime('2024-01-01 00:00:00.0009')).toBe(utc('2024-01-01T00:00:00.000Z'));
  });

  it.each([
    '2024-02-30 00:00:00',
    '2023-02-29',
    '2024-13-01 00:00:00',
    '2024-00-10',
    '2024-01-01 24:00:00',
    '2024-01-01 12:60:00',
    '2024-01-01 12:00:60',
    '2024-01-01 12:00:00 BC',
    '2024-01-01 12:00:00+',
    '2024-01-01 12:00:00+16',
    '2024-01-01 12:00:00.',
    '2024-1-01',
    '20240101',
    'infinity',
    '',
    '2024-01-01X12:00:00',
  ])('refuses %j', (text) => {
    expect(parseDateTime(text)).toBeNaN();
    expect(parsed.zero).toBe(false);
  });

  it("flags MySQL's zero date", () => {
    expect(parseDateTime('0000-00-00 00:00:00')).toBeNaN();
    expect(parsed.zero).toBe(true);
    expect(parseDate('0000-00-00')).toBeNaN();
    expect(parsed.zero).toBe(true);
  });

  it('parses dates into days since the epoch', () => {
    expect(parseDate('1970-01-01')).toBe(0);
    expect(parseDate('2024-02-29')).toBe(19782);
    expect(parseDate('1969-12-31')).toBe(-1);
    expect(parseDate('2024-02-29 00:00:00')).toBeNaN();
  });
});

/** Independent reference: the wall-clock text Intl shows for an instant in a zone. */
function wallText(zone: string): (utcMs: number) => string {
  const f = new Intl.DateTimeFormat('sv-SE', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  return (ms) => f.format(new Date(ms));
}

const asText = (wallMs: number) => new Date(wallMs).toISOString().slice(0, 19).replace('T', ' ');

describe('ZoneConverter', () => {
  it('converts Malta wall-clock time, including both DST transitions of 2024', () => {
    const malta = new ZoneConverter('Europe/Malta');
    const conv = (text: string) => new Date(malta.toUtc(parseDateTime(text))).toISOString();
    expect(conv('2024-01-15 12:00:00')).toBe('2024-01-15T11:00:00.000Z');
    expect(conv('2024-07-15 12:00:00.123456')).toBe('2024-07-15T10:00:00.123Z');
    // Spring forward 02:00 → 03:00: 02:00–02:59 do not exist and are the instant of the change.
    expect(conv('2024-03-31 01:59:59')).toBe('2024-03-31T00:59:59.000Z');
    expect(conv('2024-03-31 02:00:00')).toBe('2024-03-31T01:00:00.000Z');
    expect(conv('2024-03-31 02:30:00')).toBe('2024-03-31T01:00:00.000Z');
    expect(conv('2024-03-31 02:59:59.999')).toBe('2024-03-31T01:00:00.000Z');
    expect(conv('2024-03-31 03:00:00')).toBe('2024-03-31T01:00:00.000Z');
    expect(conv('2024-03-31 03:00:00.001')).toBe('2024-03-31T01:00:00.001Z');
    // Fall back 03:00 → 02:00: 02:30 happens twice; the earlier instant (CEST) is taken.
    expect(conv('2024-10-27 02:30:00')).toBe('2024-10-27T00:30:00.000Z');
    expect(conv('2024-10-27 03:00:00')).toBe('2024-10-27T02:00:00.000Z');
    expect(conv('2024-10-27 01:59:59.999')).toBe('2024-10-26T23:59:59.999Z');
  });

  it('reads offsets carried by the text and treats UTC as identity', () => {
    expect(wallTimeToEpochMs('2024-07-01 12:00:00+02', 'America/New_York')).toBe(utc('2024-07-01T10:00:00Z'));
    expect(wallTimeToEpochMs('2024-07-01 12:00:00', 'UTC')).toBe(utc('2024-07-01T12:00:00Z'));
    expect(wallTimeToEpochMs('not a time', 'UTC')).toBeNaN();
    expect(() => new ZoneConverter('Mars/Olympus_Mons')).toThrow(RangeError);
  });

  // Every quarter hour of a period, checked against Intl's own rendering of the result: a wall time
  // that exists must render back to itself and no earlier instant may render to it; one that does
  // not exist must land on the instant of the change (the first instant of the new offset).
  it.each([
    ['Europe/Malta', '2024-01-01', 366],
    ['America/New_York', '2024-01-01', 366],
    ['Australia/Lord_Howe', '2024-01-01', 366],
    ['America/Santiago', '2024-01-01', 366],
    ['Asia/Kathmandu', '1985-12-20', 30],
    ['Pacific/Apia', '2011-12-25', 10],
    ['Europe/Amsterdam', '1937-06-25', 10],
  ])('agrees with Intl for %s from %s (%i days)', (zone, from, days) => {
    const converter = new ZoneConverter(zone);
    const render = wallText(zone);
    const start = utc(`${from}T00:00:00Z`);
    let gaps = 0;
    let ambiguous = 0;
    const offsetAt = (t: number) => Date.parse(`${render(t).replace(' ', 'T')}Z`) - Math.floor(t / 1000) * 1000;
    for (let wall = start; wall < start + days * 86_400_000; wall += 900_000) {
      const t = converter.toUtc(wall);
      const text = asText(wall);
      const shown = render(t);
      if (shown === text) {
        // Only near a transition can another instant show the same wall time.
        if (offsetAt(t - 6 * 3_600_000) !== offsetAt(t + 6 * 3_600_000)) {
          for (let back = 900_000; back <= 3 * 3_600_000; back += 900_000) {
            if (render(t - back) === text) throw new Error(`${zone} ${text}: an earlier instant exists`);
          }
          if (render(t + 3_600_000) === text || render(t + 1_800_000) === text) ambiguous++;
        }
      } else {
        gaps++;
        const before = offsetAt(t - 2 * 86_400_000);
        const after = offsetAt(t + 2 * 86_400_000);
        expect(render(wall - before), `${zone} ${text} exists`).not.toBe(text);
        expect(render(wall - after), `${zone} ${text} exists`).not.toBe(text);
        // The instant of the change: the offset before it up to the previous ms, the one after from it.
        expect([offsetAt(t - 1), offsetAt(t)], `${zone} ${text} → ${shown}`).toEqual([before, after]);
        expect(render(t - 1) < text && text < shown, `${zone} ${text} → ${shown}`).toBe(true);
      }
    }
    if (zone !== 'Asia/Kathmandu' && zone !== 'Europe/Amsterdam') expect(gaps).toBeGreaterThan(0);
    if (zone === 'Europe/Malta') expect([gaps, ambiguous]).toEqual([4, 4]);
    if (zone === 'Pacific/Apia') expect(gaps).toBe(96);
    if (zone === 'Australia/Lord_Howe') expect([gaps, ambiguous]).toEqual([2, 2]);
  });
});

/** Microseconds of an ISO instant plus `beyondMs` µs, computed with BigInt from Date.parse. */
const micros = (iso: string, beyondMs = 0) => BigInt(Date.parse(iso)) * 1000n + BigInt(beyondMs);

describe('wallTimeToEpochMicros', () => {
  it.each([
    // Offsets in the text win over the zone; sub-millisecond digits are kept exactly.
    ['2024-12-31 23:59:59.999999+00', 'Europe/Malta', micros('2024-12-31T23:59:59.999Z', 999)],
    ['2024-03-31 07:00:00.000001+05:30', 'UTC', micros('2024-03-31T01:30:00Z', 1)],
    ['2024-03-30 22:30:00.123456-03', 'UTC', micros('2024-03-31T01:30:00.123Z', 456)],
    ['2024-07-01T12:00:00.5Z', 'America/New_York', micros('2024-07-01T12:00:00.500Z')],
    ['1900-01-01 00:00:00.000250+00:19:32', 'UTC', micros('1899-12-31T23:40:28Z', 250)],
    // Four to nine fraction digits: microseconds scaled, nanoseconds dropped.
    ['2024-01-01 00:00:00.1234', 'UTC', micros('2024-01-01T00:00:00.123Z', 400)],
    ['2024-01-01 00:00:00.12345', 'UTC', micros('2024-01-01T00:00:00.123Z', 450)],
    ['2024-01-01 00:00:00.123456789', 'UTC', micros('2024-01-01T00:00:00.123Z', 456)],
    // Before 1970 the fraction still counts forward from its second.
    ['1969-12-31 23:59:59.999999', 'UTC', -1n],
    ['1969-12-31 23:59:59.9995', 'UTC', -500n],
    ['1969-12-31 23:59:59.000001', 'UTC', -999_999n],
    // Beyond 2^53 µs (before 1685, after 2255): exact through BigInt.
    ['0001-01-01 00:00:00.000001', 'UTC', micros('0001-01-01T00:00:00Z', 1)],
    ['9999-12-31 23:59:59.999999', 'UTC', micros('9999-12-31T23:59:59.999Z', 999)],
    // A date is midnight in the zone.
    ['2024-07-15', 'Europe/Malta', micros('2024-07-14T22:00:00Z')],
    ['2024-01-15', 'Europe/Malta', micros('2024-01-14T23:00:00Z')],
    ['2024-07-15', 'UTC', micros('2024-07-15T00:00:00Z')],
    // Naive Malta times around both DST changes of 2024.
    ['2024-03-31 01:59:59.999999', 'Europe/Malta', micros('2024-03-31T00:59:59.999Z', 999)],
    ['2024-03-31 02:00:00.000001', 'Europe/Malta', micros('2024-03-31T01:00:00Z')],
    ['2024-03-31 02:30:00.000500', 'Europe/Malta', micros('2024-03-31T01:00:00Z')],
    ['2024-03-31 02:59:59.999999', 'Europe/Malta', micros('2024-03-31T01:00:00Z')],
    ['2024-03-31 03:00:00', 'Europe/Malta', micros('2024-03-31T01:00:00Z')],
    ['2024-03-31 03:00:00.000001', 'Europe/Malta', micros('2024-03-31T01:00:00Z', 1)],
    ['2024-10-27 01:59:59.999999', 'Europe/Malta', micros('2024-10-26T23:59:59.999Z', 999)],
    ['2024-10-27 02:00:00.000001', 'Europe/Malta', micros('2024-10-27T00:00:00Z', 1)],
    ['2024-10-27 02:59:59.999999', 'Europe/Malta', micros('2024-10-27T00:59:59.999Z', 999)],
    ['2024-10-27 03:00:00.000001', 'Europe/Malta', micros('2024-10-27T02:00:00Z', 1)],
    // A zone whose skipped hour starts at midnight: the date's midnight does not exist.
    ['2024-09-08', 'America/Santiago', micros('2024-09-08T04:00:00Z')],
  ])('%s in %s', (text, zone, expected) => {
    expect(wallTimeToEpochMicros(text, zone)).toBe(expected);
  });

  it('refuses what is not a date or timestamp, and the zero date', () => {
    for (const text of ['infinity', '2024-02-30 00:00:00', '2024-01-01 12:00:00.', '0000-00-00 00:00:00', '']) {
      expect(wallTimeToEpochMicros(text, 'UTC')).toBeUndefined();
    }
  });

  // floor(µs / 1000) is the landed millisecond, and the conversion never goes backwards: stepping
  // through both Malta DST changes of 2024 in 250.5 ms steps (sub-millisecond digits included).
  it.each([
    ['2024-03-31T00:00:00Z', 'spring forward'],
    ['2024-10-26T23:00:00Z', 'fall back'],
  ])('agrees with the millisecond conversion and is non-decreasing across the %s (%s)', (from) => {
    const malta = new ZoneConverter('Europe/Malta');
    const start = Date.parse(from);
    let previous: bigint | undefined;
    for (let step = 0; step < 3 * 3600 * 4; step++) {
      const wallUs = BigInt(start) * 1000n + BigInt(step) * 250_500n;
      const wallMs = Number(wallUs / 1000n);
      const text = `${new Date(wallMs).toISOString().slice(0, 23).replace('T', ' ')}${String(wallUs % 1000n).padStart(3, '0')}`;
      const us = wallTimeToEpochMicros(text, 'Europe/Malta')!;
      const ms = malta.toUtc(wallMs);
      expect(us / 1000n, text).toBe(BigInt(ms));
      if (previous !== undefined) expect(us >= previous, text).toBe(true);
      previous = us;
    }
  });
});
