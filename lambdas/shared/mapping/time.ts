/**
 * Fast, exact parsing of the database's text form of dates and timestamps, conversion of naive
 * wall-clock times in an IANA zone to UTC, and back (the wall-clock bounds of a source query): the
 * connector's one time module.
 *
 * This is on the hot path of the mapper (millions of values per window), so parsing works on char
 * codes without regular expressions or allocation, and zone offsets are cached per wall-clock hour:
 * `Intl.DateTimeFormat` is only consulted once per hour bucket (and per value only inside the rare
 * hour that contains a DST transition).
 */

const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

/** Days from 1970-01-01 to a proleptic Gregorian civil date (month 1-12). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Side results of the last {@link parseDateTime} call (kept in one module object so the hot path
 * allocates nothing).
 */
export const parsed = {
  /** Offset east of UTC in ms when the text carried one (`Z`, `+00`, `+05:30`, `-03:00`). */
  offsetMs: 0,
  hasOffset: false,
  /** The text had a time of day (not just `YYYY-MM-DD`). */
  hasTime: false,
  /** Milliseconds into the day of the wall-clock time. */
  timeOfDayMs: 0,
  /** Microseconds beyond the millisecond (fraction digits 4-6, 0-999); digits beyond are dropped. */
  subMilliMicros: 0,
  /** MySQL's zero date `0000-00-00[ 00:00:00]`. */
  zero: false,
};

function digit(text: string, i: number): number {
  const c = text.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1000_000;
}

function two(text: string, i: number): number {
  return digit(text, i) * 10 + digit(text, i + 1);
}

/** The date of the last {@link parseDateTime} fast-path value (`YYYYMMDD`) and its days since 1970. */
let lastDateKey = -1;
let lastDateDays = 0;

/**
 * Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.f{1,9}]]][Z|±HH[[:]MM[[:]SS]]]` into wall-clock milliseconds
 * (the wall time read as if it were UTC); fractions beyond milliseconds are truncated, and the
 * microseconds beyond the millisecond are in {@link parsed}`.subMilliMicros`. Returns NaN when the
 * text is not of that form or names an impossible date or time. The offset, if any, is in
 * {@link parsed}; the caller decides what a missing offset means.
 *
 * The form databases print (`YYYY-MM-DD HH:MM:SS[.f{1,9}]`, no offset: PostgreSQL's COPY text of
 * `timestamp`, MySQL's DATETIME) takes a fixed-width fast path that checks every digit at once
 * and reuses the day count of the previous value's date; any other text, or one the fast path
 * finds anything wrong with, goes through {@link parseDateTimeGeneral}, which gives the same
 * result for every text the fast path accepts.
 */
export function parseDateTime(text: string): number {
  const len = text.length;
  if (len < 19 || len > 29 || len === 20) return parseDateTimeGeneral(text);
  const sep = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58 ||
    (sep !== 32 && sep !== 84 && sep !== 116)
  ) {
    return parseDateTimeGeneral(text);
  }
  const y0 = text.charCodeAt(0) - 48;
  const y1 = text.charCodeAt(1) - 48;
  const y2 = text.charCodeAt(2) - 48;
  const y3 = text.charCodeAt(3) - 48;
  const m0 = text.charCodeAt(5) - 48;
  const m1 = text.charCodeAt(6) - 48;
  const d0 = text.charCodeAt(8) - 48;
  const d1 = text.charCodeAt(9) - 48;
  const h0 = text.charCodeAt(11) - 48;
  const h1 = text.charCodeAt(12) - 48;
  const i0 = text.charCodeAt(14) - 48;
  const i1 = text.charCodeAt(15) - 48;
  const s0 = text.charCodeAt(17) - 48;
  const s1 = text.charCodeAt(18) - 48;
  // A code in 0-9 leaves both `d` and `9 - d` non-negative; any other sets a sign bit.
  const bad =
    y0 | (9 - y0) | y1 | (9 - y1) | y2 | (9 - y2) | y3 | (9 - y3) | m0 | (9 - m0) | m1 | (9 - m1) | d0 | (9 - d0) | d1;
  const bad2 = (9 - d1) | h0 | (9 - h0) | h1 | (9 - h1) | i0 | (9 - i0) | i1 | (9 - i1) | s0 | (9 - s0) | s1 | (9 - s1);
  if ((bad | bad2) < 0) return parseDateTimeGeneral(text);
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = m0 * 10 + m1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = i0 * 10 + i1;
  const second = s0 * 10 + s1;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return parseDateTimeGeneral(text);
  }
  let millis = 0;
  let micros = 0;
  if (len > 19) {
    const point = text.charCodeAt(19);
    if (point !== 46 && point !== 44) return parseDateTimeGeneral(text);
    for (let i = 20; i < len; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return parseDateTimeGeneral(text);
      const at = i - 20;
      if (at < 3) millis = millis * 10 + d;
      else if (at < 6) micros = micros * 10 + d;
    }
    const n = len - 20;
    if (n === 1) millis *= 100;
    else if (n === 2) millis *= 10;
    else if (n === 4) micros *= 100;
    else if (n === 5) micros *= 10;
  }
  const dateKey = year * 10000 + month * 100 + day;
  let days = lastDateDays;
  if (dateKey !== lastDateKey) {
    if (day > daysInMonth(year, month)) return parseDateTimeGeneral(text);
    days = daysFromCivil(year, month, day);
    lastDateKey = dateKey;
    lastDateDays = days;
  }
  const timeOfDay = hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND + millis;
  parsed.hasOffset = false;
  parsed.offsetMs = 0;
  parsed.hasTime = true;
  parsed.timeOfDayMs = timeOfDay;
  parsed.subMilliMicros = micros;
  parsed.zero = false;
  return days * MS_PER_DAY + timeOfDay;
}

