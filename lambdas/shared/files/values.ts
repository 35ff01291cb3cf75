/**
 * Normalization of file values to the text forms the database readers produce (see
 * {@link SourceKind}), so the one mapper lands files and databases alike:
 *
 * - timestamps → `YYYY-MM-DD HH:MM:SS[.f…]`, with `+00` for epoch values (UTC) and the file's own
 *   offset when it wrote one; a timestamp without offset is read in `fileDrop.timeZone` by the
 *   mapper (the column's kind is `timestamp`, whose converter honours an offset in the text);
 * - dates → `YYYY-MM-DD`;
 * - numbers → digits with `.` as decimal point.
 *
 * Normalization is strict: a value that does not have the configured shape is an
 * `INVALID_VALUE`, never guessed at. Day and month may have one or two digits in the
 * `dd/MM/yyyy`-style formats (spreadsheets drop the leading zero); a date-only value is accepted
 * for a timestamp field (midnight). With `decimalSeparator: ','` a number is written `1234,56`:
 * a `.` in it (a thousands separator, or the other convention) is refused, as is a `,` when the
 * separator is `.`. Spaces and tabs around numbers, booleans, dates and times are trimmed; text
 * values are kept exactly as written.
 */
import type { FieldType } from '../canonical.ts';
import type { FileFormat } from '../config/schema.ts';
import { ValueProblem } from '../mapping/errors.ts';

/** Turns a file value into the text form of its kind; throws {@link ValueProblem}. */
export type Normalizer = (text: string) => string;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : String(n);
}

/** Civil date (proleptic Gregorian) of a day count since 1970-01-01. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

const outOfRange = () => new ValueProblem('is outside the years 0001 to 9999', 'fix the value in the file', 'range');

/** `YYYY-MM-DD` of a day count since 1970-01-01; throws outside the years 1-9999. */
export function formatDays(days: number): string {
  const { year, month, day } = civilFromDays(days);
  if (year < 1 || year > 9999) throw outOfRange();
  return `${pad4(year)}-${pad2(month)}-${pad2(day)}`;
}

/**
 * Text of an instant given as an integer count of `unitsPerSecond` units since the Unix epoch
 * (1000 for ms, 1e6 for µs, 1e9 for ns): `YYYY-MM-DD HH:MM:SS[.fraction]` with the fraction at the
 * unit's precision, then `suffix` (`+00` for UTC, empty for a naive wall-clock time).
 */
export function formatEpoch(value: bigint, unitsPerSecond: bigint, fractionDigits: number, suffix: string): string {
  let seconds = value / unitsPerSecond;
  let fraction = value % unitsPerSecond;
  if (fraction < 0n) {
    fraction += unitsPerSecond;
    seconds -= 1n;
  }
  const s = Number(seconds);
  const days = Math.floor(s / 86400);
  const secondOfDay = s - days * 86400;
  const date = formatDays(days);
  const hh = Math.floor(secondOfDay / 3600);
  const mm = Math.floor((secondOfDay % 3600) / 60);
  const ss = secondOfDay % 60;
  const frac = fractionDigits > 0 ? `.${fraction.toString().padStart(fractionDigits, '0')}` : '';
  return `${date} ${pad2(hh)}:${pad2(mm)}:${pad2(ss)}${frac}${suffix}`;
}

