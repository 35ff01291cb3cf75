/**
 * Conversions between UTC instants and wall-clock times of an IANA time zone, for sources that
 * store `timestamp without time zone` (PostgreSQL) or `DATETIME` (MySQL) in the operator's zone.
 *
 * DST policy (the same everywhere in the connector, see also `mapping/time.ts`):
 * - **Ambiguous wall times** (the repeated hour when clocks go back, e.g. 02:30 on the last
 *   Sunday of October in Europe/Malta) map to the **earlier** instant (the first pass, still in
 *   summer time). The second pass cannot be told apart in a naive column, so no row ever lands in
 *   it; a window bound that falls inside the second pass is moved to the end of the overlap so
 *   that windows stay consistent with that mapping (see {@link wallTimeBound}).
 * - **Nonexistent wall times** (the hour skipped when clocks go forward, e.g. 02:30 on the last
 *   Sunday of March in Europe/Malta) are taken as **the instant of the change** (01:00:00.000Z
 *   there: the first instant of summer time). A correct local clock never produces them.
 *
 * With these two rules the conversion of wall times to instants never decreases, so for every UTC
 * bound there is one wall-clock bound that splits the rows exactly as their landed instants do:
 * each row lands in the window whose range holds its instant, whatever the window bounds.
 *
 * Wall time → instant is `mapping/time.ts`'s `ZoneConverter` (the one the mapper lands values
 * with); offsets come from its `zoneOffsetAt` (the runtime's time zone database through Intl),
 * cached here per zone and UTC hour for the instant → wall time direction.
 */

import { zoneConverter, zoneOffsetAt } from '../mapping/time.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MAX_CACHED_HOURS = 200_000;

interface ZoneCache {
  readonly zone: string;
  /** UTC hour index → offset in ms (wall − UTC), when constant over that hour. */
  readonly hours: Map<number, number>;
}

const zones = new Map<string, ZoneCache>();

function zoneCache(zone: string): ZoneCache {
  let cache = zones.get(zone);
  if (!cache) {
    try {
      zoneConverter(zone);
    } catch (cause) {
      throw new RangeError(`unknown time zone "${zone}": expected an IANA zone name such as Europe/Malta`, { cause });
    }
    cache = { zone, hours: new Map() };
    zones.set(zone, cache);
  }
  return cache;
}

/** Offset (wall − UTC) in ms at an instant, cached per UTC hour when constant over the hour. */
function offsetAt(cache: ZoneCache, utcMs: number): number {
  const hour = Math.floor(utcMs / HOUR_MS);
  const cached = cache.hours.get(hour);
  if (cached !== undefined) return cached;
  const start = zoneOffsetAt(cache.zone, hour * HOUR_MS);
  const end = zoneOffsetAt(cache.zone, hour * HOUR_MS + HOUR_MS - 1000);
  if (start !== end) return zoneOffsetAt(cache.zone, utcMs); // a transition inside this hour: not cached
  if (cache.hours.size >= MAX_CACHED_HOURS) cache.hours.clear();
  cache.hours.set(hour, start);
  return start;
}

const WALL_TIME =
  /^(-?\d{4,6})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(?:\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?))?$/;

/** Parses `YYYY-MM-DD[ HH:MM[:SS[.f…]]][offset]` into ms of the wall time read as UTC, and the explicit offset if any. */
function parseWallTime(text: string): { wallMs: number; offsetMs: number | undefined } {
  const m = WALL_TIME.exec(text.trim());
  if (!m) {
    throw new RangeError(`"${text}" is not a timestamp: expected YYYY-MM-DD HH:MM:SS[.ffffff]`);
  }
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new RangeError(`"${text}" is not a valid timestamp`);
  }
  // Truncate the fraction to milliseconds (a microsecond source keeps ms precision, as landed).
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), month - 1, day);
  d.setUTCHours(hour, minute, second, ms);
  if (d.getUTCDate() !== day) throw new RangeError(`"${text}" is not a valid timestamp: no such day`);
  let offsetMs: number | undefined;
  const offset = m[8];
  if (offset !== undefined) {
    if (offset === 'Z') offsetMs = 0;
    else {
      const digits = offset.slice(1).replaceAll(':', '');
      const sign = offset.startsWith('-') ? -1 : 1;
      offsetMs =
        sign *
        (Number(digits.slice(0, 2)) * HOUR_MS +
          Number(digits.slice(2, 4) || 0) * 60_000 +
          Number(digits.slice(4, 6) || 0) * 1000);
    }
  }
  return { wallMs: d.getTime(), offsetMs };
}

