/**
 * What the incremental settings must cover so that no row is lost: the lookback against rows
 * committed late and, for naive cursors in a zone with daylight saving time, against the repeated
 * hour; the safety lag against transactions still open. Shared by config validation and by the
 * extractor, which checks the cursor column it actually reads, so both say the same thing.
 *
 * **The repeated hour.** A naive cursor (`timestamp without time zone`, `DATETIME`, `DATE`) is
 * read in `source.timeZone`. When the zone's clocks go back, wall times of the repeated span are
 * ambiguous and are read as their earlier instant (docs/time.md): a row written during the second
 * pass lands up to the length of that span before its real instant. An incremental run that
 * started after the watermark passed that earlier instant only sees the row if its lookback is at
 * least that long.
 */
import { STREAM_NAMES, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from './schema.ts';
import type { SemanticIssue } from './validate.ts';

const DAY_MS = 86_400_000;
/** Years after the current one whose clock changes count (incremental runs read around now). */
const YEARS_AHEAD = 10;

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's UTC offset in minutes at an instant, from the runtime's time zone data (Intl). */
function offsetMinutes(zone: string, ms: number): number {
  let format = offsetFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    offsetFormats.set(zone, format);
  }
  const name = format.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')?.value ?? '';
  if (name === 'GMT') return 0;
  const m = /^GMT([+-])(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(name);
  if (!m) throw new RangeError(`cannot read the UTC offset of ${zone} from "${name}"`);
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]) + Number(m[4] ?? 0) / 60);
}

/**
 * The longest span of wall-clock time (minutes) `zone` repeats when its clocks go back, over
 * [from, to): the largest decrease of its UTC offset. 0 for a zone whose clocks never go back.
 * Offsets are compared a day apart; zones change their clocks at most once a day.
 *
 * @throws RangeError when the zone is unknown.
 */
export function longestRepeatedMinutes(zone: string, from: Date, to: Date): number {
  let longest = 0;
  let previous = offsetMinutes(zone, from.getTime());
  for (let t = from.getTime() + DAY_MS; t < to.getTime() + DAY_MS; t += DAY_MS) {
    const offset = offsetMinutes(zone, Math.min(t, to.getTime()));
    if (offset < previous) longest = Math.max(longest, previous - offset);
    previous = offset;
  }
  return Math.ceil(longest);
}

const cached = new Map<string, number>();

/**
 * The smallest `incremental.lookbackMinutes` for naive cursors read in `zone`: its longest repeated
 * span from the start of the current year to ten years ahead (Europe/Malta 60, Australia/Lord_Howe
 * 30, UTC 0).
 */
export function minimumNaiveLookbackMinutes(zone: string, now: Date = new Date()): number {
  const year = now.getUTCFullYear();
  const key = `${zone}@${year}`;
  let minutes = cached.get(key);
  if (minutes === undefined) {
    minutes = longestRepeatedMinutes(
      zone,
      new Date(Date.UTC(year, 0, 1)),
      new Date(Date.UTC(year + YEARS_AHEAD + 1, 0, 1)),
    );
    cached.set(key, minutes);
  }
  return minutes;
}

/** Why a lookback is too short for naive cursors in a zone: the one message of validation and extractor. */
export function naiveLookbackProblem(zone: string, lookbackMinutes: number, minimum: number): string {
  return (
    `incremental.lookbackMinutes is ${lookbackMinutes}, but ${zone} (source.timeZone) repeats up to ${minimum} minutes of wall-clock time when its clocks go back: ` +
    `a row a naive cursor (timestamp without time zone, DATETIME, DATE) records in the repeated span lands up to ${minimum} minutes before its real instant, ` +
    `and an incremental run with a shorter lookback never reads it. Set incremental.lookbackMinutes to at least ${minimum}`
  );
}

/** Whether the stream's config states that its cursor column stores instants. */
export function cursorStatedZoned(config: OperatorConfig, stream: StreamName): boolean {
  return config.streams[stream]?.cursorType === 'zoned';
}

/**
 * The incremental settings that guarantee loss: both the lookback and the safety lag at 0, and,
 * for a database source, a lookback shorter than the repeated span of `source.timeZone` while any
 * stream's cursor may be naive (a stream states `cursorType: zoned` when its cursor column holds
 * instants; the extractor checks the column it reads).
 */
export function checkIncremental(config: OperatorConfig, now: Date = new Date()): SemanticIssue[] {
  const issues: SemanticIssue[] = [];
  const configured = STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
  if (config.source.type === 'files') {
    for (const stream of configured.filter((s) => config.streams[s]?.cursorType !== undefined)) {
      issues.push({
        path: ['streams', stream, 'cursorType'],
        message: `cursorType only applies to database streams; dropped files of ${stream} are read with format.timestampFormat and fileDrop.timeZone`,
        expected: 'no cursorType on a file-drop stream',
        example: 'format:\n  type: csv',
        exampleAt: ['streams', stream],
      });
    }
    return issues;
  }
  // Partial validation (another section failed) may lack the incremental section.
  const incremental = config.incremental as OperatorConfig['incremental'] | undefined;
  if (!incremental) return issues;
  const { lookbackMinutes, safetyLagSeconds } = incremental;
  if (lookbackMinutes === 0 && safetyLagSeconds === 0) {
    issues.push({
      path: ['incremental', 'lookbackMinutes'],
      message:
        'lookbackMinutes: 0 with safetyLagSeconds: 0 loses rows: a row whose cursor is set before an incremental run reads its range but that commits after it ' +
        '(a transaction still open during the run, or a database clock behind the connector’s) lies behind the new watermark and is never read',
      expected: 'a lookback of at least a few minutes (rows committed late are read again), or a safety lag',
      example: 'lookbackMinutes: 60\nsafetyLagSeconds: 60',
      exampleAt: ['incremental'],
    });
  }
  const zone = config.source.timeZone;
  const minimum = minimumNaiveLookbackMinutes(zone, now);
  if (lookbackMinutes < minimum) {
    const naive = configured.filter((s) => !cursorStatedZoned(config, s));
    if (naive.length > 0) {
      issues.push({
        path: ['incremental', 'lookbackMinutes'],
        message: `${naiveLookbackProblem(zone, lookbackMinutes, minimum)}, or state cursorType: zoned on each stream whose cursor column stores instants (timestamptz, MySQL TIMESTAMP): ${naive.join(', ')}`,
        expected: `at least ${minimum} (the longest repeated wall-clock span of ${zone})`,
        example: `lookbackMinutes: ${Math.max(minimum, 60)}`,
      });
    }
  }
  return issues;
}