function trimBlank(text: string): string {
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  return first === 32 || first === 9 || last === 32 || last === 9 ? text.replace(/^[ \t]+|[ \t]+$/g, '') : text;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Reads 1-2 (or exactly `width`) digits at `i`; returns [value, next index] or undefined. */
function readNumber(text: string, i: number, min: number, max: number): [number, number] | undefined {
  let v = 0;
  let j = i;
  while (j < text.length && j - i < max && isDigit(text.charCodeAt(j))) {
    v = v * 10 + (text.charCodeAt(j) - 48);
    j++;
  }
  return j - i >= min ? [v, j] : undefined;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

type DateOrder = 'dmy' | 'mdy';

/**
 * Parses `d/M/yyyy` (or `M/d/yyyy`, or with `.`) at the start of `text`; returns the ISO date and
 * the index after it, or undefined.
 */
function parseSlashDate(text: string, order: DateOrder, sep: number): [string, number] | undefined {
  const a = readNumber(text, 0, 1, 2);
  if (!a || text.charCodeAt(a[1]) !== sep) return undefined;
  const b = readNumber(text, a[1] + 1, 1, 2);
  if (!b || text.charCodeAt(b[1]) !== sep) return undefined;
  const y = readNumber(text, b[1] + 1, 4, 4);
  if (!y) return undefined;
  const [day, month] = order === 'dmy' ? [a[0], b[0]] : [b[0], a[0]];
  const year = y[0];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return [`${pad4(year)}-${pad2(month)}-${pad2(day)}`, y[1]];
}

/** Parses `H:mm:ss[.f{1,9}]` (hour with 1-2 digits) from `i` to the end of the text. */
function parseTime(text: string, i: number): string | undefined {
  const h = readNumber(text, i, 1, 2);
  if (!h || text.charCodeAt(h[1]) !== 58) return undefined;
  const m = readNumber(text, h[1] + 1, 2, 2);
  if (!m || text.charCodeAt(m[1]) !== 58) return undefined;
  const s = readNumber(text, m[1] + 1, 2, 2);
  if (!s) return undefined;
  if (h[0] > 23 || m[0] > 59 || s[0] > 59) return undefined;
  let end = s[1];
  let fraction = '';
  if (end < text.length && text.charCodeAt(end) === 46) {
    const f = readNumber(text, end + 1, 1, 9);
    if (!f) return undefined;
    fraction = text.slice(end, f[1]);
    end = f[1];
  }
  if (end !== text.length) return undefined;
  return `${pad2(h[0])}:${pad2(m[0])}:${pad2(s[0])}${fraction}`;
}

const EPOCH_MS = /^-?\d{1,15}$/;
const EPOCH_S = /^(-?)(\d{1,12})(?:\.(\d{1,9}))?$/;

/** The normalizer of timestamps written in `format`. */
function timestampNormalizer(format: FileFormat['timestampFormat'], configPath: string): Normalizer {
  const wrong = () =>
    new ValueProblem(
      `is not a timestamp in the configured format ${format}`,
      `write timestamps as ${format} (to use another format, agree it with your connector contact: ${configPath})`,
      'syntax',
    );
  switch (format) {
    case 'iso8601':
    case 'yyyy-MM-dd HH:mm:ss':
      // The mapper's converter parses these exactly (YYYY-MM-DD[ T]HH:MM[:SS[.f]][Z|±HH[:MM]]).
      return trimBlank;
    case 'epoch-millis':
      return (raw) => {
        const text = trimBlank(raw);
        if (!EPOCH_MS.test(text)) throw wrong();
        return formatEpoch(BigInt(text), 1000n, 3, '+00');
      };
    case 'epoch-seconds':
      return (raw) => {
        const text = trimBlank(raw);
        const m = EPOCH_S.exec(text);
        if (!m) throw wrong();
        const fraction = (m[3] ?? '').padEnd(9, '0');
        const nanos = BigInt(m[2] ?? '0') * 1_000_000_000n + BigInt(fraction);
        const value = m[1] === '-' ? -nanos : nanos;
        return formatEpoch(value, 1_000_000_000n, 9, '+00');
      };
    case 'dd/MM/yyyy HH:mm:ss':
    case 'MM/dd/yyyy HH:mm:ss': {
      const order: DateOrder = format.startsWith('dd') ? 'dmy' : 'mdy';
      return (raw) => {
        const text = trimBlank(raw);
        const date = parseSlashDate(text, order, 47);
        if (!date) throw wrong();
        const [iso, end] = date;
        if (end === text.length) return iso;
        if (text.charCodeAt(end) !== 32) throw wrong();
        const time = parseTime(text, end + 1);
        if (time === undefined) throw wrong();
        return `${iso} ${time}`;
      };
    }
  }
}

function dateNormalizer(format: FileFormat['dateFormat'], configPath: string): Normalizer {
  if (format === 'yyyy-MM-dd') return trimBlank;
  const order: DateOrder = format.startsWith('dd') ? 'dmy' : 'mdy';
  const sep = format.charCodeAt(2);
  return (raw) => {
    const text = trimBlank(raw);
    const date = parseSlashDate(text, order, sep);
    if (!date || date[1] !== text.length) {
      throw new ValueProblem(
        `is not a date in the configured format ${format}`,
        `write dates as ${format} (to use another format, agree it with your connector contact: ${configPath})`,
        'syntax',
      );
    }
    return date[0];
  };
}

function numberNormalizer(separator: '.' | ',', configPath: string): Normalizer {
  if (separator === '.') {
    return (raw) => {
      const text = trimBlank(raw);
      if (text.includes(',')) {
        throw new ValueProblem(
          'contains "," but the decimal separator is "." (thousands separators are not accepted)',
          `write numbers like 1234.56, or set ${configPath}.decimalSeparator: ","`,
          'syntax',
        );
      }
      return text;
    };
  }
  return (raw) => {
    const text = trimBlank(raw);
    if (text.includes('.')) {
      throw new ValueProblem(
        'contains "." but the decimal separator is "," (thousands separators are not accepted)',
        `write numbers like 1234,56, or set ${configPath}.decimalSeparator: "."`,
        'syntax',
      );
    }
    return text.replace(',', '.');
  };
}

/** Where values come from: text fields (CSV, JSON strings, Parquet strings) or JSON numbers. */
export interface NormalizerOptions {
  readonly format: FileFormat;
  /** `streams.<stream>.format`, for hints. */
  readonly formatPath: string;
  /** Whether the configured decimal separator applies (CSV only; JSON and Parquet use "."). */
  readonly useDecimalSeparator: boolean;
}

/**
 * The normalizer of a column feeding a field of canonical type `type`, or undefined when values
 * are taken as they are (strings).
 */
export function normalizerFor(type: FieldType, options: NormalizerOptions): Normalizer | undefined {
  const { format, formatPath } = options;
  switch (type.kind) {
    case 'string':
      return undefined;
    case 'int32':
    case 'int64':
    case 'decimal':
      return numberNormalizer(options.useDecimalSeparator ? format.decimalSeparator : '.', formatPath);
    case 'boolean':
      return trimBlank;
    case 'timestamp':
      return timestampNormalizer(format.timestampFormat, `${formatPath}.timestampFormat`);
    case 'date':
      return dateNormalizer(format.dateFormat, `${formatPath}.dateFormat`);
  }
}