/**
 * {@link parseDateTime} without its fast path: every form it accepts, character by character.
 */
export function parseDateTimeGeneral(text: string): number {
  parsed.hasOffset = false;
  parsed.offsetMs = 0;
  parsed.hasTime = false;
  parsed.timeOfDayMs = 0;
  parsed.subMilliMicros = 0;
  parsed.zero = false;
  const len = text.length;
  if (len < 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return Number.NaN;
  const year = two(text, 0) * 100 + two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  if (year < 0 || month < 0 || day < 0) return Number.NaN;
  if (year === 0 && month === 0 && day === 0) {
    parsed.zero = true;
    return Number.NaN;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  const days = daysFromCivil(year, month, day);
  if (len === 10) return days * MS_PER_DAY;

  const sep = text.charCodeAt(10);
  if ((sep !== 32 && sep !== 84 && sep !== 116) || len < 16 || text.charCodeAt(13) !== 58) return Number.NaN;
  const hour = two(text, 11);
  const minute = two(text, 14);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return Number.NaN;
  let i = 16;
  let second = 0;
  let millis = 0;
  let micros = 0;
  if (i < len && text.charCodeAt(i) === 58) {
    if (i + 3 > len) return Number.NaN;
    second = two(text, i + 1);
    if (second < 0 || second > 59) return Number.NaN;
    i += 3;
    if (i < len && (text.charCodeAt(i) === 46 || text.charCodeAt(i) === 44)) {
      i++;
      const start = i;
      while (i < len) {
        const d = digit(text, i);
        if (d < 0) break;
        const at = i - start;
        if (at < 3) millis = millis * 10 + d;
        else if (at < 6) micros = micros * 10 + d;
        i++;
      }
      const n = i - start;
      if (n === 0 || n > 9) return Number.NaN;
      if (n === 1) millis *= 100;
      else if (n === 2) millis *= 10;
      else if (n === 4) micros *= 100;
      else if (n === 5) micros *= 10;
    }
  }
  const timeOfDay = hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND + millis;
  parsed.hasTime = true;
  parsed.timeOfDayMs = timeOfDay;
  parsed.subMilliMicros = micros;

  if (i < len) {
    const c = text.charCodeAt(i);
    if ((c === 90 || c === 122) && i + 1 === len) {
      parsed.hasOffset = true;
    } else if (c === 43 || c === 45) {
      const sign = c === 45 ? -1 : 1;
      i++;
      const oh = two(text, i);
      i += 2;
      let om = 0;
      let os = 0;
      if (i < len) {
        if (text.charCodeAt(i) === 58) i++;
        om = two(text, i);
        i += 2;
        if (i < len) {
          if (text.charCodeAt(i) === 58) i++;
          os = two(text, i);
          i += 2;
        }
      }
      if (i !== len || oh < 0 || oh > 15 || om < 0 || om > 59 || os < 0 || os > 59) return Number.NaN;
      parsed.hasOffset = true;
      parsed.offsetMs = sign * (oh * MS_PER_HOUR + om * MS_PER_MINUTE + os * MS_PER_SECOND);
    } else {
      return Number.NaN;
    }
  }
  return days * MS_PER_DAY + timeOfDay;
}

/**
 * Parses a date text `YYYY-MM-DD` into days since 1970-01-01, or NaN (zero date: see {@link parsed}).
 */
export function parseDate(text: string): number {
  if (text.length !== 10) {
    parsed.zero = false;
    return Number.NaN;
  }
  const ms = parseDateTime(text);
  return ms / MS_PER_DAY;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The zone's offset east of UTC (ms) at a UTC instant, from Intl (slow: ~µs per call). */
export function zoneOffsetAt(zone: string, utcMs: number): number {
  const seconds = Math.floor(utcMs / MS_PER_SECOND) * MS_PER_SECOND;
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let bc = false;
  for (const part of formatterFor(zone).formatToParts(new Date(seconds))) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      case 'era':
        bc = part.value.startsWith('B');
        break;
    }
  }
  if (bc) year = 1 - year;
  const wall =
    daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000;
  return wall - seconds;
}

const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu']);
const MAX_CACHED_HOURS = 200_000;

const MAX_CACHED_GAPS = 1_000;

/** A span of nonexistent wall-clock times, `[wallFrom, wallTo)`, and the instant of its change. */
interface Gap {
  readonly wallFrom: number;
  readonly wallTo: number;
  readonly jump: number;
}

/**
 * Converts naive wall-clock times of one IANA zone to UTC instants.
 *
 * Ambiguous times (the repeated hour when clocks go back) resolve to the earlier instant;
 * nonexistent times (skipped when clocks go forward) resolve to the instant of the change, the
 * first instant of the new offset. Both rules keep the conversion non-decreasing, which is what
 * lets the readers' window bounds ({@link wallTimeBound}, the same policy) split rows exactly as
 * their landed instants do.
 */
export class ZoneConverter {
  private readonly utc: boolean;
  /** Wall-clock hour bucket → offset (ms) valid for the whole hour, or NaN when the hour holds a transition. */
  private readonly byHour = new Map<number, number>();
  /** Gaps met so far (a handful per decade of data). */
  private readonly gaps: Gap[] = [];
  private lastHour = Number.NaN;
  private lastOffset = 0;

  constructor(readonly zone: string) {
    this.utc = UTC_ZONES.has(zone);
    if (!this.utc) formatterFor(zone); // throws RangeError on an unknown zone, up front
  }

  /** UTC epoch ms of a wall-clock time given as ms-since-epoch read as if it were UTC. */
  toUtc(wallMs: number): number {
    if (this.utc) return wallMs;
    const hour = Math.floor(wallMs / MS_PER_HOUR);
    if (hour === this.lastHour) return wallMs - this.lastOffset;
    let offset = this.byHour.get(hour);
    if (offset === undefined) {
      const start = hour * MS_PER_HOUR;
      const end = start + MS_PER_HOUR - 1;
      const atStart = start - this.resolve(start);
      const atEnd = end - this.resolve(end);
      offset = atStart === atEnd ? atStart : Number.NaN;
      if (this.byHour.size >= MAX_CACHED_HOURS) this.byHour.clear();
      this.byHour.set(hour, offset);
    }
    if (Number.isNaN(offset)) return this.resolve(wallMs);
    this.lastHour = hour;
    this.lastOffset = offset;
    return wallMs - offset;
  }

  /**
   * UTC microseconds since the epoch of a wall-clock time given as {@link toUtc}'s `wallMs` plus
   * `subMilliMicros` (0-999) beyond it, by the same policy: the conversion is exact (offsets are
   * whole seconds), an ambiguous time is its earlier instant, and every skipped time, whatever its
   * sub-millisecond digits, is the instant of the change, so `floor(µs / 1000)` is always
   * `toUtc(wallMs)`.
   */
  toUtcMicros(wallMs: number, subMilliMicros: number): bigint {
    const utc = this.toUtc(wallMs);
    // Outside a gap the conversion is strictly increasing; inside one, the next millisecond maps
    // to the same instant (so does the first millisecond after it, which lands on the change too).
    const sub = subMilliMicros !== 0 && this.toUtc(wallMs + 1) === utc ? 0 : subMilliMicros;
    return epochMicros(utc, sub);
  }

  /** Exact resolution of one wall-clock time, consulting Intl (used once per hour bucket). */
  private resolve(wallMs: number): number {
    for (const gap of this.gaps) {
      if (wallMs >= gap.wallFrom && wallMs < gap.wallTo) return gap.jump;
    }
    const before = zoneOffsetAt(this.zone, wallMs - MS_PER_DAY);
    const after = zoneOffsetAt(this.zone, wallMs + MS_PER_DAY);
    if (before === after) {
      const t = wallMs - before;
      const actual = zoneOffsetAt(this.zone, t);
      return actual === before ? t : wallMs - actual;
    }
    const early = wallMs - before;
    const late = wallMs - after;
    const earlyValid = zoneOffsetAt(this.zone, early) === before;
    const lateValid = zoneOffsetAt(this.zone, late) === after;
    if (earlyValid && lateValid) return Math.min(early, late);
    if (earlyValid) return early;
    if (lateValid) return late;
    // In the gap (after > before): the clocks jumped at the first instant of `after` in
    // (late, early]. Every wall time of [jump + before, jump + after) is skipped and lands there.
    let lo = late;
    let hi = early;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (zoneOffsetAt(this.zone, mid) === after) hi = mid;
      else lo = mid;
    }
    if (zoneOffsetAt(this.zone, lo) === before) {
      // A single change from `before` to `after`: remember its whole gap.
      if (this.gaps.length >= MAX_CACHED_GAPS) this.gaps.length = 0;
      this.gaps.push({ wallFrom: hi + before, wallTo: hi + after, jump: hi });
    }
    return hi;
  }
}

