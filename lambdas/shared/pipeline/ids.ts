/**
 * Ids of snapshots and incremental runs, and the checks of what an execution input gives. Ids are
 * derived from the execution (its start time and a hash of its name), so a retried step finds what
 * it already started, and they are valid S3 key segments.
 */
import { createHash } from 'node:crypto';
import { manifestKey } from '../layout.ts';

/** The request cannot be planned as given (bad input of the execution). Not retryable. */
export class PlanRequestError extends Error {
  override readonly name = 'PlanRequestError';
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

const compactInstant = (d: Date): string => d.toISOString().slice(0, 19).replace(/[-:]/g, '') + 'Z';

/** Refuses an id that is not a valid S3 key segment (the layout's rule). */
export function checkRunId(id: string, what: string): string {
  try {
    manifestKey('players', id, 'check', 'check');
  } catch {
    throw new PlanRequestError(
      `${what} ${JSON.stringify(id)} is not valid: letters, digits, '_', '.', '=' and '-' only, starting with a letter or digit`,
    );
  }
  return id;
}

/**
 * The id of a snapshot started by an execution: `snap-` (or `replay-`), the execution's start time
 * and a hash of its name. The same execution always gets the same id, so a retried plan step
 * finds the snapshot it already started.
 */
export function snapshotIdFor(kind: 'full' | 'replay', startTime: Date, executionName: string): string {
  return `${kind === 'full' ? 'snap' : 'replay'}-${compactInstant(startTime)}-${shortHash(executionName)}`;
}

/** Run id of an incremental execution (`incr-<start>-<hash>`), used in object keys. */
export function incrementalRunIdFor(startTime: Date, executionName: string): string {
  return `incr-${compactInstant(startTime)}-${shortHash(executionName)}`;
}

/** An instant of the execution input (ISO-8601), or a {@link PlanRequestError} saying what was expected. */
export function instant(value: unknown, what: string, where: string): Date {
  const d = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) {
    throw new PlanRequestError(
      `${where}: ${what} must be an ISO-8601 instant like 2025-01-31T00:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return d;
}
