/**
 * Per-column converters from a source column's text (by {@link SourceKind}) to a landed value (by
 * landed {@link FieldType}). Each converter is built once per mapper and called per value; it
 * throws {@link ValueProblem} for a value that cannot be converted exactly.
 */
import type { FieldType } from '../canonical.ts';
import type { LandedValue, SourceKind } from '../types.ts';
import { decimalConverter } from './decimal.ts';
import { ValueProblem } from './errors.ts';
import { epochMicros, parseDateTime, parsed, type ZoneConverter } from './time.ts';

/** Converts the text of one non-NULL source value; `null` only for MySQL zero dates of nullable fields. */
export type Converter = (text: string) => LandedValue;

export interface ConverterTarget {
  /** Landed type of the column. */
  readonly type: FieldType;
  /** Source kind of the column feeding it. */
  readonly kind: SourceKind;
  /** Whether NULL may land (MySQL zero dates become NULL in nullable columns). */
  readonly nullable: boolean;
  /** Config path of the mapping, for hints: `streams.payments.columns.amount`. */
  readonly configPath: string;
  /** Zone of naive timestamps. */
  readonly zone: ZoneConverter;
}

/** The landed type as written in messages. */
export function typeLabel(type: FieldType): string {
  switch (type.kind) {
    case 'decimal':
      return `DECIMAL(${type.precision},${type.scale})`;
    case 'int32':
      return 'INT';
    case 'int64':
      return 'BIGINT';
    default:
      return type.kind.toUpperCase();
  }
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MS_PER_DAY = 86_400_000;

/** Source kinds that can feed each landed type; anything else is refused when the mapper is built. */
const COMPATIBLE: Record<FieldType['kind'], readonly SourceKind[]> = {
  string: ['text', 'json', 'integer', 'decimal', 'float', 'boolean', 'date', 'timestamp', 'timestamptz'],
  int32: ['integer', 'decimal', 'float', 'text', 'boolean'],
  int64: ['integer', 'decimal', 'float', 'text', 'boolean'],
  decimal: ['integer', 'decimal', 'float', 'text'],
  boolean: ['boolean', 'integer', 'text'],
  timestamp: ['timestamptz', 'timestamp', 'date', 'text'],
  date: ['date', 'timestamp', 'timestamptz', 'text'],
};

/** Whether a source kind can feed a landed type at all (values are still checked one by one). */
export function isCompatible(kind: SourceKind, type: FieldType): boolean {
  return COMPATIBLE[type.kind].includes(kind);
}

/** Builds the converter of one column. The caller has checked {@link isCompatible}. */
export function buildConverter(target: ConverterTarget): Converter {
  switch (target.type.kind) {
    case 'string':
      return (text) => text;
    case 'int32':
      return int32Converter(target);
    case 'int64':
      return int64Converter(target);
    case 'decimal':
      return decimalConverter({
        precision: target.type.precision,
        scale: target.type.scale,
        configPath: target.configPath,
      });
    case 'boolean':
      return booleanConverter(target);
    case 'timestamp':
      return timestampConverter(target);
    case 'date':
      return dateConverter(target);
  }
}

function parseBoolean(text: string): boolean | undefined {
  switch (text) {
    case 't':
    case 'true':
    case '1':
    case 'T':
    case 'TRUE':
    case 'True':
      return true;
    case 'f':
    case 'false':
    case '0':
    case 'F':
    case 'FALSE':
    case 'False':
      return false;
    default: {
      const lower = text.trim().toLowerCase();
      if (lower === 't' || lower === 'true' || lower === '1') return true;
      if (lower === 'f' || lower === 'false' || lower === '0') return false;
      return undefined;
    }
  }
}

function booleanConverter(target: ConverterTarget): Converter {
  return (text) => {
    const b = parseBoolean(text);
    if (b === undefined) {
      throw new ValueProblem(
        'is not a boolean (expected t/f, true/false or 1/0)',
        `check that ${target.configPath} maps a boolean column, or fix the source`,
      );
    }
    return b;
  };
}

function int32Converter(target: ConverterTarget): Converter {
  // Slow path for decimal points, exponents and signs: exact, then range-checked.
  const exact = decimalConverter({ precision: 38, scale: 0, configPath: target.configPath });
  const outOfRange = () =>
    new ValueProblem(
      `is out of range for INT (${INT32_MIN} to ${INT32_MAX})`,
      `map a column that fits ${target.configPath}, or fix the source`,
    );
  const fromBoolean = target.kind === 'boolean';
  return (text) => {
    if (fromBoolean) return booleanAsNumber(text, target);
    const len = text.length;
    if (len > 0 && len <= 10) {
      let v = 0;
      let i = 0;
      for (; i < len; i++) {
        const c = text.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        v = v * 10 + c;
      }
      if (i === len) {
        if (v > INT32_MAX) throw outOfRange();
        return v;
      }
    }
    const big = exactInteger(exact, text, target, 'INT');
    if (big < BigInt(INT32_MIN) || big > BigInt(INT32_MAX)) throw outOfRange();
    return Number(big);
  };
}

function int64Converter(target: ConverterTarget): Converter {
  const exact = decimalConverter({ precision: 38, scale: 0, configPath: target.configPath });
  const fromBoolean = target.kind === 'boolean';
  return (text) => {
    if (fromBoolean) return BigInt(booleanAsNumber(text, target));
    const big = exactInteger(exact, text, target, 'BIGINT');
    if (big < INT64_MIN || big > INT64_MAX) {
      throw new ValueProblem(
        'is out of range for BIGINT (64-bit signed)',
        `map a column that fits ${target.configPath}, or fix the source`,
      );
    }
    return big;
  };
}

function exactInteger(exact: (text: string) => bigint, text: string, target: ConverterTarget, label: string): bigint {
  try {
    return exact(text);
  } catch (e) {
    if (e instanceof ValueProblem && e.code === 'fraction') {
      throw new ValueProblem(
        `has a fractional part but the landed type is ${label}`,
        `check that ${target.configPath} maps an integer column, or fix the source`,
      );
    }
    if (e instanceof ValueProblem && e.code === 'range') {
      throw new ValueProblem(
        `is out of range for ${label}`,
        `map a column that fits ${target.configPath}, or fix the source`,
      );
    }
    throw new ValueProblem(
      `is not an integer (expected base-10 digits with an optional sign, for ${label})`,
      `check that ${target.configPath} maps an integer column, or fix the source`,
    );
  }
}

function booleanAsNumber(text: string, target: ConverterTarget): number {
  const b = parseBoolean(text);
  if (b === undefined) {
    throw new ValueProblem(
      'is not a boolean (expected t/f, true/false or 1/0)',
      `check that ${target.configPath} maps the right column, or fix the source`,
    );
  }
  return b ? 1 : 0;
}

const TIMESTAMP_FORMAT = 'YYYY-MM-DD HH:MM:SS[.ffffff] with an optional offset (Z, +00, +05:30)';

function zeroDate(target: Pick<ConverterTarget, 'nullable' | 'configPath'>): null {
  if (target.nullable) return null;
  throw new ValueProblem(
    `is MySQL's zero date, which is no point in time, and the landed column is required`,
    `fix the source row, or map another column in ${target.configPath}`,
  );
}

/**
 * Parses a timestamp, timestamptz or date text into wall-clock ms (its offset and sub-millisecond
 * digits in {@link parsed}); null for MySQL's zero date where NULL may land. Throws ValueProblem.
 */
function instantParser(target: Omit<ConverterTarget, 'type'>): (text: string) => number | null {
  const expected = target.kind === 'date' ? 'YYYY-MM-DD' : TIMESTAMP_FORMAT;
  return (text) => {
    const wall = parseDateTime(text);
    if (!Number.isNaN(wall)) return wall;
    if (parsed.zero) return zeroDate(target);
    throw new ValueProblem(
      `is not a valid timestamp (expected ${expected})`,
      `check that ${target.configPath} maps a timestamp column, or fix the source`,
    );
  };
}

function timestampConverter(target: ConverterTarget): Converter {
  const zone = target.zone;
  const naiveIsUtc = target.kind === 'timestamptz';
  const parse = instantParser(target);
  return (text) => {
    const wall = parse(text);
    if (wall === null) return null;
    if (parsed.hasOffset) return wall - parsed.offsetMs;
    return naiveIsUtc ? wall : zone.toUtc(wall);
  };
}

/** A timestamp converter that also tells the microsecond instant of the value it converted last. */
export interface TimestampMicrosConverter {
  /** The landed TIMESTAMP of a text, as {@link buildConverter}'s timestamp converter lands it. */
  readonly convert: Converter;
  /**
   * After `convert` returned a number: the {@link instantMicrosConverter} value of the same text
   * (`_cursor_us`), from the same parse.
   */
  micros(): bigint;
}

/**
 * The timestamp converter of `target` (landed type TIMESTAMP) that keeps what its last parse found,
 * so a column in microseconds of the same source column needs no second parse.
 */
export function timestampMicrosConverter(target: Omit<ConverterTarget, 'type'>): TimestampMicrosConverter {
  const zone = target.zone;
  const naiveIsUtc = target.kind === 'timestamptz';
  const parse = instantParser(target);
  let wall = 0;
  let sub = 0;
  let direct = false;
  let ms = 0;
  return {
    convert: (text) => {
      const w = parse(text);
      if (w === null) return null;
      wall = w;
      sub = parsed.subMilliMicros;
      // With an offset in the text, or a timestamptz without one, the instant is read as it is.
      direct = parsed.hasOffset || naiveIsUtc;
      ms = parsed.hasOffset ? w - parsed.offsetMs : naiveIsUtc ? w : zone.toUtc(w);
      return ms;
    },
    micros: () => (direct ? epochMicros(ms, sub) : zone.toUtcMicros(wall, sub)),
  };
}

/**
 * Converts a timestamp, timestamptz or date text to UTC microseconds since the epoch (a bigint),
 * exactly, by the same rules as the landed TIMESTAMP of the same text: an offset in the text wins,
 * a naive time is read in the zone (timestamptz without offset: UTC; a date: its midnight), and
 * the zone's DST policy applies ({@link ZoneConverter.toUtcMicros}). Digits beyond the microsecond
 * are dropped, so the result divided by 1000 (floor) is the landed millisecond instant.
 */
export function instantMicrosConverter(target: Omit<ConverterTarget, 'type'>): Converter {
  const zone = target.zone;
  const naiveIsUtc = target.kind === 'timestamptz';
  const parse = instantParser(target);
  return (text) => {
    const wall = parse(text);
    if (wall === null) return null;
    const sub = parsed.subMilliMicros;
    if (parsed.hasOffset) return epochMicros(wall - parsed.offsetMs, sub);
    return naiveIsUtc ? epochMicros(wall, sub) : zone.toUtcMicros(wall, sub);
  };
}

function dateConverter(target: ConverterTarget): Converter {
  return (text) => {
    const wall = parseDateTime(text);
    if (Number.isNaN(wall)) {
      if (parsed.zero) return zeroDate(target);
      throw new ValueProblem(
        'is not a valid date (expected YYYY-MM-DD)',
        `check that ${target.configPath} maps a date column, or fix the source`,
      );
    }
    if (parsed.timeOfDayMs !== 0) {
      throw new ValueProblem(
        'has a time of day but the landed type is DATE (the time would be lost)',
        `map a date column in ${target.configPath}, or fix the source`,
      );
    }
    // The calendar date as written: a date has no zone, so an offset does not move it.
    return Math.floor(wall / MS_PER_DAY);
  };
}