const converters = new Map<string, ZoneConverter>();

/** The shared converter of a zone (its cache is reused by every mapper of the process). */
export function zoneConverter(zone: string): ZoneConverter {
  let c = converters.get(zone);
  if (!c) {
    c = new ZoneConverter(zone);
    converters.set(zone, c);
  }
  return c;
}

/**
 * `ms × 1000 + subMilliMicros` as a bigint, exactly: through a double while the product is a safe
 * integer (until the year 2255), which spares the hot path two BigInt operations per value.
 */
export function epochMicros(ms: number, subMilliMicros: number): bigint {
  const us = ms * 1000 + subMilliMicros;
  return Number.isSafeInteger(us) ? BigInt(us) : BigInt(ms) * 1000n + BigInt(subMilliMicros);
}

/**
 * UTC microseconds since the epoch of a `YYYY-MM-DD[ HH:MM:SS[.ffffff]][offset]` text, or
 * undefined when the text is not a valid date or timestamp. A text without an offset is a wall
 * time in `zone` (a date is its midnight there), converted by {@link ZoneConverter.toUtcMicros};
 * digits beyond the microsecond are dropped.
 */
export function wallTimeToEpochMicros(text: string, zone: string): bigint | undefined {
  const wall = parseDateTime(text);
  if (Number.isNaN(wall)) return undefined;
  if (parsed.hasOffset) return epochMicros(wall - parsed.offsetMs, parsed.subMilliMicros);
  return zoneConverter(zone).toUtcMicros(wall, parsed.subMilliMicros);
}