/**
 * The UTC instant (ms since the epoch) of a wall-clock time in `zone`.
 *
 * Accepts `YYYY-MM-DD HH:MM:SS[.ffffff]` (a `T` separator and a bare date are accepted too); the
 * fraction is truncated to milliseconds. Ambiguous times map to the earlier instant, nonexistent
 * ones to the instant of the change (see the module documentation). A text that carries its own
 * offset (`Z`, `+00`, `+01:00`) is converted with that offset and `zone` is ignored.
 *
 * @throws RangeError when the text is not a timestamp or the zone is unknown.
 */
export function localWallTimeToUtc(text: string, zone: string): number {
  const { wallMs, offsetMs } = parseWallTime(text);
  if (offsetMs !== undefined) return wallMs - offsetMs;
  return wallMsToUtc(zoneCache(zone), wallMs);
}

/**
 * Wall time (ms read as UTC) → instant, by the mapper's own converter, so that the readers' bounds
 * and the landed instants follow one implementation of the DST policy.
 */
function wallMsToUtc(cache: ZoneCache, wallMs: number): number {
  return zoneConverter(cache.zone).toUtc(wallMs);
}

/**
 * The first ms in `(lo, hi]` whose offset is `offset`, given that `lo` has another offset, `hi`
 * has this one and the offset changes once in between: the instant of that change.
 */
function firstInstantWithOffset(cache: ZoneCache, lo: number, hi: number, offset: number): number {
  let l = lo;
  let h = hi;
  while (h - l > 1) {
    const mid = Math.floor((l + h) / 2);
    if (offsetAt(cache, mid) === offset) h = mid;
    else l = mid;
  }
  return h;
}

/** Formats ms-of-wall-time-read-as-UTC as `YYYY-MM-DD HH:MM:SS.mmm`. */
function formatWall(wallMs: number): string {
  const d = new Date(wallMs);
  const year = d.getUTCFullYear();
  const y = year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0');
  return (
    `${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`
  );
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * The wall-clock time in `zone` of a UTC instant, as `YYYY-MM-DD HH:MM:SS.mmm`.
 *
 * @throws RangeError when the zone is unknown.
 */
export function utcToLocalWallTime(utcMs: number, zone: string): string {
  return formatWall(utcMs + offsetAt(zoneCache(zone), utcMs));
}

/**
 * The wall-clock bound in `zone` to use in a query on a naive timestamp column for the UTC bound
 * `utcMs`, so that a row with wall time `w` satisfies `bound(from) <= w < bound(to)` exactly when
 * `from <= localWallTimeToUtc(w) < to`, for every `w`, nonexistent and ambiguous ones included: it
 * is the first wall time whose instant is not before `utcMs`.
 *
 * That is the wall time of the instant, except at two places. At the instant of a forward change
 * it is the first skipped wall time (the skipped times land on that instant). During the second
 * pass of a repeated hour no wall time maps there (ambiguous times take the first pass), so it is
 * the end of the overlap. Bounds never decrease as the instant increases, so consecutive windows
 * partition the rows.
 */
export function wallTimeBound(utcMs: number, zone: string): string {
  const cache = zoneCache(zone);
  const offset = offsetAt(cache, utcMs);
  const previous = offsetAt(cache, utcMs - 1);
  if (previous < offset) return formatWall(utcMs + previous);
  const wallMs = utcMs + offset;
  const back = wallMsToUtc(cache, wallMs);
  if (back >= utcMs) return formatWall(wallMs);
  // utcMs lies in the second pass of an overlap of length `utcMs - back`, which began at the
  // transition T (offset before T is larger). Find T, then return the wall time at T + overlap.
  const overlap = utcMs - back;
  const transition = firstInstantWithOffset(cache, utcMs - overlap, utcMs, offset);
  return formatWall(transition + overlap + offset);
}

/**
 * The date bound (`YYYY-MM-DD`) to use in a query on a date column for the UTC bound `utcMs`: a
 * date belongs to the window whose range contains its midnight in `zone`, i.e. the first date
 * whose midnight wall time is not before {@link wallTimeBound}.
 */
export function dateBound(utcMs: number, zone: string): string {
  const wall = wallTimeBound(utcMs, zone);
  const date = wall.slice(0, wall.indexOf(' '));
  if (wall.endsWith(' 00:00:00.000')) return date;
  return formatWall(parseWallTime(date).wallMs + DAY_MS).slice(0, -13);
}
