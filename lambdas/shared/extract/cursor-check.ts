/**
 * The run-time half of the lookback rule for naive cursors (config/incremental.ts): config
 * validation cannot see a cursor column's type unless `cursorType` states it, the readers can.
 * Kept apart from the extractor so the plan step can use it without loading the Parquet writer.
 */
import type { StreamName } from '../canonical.ts';
import { cursorStatedZoned, minimumNaiveLookbackMinutes, naiveLookbackProblem } from '../config/incremental.ts';
import type { OperatorConfig } from '../config/schema.ts';
import type { NullCursorCount } from '../sources/source.ts';

/**
 * A naive cursor is configured with an incremental lookback shorter than the repeated hour of the
 * source's zone (rows written then would be lost). A config error: not retryable.
 */
export class CursorLookbackError extends Error {
  override readonly name = 'CursorLookbackError';
}

/**
 * Refuses a naive cursor column whose repeated hour the configured lookback does not cover (config
 * validation cannot know the column's type unless `cursorType` states it; the readers do).
 */
export function checkCursorLookback(
  config: OperatorConfig,
  req: { readonly stream: StreamName; readonly where: string },
  counted: NullCursorCount,
): void {
  const { kind, name, sourceType } = counted.cursor;
  if (config.source.type === 'files' || (kind !== 'timestamp' && kind !== 'date')) return;
  const zone = config.source.timeZone;
  const lookback = config.incremental.lookbackMinutes;
  const minimum = minimumNaiveLookbackMinutes(zone);
  if (lookback >= minimum) return;
  const stated = cursorStatedZoned(config, req.stream)
    ? ` (streams.${req.stream}.cursorType says zoned, which this column is not)`
    : '';
  throw new CursorLookbackError(
    `${config.operatorId}/${req.stream} ${req.where}: cursor column ${name} is ${sourceType}, a naive wall-clock time read in ${zone}${stated}: ` +
      `${naiveLookbackProblem(zone, lookback, minimum)}; nothing was read. Fix the operator config and deploy`,
  );
}