/**
 * UTC epoch ms of a naive `YYYY-MM-DD HH:MM:SS[.ffffff]` text read in `zone`, or NaN when the text
 * is not a valid timestamp. A text that carries its own offset is read with that offset.
 */
export function wallTimeToEpochMs(text: string, zone: string): number {
  const wall = parseDateTime(text);
  if (Number.isNaN(wall)) return wall;
  if (parsed.hasOffset) return wall - parsed.offsetMs;
  return zoneConverter(zone).toUtc(wall);
}

// ---------------------------------------------------------------------------------------------
// Window bounds: instants to wall-clock times of a zone.

/*
 * Conversions between UTC instants and wall-clock times of an IANA time zone, for sources that
 * store `timestamp without time zone` (PostgreSQL) or `DATETIME` (MySQL) in the operator's zone.
 *
 * DST policy (the same everywhere in the connector, and the one {@link ZoneConverter} follows):
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
 * Wall time → instant is {@link ZoneConverter} (the one the mapper lands values with); offsets come
 * from {@link zoneOffsetAt} (the runtime's time zone database through Intl), cached below per zone
 * and UTC hour for the instant → wall time direction.
 */

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
  const hour = Math.floor(utcMs / MS_PER_HOUR);
  const cached = cache.hours.get(hour);
  if (cached !== undefined) return cached;
  const start = zoneOffsetAt(cache.zone, hour * MS_PER_HOUR);
  const end = zoneOffsetAt(cache.zone, hour * MS_PER_HOUR + MS_PER_HOUR - 1000);
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
        (Number(digits.slice(0, 2)) * MS_PER_HOUR +
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
  return formatWall(parseWallTime(date).wallMs + MS_PER_DAY).slice(0, -13);
}
