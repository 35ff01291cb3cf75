import { describe, expect, it } from 'vitest';
import {
  dateBound,
  localWallTimeToUtc,
  utcToLocalWallTime,
  wallTimeBound,
} from '../../../lambdas/shared/sources/time-zone.ts';

const utc = (iso: string) => Date.parse(iso);
const MALTA = 'Europe/Malta';
const NEW_YORK = 'America/New_York';

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

  it('Europe/Malta spring forward (last Sunday of March): the skipped hour shifts forward by the gap', () => {
    // 2024-03-31 02:00 CET → 03:00 CEST at 01:00Z
    expect(localWallTimeToUtc('2024-03-31 01:59:59.999', MALTA)).toBe(utc('2024-03-31T00:59:59.999Z'));
    expect(localWallTimeToUtc('2024-03-31 02:00:00', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
    expect(localWallTimeToUtc('2024-03-31 02:30:00', MALTA)).toBe(utc('2024-03-31T01:30:00Z')); // = 03:30 CEST
    expect(localWallTimeToUtc('2024-03-31 03:00:00', MALTA)).toBe(utc('2024-03-31T01:00:00Z'));
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
    expect(localWallTimeToUtc('2024-03-10 02:15:00', NEW_YORK)).toBe(utc('2024-03-10T07:15:00Z')); // = 03:15 EDT
    expect(localWallTimeToUtc('2024-03-10 03:00:00', NEW_YORK)).toBe(utc('2024-03-10T07:00:00Z'));
    // 2024-11-03 02:00 EDT → 01:00 EST at 06:00Z
    expect(localWallTimeToUtc('2024-11-03 00:59:59', NEW_YORK)).toBe(utc('2024-11-03T04:59:59Z'));
    expect(localWallTimeToUtc('2024-11-03 01:30:00', NEW_YORK)).toBe(utc('2024-11-03T05:30:00Z'));
    expect(localWallTimeToUtc('2024-11-03 02:00:00', NEW_YORK)).toBe(utc('2024-11-03T07:00:00Z'));
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
  it('is the wall time of the instant outside the repeated hour', () => {
    expect(wallTimeBound(utc('2024-10-27T00:30:00Z'), MALTA)).toBe('2024-10-27 02:30:00.000');
    expect(wallTimeBound(utc('2024-03-31T01:00:00Z'), MALTA)).toBe('2024-03-31 03:00:00.000');
    expect(wallTimeBound(utc('2024-10-27T02:00:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
  });

  it('moves a bound in the second pass of the repeated hour to the end of the overlap', () => {
    expect(wallTimeBound(utc('2024-10-27T01:00:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
    expect(wallTimeBound(utc('2024-10-27T01:45:00Z'), MALTA)).toBe('2024-10-27 03:00:00.000');
    expect(wallTimeBound(utc('2024-11-03T06:20:00Z'), NEW_YORK)).toBe('2024-11-03 02:00:00.000');
  });

  it('never decreases and agrees with localWallTimeToUtc for every wall time around both transitions', () => {
    for (const [zone, day] of [
      [MALTA, '2024-10-27'],
      [MALTA, '2024-03-31'],
      [NEW_YORK, '2024-11-03'],
      [NEW_YORK, '2024-03-10'],
    ] as const) {
      const start = utc(`${day}T00:00:00Z`) - 6 * 3_600_000;
      let previous = '';
      const bounds: { at: number; wall: string }[] = [];
      for (let t = start; t <= start + 18 * 3_600_000; t += 5 * 60_000) {
        const wall = wallTimeBound(t, zone);
        expect(wall >= previous).toBe(true);
        previous = wall;
        bounds.push({ at: t, wall });
      }
      // A valid wall time w is in [bound(a), bound(b)) exactly when its instant is in [a, b).
      for (let i = 0; i + 1 < bounds.length; i++) {
        const a = bounds[i]!;
        const b = bounds[i + 1]!;
        for (const w of [a.wall, b.wall]) {
          const instant = localWallTimeToUtc(w, zone);
          if (utcToLocalWallTime(instant, zone) !== w) continue; // a skipped (nonexistent) wall time
          expect(w >= a.wall && w < b.wall).toBe(instant >= a.at && instant < b.at);
        }
      }
    }
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
