import { describe, expect, it } from 'vitest';
import {
  dateBound,
  localWallTimeToUtc,
  parseDateTime,
  utcToLocalWallTime,
  wallTimeBound,
  ZoneConverter,
} from '../../../lambdas/shared/mapping/time.ts';

const utc = (iso: string) => Date.parse(iso);
const MALTA = 'Europe/Malta';
const NEW_YORK = 'America/New_York';
const LORD_HOWE = 'Australia/Lord_Howe';

describe('localWallTimeToUtc', () => {
  it('converts ordinary winter and summer times with the offset in force', () => {
    expect(localWallTimeToUtc('2024-01-15 12:00:00', MALTA)).toBe(utc('2024-01-15T11:00:00Z'));
    expect(localWallTimeToUtc('2024-07-15 12:00:00', MALTA)).toBe(utc('2024-07-15T10:00:00Z'));
    expect(localWallTimeToUtc('2024-01-15 12:00:00', NEW_YORK)).toBe(utc('2024-01-15T17:00:00Z'));
    expect(localWallTimeToUtc('2024-07-15 12:00:00', NEW_YORK)).toBe(utc('2024-07-15T16:00:00Z'));
    expect(localWallTimeToUtc('2024-07-15 12:00:00', 'UTC')).toBe(utc('2024-07-15T12:00:00Z'));
  });

  it('truncates microseconds to milliseconds and accepts the T separator and bare dates', () => {
    expect(localWallTimeToUtc('2024-01-15 12:00:00.123999', MALTA)).toBe(utc('2024-01-15T11:00:00.123Z'));
    expect(localWallTimeToUtc('2024-01-15T12:00:00.5', MALTA)).toBe(utc('2024-01-15T11:00:00.500Z'));
    expect(localWallTimeToUtc('2024-01-15', MALTA)).toBe(utc('2024-01-14T23:00:00Z'));
    expect(localWallTimeToUtc('1969-12-31 23:59:59.999999', 'UTC')).toBe(-1);
  });

  it('honours an explicit offset in the text', () => {
    expect(localWallTimeToUtc('2024-07-15 12:00:00.25+00', MALTA)).toBe(utc('2024-07-15T12:00:00.250Z'));
    expect(localWallTimeToUtc('2024-07-15 12:00:00+05:30', MALTA)).toBe(utc('2024-07-15T06:30:00Z'));
    expect(localWallTimeToUtc('2024-07-15T12:00:00Z', NEW_YORK)).toBe(utc('2024-07-15T12:00:00Z'));
  });

  it('Europe/Malta spring forward (last Sunday of March): the skipped hour is the instant of the change', () => {
    // 2024-03-31 02:00 CET → 03:00 CEST at 01:00Z
    expect(localWallTimeToUtc('2024-03-31 01:59:59.999', MALTA)).toBe(utc('2024-03-31T00:59:59.999Z'));
    expect(localWallTimeToUtc('2024-03-31 02:00:00', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
    expect(localWallTimeToUtc('2024-03-31 02:30:00', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
    expect(localWallTimeToUtc('2024-03-31 02:59:59.999999', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
    expect(localWallTimeToUtc('2024-03-31 03:00:00', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
    expect(localWallTimeToUtc('2024-03-31 03:00:00.001', MALTA)).toBe(utc('2024-03-31T01:00:00.001Z'));
    expect(localWallTimeToUtc('2024-03-31 03:30:00', MALTA)).toBe(utc('2024-03-31T01:30:00Z'));
  });

  it('Europe/Malta fall back (last Sunday of October): the repeated hour maps to the earlier instant', () => {
    // 2024-10-27 03:00 CEST → 02:00 CET at 01:00Z
    expect(localWallTimeToUtc('2024-10-27 01:59:59', MALTA)).toBe(utc('2024-10-26T23:59:59Z'));
    expect(localWallTimeToUtc('2024-10-27 02:00:00', MALTA)).toBe(utc('2024-10-27T00:00:00Z'));
    expect(localWallTimeToUtc('2024-10-27 02:30:00', MALTA)).toBe(utc('2024-10-27T00:30:00Z'));
    expect(localWallTimeToUtc('2024-10-27 02:59:59.999', MALTA)).toBe(utc('2024-10-27T00:59:59.999Z'));
    expect(localWallTimeToUtc('2024-10-27 03:00:00', MALTA)).toBe(utc('2024-10-27T02:00:00Z'));
  });

  it('America/New_York spring forward and fall back', () => {
    // 2024-03-10 02:00 EST → 03:00 EDT at 07:00Z
    expect(localWallTimeToUtc('2024-03-10 01:59:59', NEW_YORK)).toBe(utc('2024-03-10T06:59:59Z'));
    expect(localWallTimeToUtc('2024-03-10 02:15:00', NEW_YORK)).toBe(utc('2024-03-10T07:00:00Z'));
    expect(localWallTimeToUtc('2024-03-10 03:00:00', NEW_YORK)).toBe(utc('2024-03-10T07:00:00Z'));
    // 2024-11-03 02:00 EDT → 01:00 EST at 06:00Z
    expect(localWallTimeToUtc('2024-11-03 00:59:59', NEW_YORK)).toBe(utc('2024-11-03T04:59:59Z'));
    expect(localWallTimeToUtc('2024-11-03 01:30:00', NEW_YORK)).toBe(utc('2024-11-03T05:30:00Z'));
    expect(localWallTimeToUtc('2024-11-03 02:00:00', NEW_YORK)).toBe(utc('2024-11-03T07:00:00Z'));
  });

  it('Australia/Lord_Howe: half-hour changes', () => {
    // 2024-10-06 02:00 +10:30 → 02:30 +11:00 at 2024-10-05T15:30Z
    expect(localWallTimeToUtc('2024-10-06 01:59:59', LORD_HOWE)).toBe(utc('2024-10-05T15:29:59Z'));
    expect(localWallTimeToUtc('2024-10-06 02:10:00', LORD_HOWE)).toBe(utc('2024-10-05T15:30:00Z'));
    expect(localWallTimeToUtc('2024-10-06 02:30:00', LORD_HOWE)).toBe(utc('2024-10-05T15:30:00Z'));
    // 2024-04-07 02:00 +11:00 → 01:30 +10:30 at 2024-04-06T15:00Z
    expect(localWallTimeToUtc('2024-04-07 01:45:00', LORD_HOWE)).toBe(utc('2024-04-06T14:45:00Z'));
    expect(localWallTimeToUtc('2024-04-07 02:00:00', LORD_HOWE)).toBe(utc('2024-04-06T15:30:00Z'));
  });

  it('refuses text that is not a timestamp and unknown zones', () => {
    expect(() => localWallTimeToUtc('15/01/2024 12:00', MALTA)).toThrow(/not a timestamp/);
    expect(() => localWallTimeToUtc('2024-02-30 12:00:00', MALTA)).toThrow(/no such day/);
    expect(() => localWallTimeToUtc('2024-02-01 12:00:00', 'Mars/Olympus')).toThrow(/unknown time zone/);
  });
});

describe('utcToLocalWallTime', () => {
  it('renders the wall time with milliseconds on both sides of each transition', () => {
    expect(utcToLocalWallTime(utc('2024-03-31T00:59:59.999Z'), MALTA)).toBe('2024-03-31 01:59:59.999');
    expect(utcToLocalWallTime(utc('2024-03-31T01:00:00Z'), MALTA)).toBe('2024-03-31 03:00:00.000');
    expect(utcToLocalWallTime(utc('2024-10-27T00:59:59Z'), MALTA)).toBe('2024-10-27 02:59:59.000');
    expect(utcToLocalWallTime(utc('2024-10-27T01:00:00Z'), MALTA)).toBe('2024-10-27 02:00:00.000');
    expect(utcToLocalWallTime(utc('2024-11-03T06:00:00Z'), NEW_YORK)).toBe('2024-11-03 01:00:00.000');
    expect(utcToLocalWallTime(utc('2024-03-10T07:00:00Z'), NEW_YORK)).toBe('2024-03-10 03:00:00.000');
  });

  it('round-trips every quarter hour of a year outside the repeated hours', () => {
    for (const zone of [MALTA, NEW_YORK]) {
      for (let t = utc('2024-01-01T00:00:00Z'); t < utc('2025-01-01T00:00:00Z'); t += 15 * 60_000 + 7) {
        const wall = utcToLocalWallTime(t, zone);
        const back = localWallTimeToUtc(wall, zone);
        // Only the second pass of a repeated hour maps back to the first pass, one hour earlier.
        if (back !== t) expect(t - back).toBe(3_600_000);
      }
    }
  });
});

describe('wallTimeBound', () => {
  it('is the wall time of the instant away from the changes', () => {
    expect(wallTimeBound(utc('2024-10-27T00:30:00Z'), MALTA)).toBe('2024-10-27 02:30:00.000');
    expect(wallTimeBound(utc('2024-03-31T00:59:59.999Z'), MALTA)).toBe('2024-03-31 01:59:59.999');
    expect(wallTimeBound(utc('2024-03-31T01:00:00.001Z'), MALTA)).toBe('2024-03-31 03:00:00.001');
    expect(wallTimeBound(utc('2024-10-27T02:00:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
  });

  it('is the first skipped wall time at the instant of a forward change', () => {
    expect(wallTimeBound(utc('2024-03-31T01:00:00Z'), MALTA)).toBe('2024-03-31 02:00:00.000');
    expect(wallTimeBound(utc('2024-03-10T07:00:00Z'), NEW_YORK)).toBe('2024-03-10 02:00:00.000');
    expect(wallTimeBound(utc('2024-10-05T15:30:00Z'), LORD_HOWE)).toBe('2024-10-06 02:00:00.000');
    // Just after the change the skipped wall times (landed at the change) are all behind the bound.
    expect(wallTimeBound(utc('2026-03-29T01:15:00Z'), MALTA)).toBe('2026-03-29 03:15:00.000');
  });

  it('moves a bound in the second pass of the repeated hour to the end of the overlap', () => {
    expect(wallTimeBound(utc('2024-10-27T01:00:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
    expect(wallTimeBound(utc('2024-10-27T01:45:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
    expect(wallTimeBound(utc('2024-11-03T06:20:00Z'), NEW_YORK)).toBe('2024-11-03 02:00:00.000');
    expect(wallTimeBound(utc('2024-04-06T15:10:00Z'), LORD_HOWE)).toBe('2024-04-07 02:00:00.000');
  });

  // The invariant the windows rely on, for the readers' bound and the mapper's conversion together:
  // a row with wall time w is read by the window ending at b (w < bound(b)) exactly when it lands
  // before b (toUtc(w) < b); so every row lands in the window that read it, whatever the bounds.
  it.each([
    [MALTA, '2026-03-29', 'skipped'],
    [MALTA, '2026-10-25', 'repeated'],
    [NEW_YORK, '2026-03-08', 'skipped'],
    [NEW_YORK, '2026-11-01', 'repeated'],
    [LORD_HOWE, '2026-04-05', 'repeated'],
    [LORD_HOWE, '2026-10-04', 'skipped'],
  ])('splits every wall time as its instant for %s around %s (%s wall times)', (zone, day, kind) => {
    const mapper = new ZoneConverter(zone);
    const step = 10 * 60_000;
    const start = utc(`${day}T00:00:00Z`) - 18 * 3_600_000;
    const end = utc(`${day}T00:00:00Z`) + 30 * 3_600_000;
    // Wall times (every 10 minutes and the millisecond before each), with their instants.
    const walls: { text: string; at: number }[] = [];
    for (let wall = start; wall <= end; wall += step) {
      for (const w of [wall - 1, wall]) {
        const text = new Date(w).toISOString().slice(0, 23).replace('T', ' ');
        const at = mapper.toUtc(parseDateTime(text));
        expect(localWallTimeToUtc(text, zone), text).toBe(at);
        walls.push({ text, at });
      }
    }
    // The change lies in the range: 30 or 60 minutes of wall times are skipped, or repeated.
    const skipped = walls.filter((w) => utcToLocalWallTime(w.at, zone) !== w.text).length;
    const repeated = walls.filter((w) =>
      [30, 60].some((minutes) => utcToLocalWallTime(w.at + minutes * 60_000, zone) === w.text),
    ).length;
    const changed = zone === LORD_HOWE ? 6 : 12;
    expect({ skipped, repeated }).toEqual(
      kind === 'skipped' ? { skipped: changed, repeated: 0 } : { skipped: 0, repeated: changed },
    );
    const failures: string[] = [];
    let previous = '';
    for (let at = start; at <= end; at += step) {
      for (const b of [at - 1, at, at + 1]) {
        const bound = wallTimeBound(b, zone);
        if (bound < previous) failures.push(`bound(${new Date(b).toISOString()}) = ${bound} < ${previous}`);
        previous = bound;
        for (const w of walls) {
          if (w.text < bound !== w.at < b) {
            failures.push(
              `${w.text} → ${new Date(w.at).toISOString()}, bound(${new Date(b).toISOString()}) = ${bound}`,
            );
          }
        }
      }
    }
    expect(failures.slice(0, 10)).toEqual([]);
  });
});

describe('dateBound', () => {
  it('is the first date whose local midnight is not before the instant', () => {
    expect(dateBound(utc('2024-01-14T23:00:00Z'), MALTA)).toBe('2024-01-15');
    expect(dateBound(utc('2024-01-14T23:00:00.001Z'), MALTA)).toBe('2024-01-16');
    expect(dateBound(utc('2024-01-15T00:00:00Z'), MALTA)).toBe('2024-01-16');
    expect(dateBound(utc('2024-12-31T12:00:00Z'), 'UTC')).toBe('2025-01-01');
  });
});
