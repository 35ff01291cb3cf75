/**
 * Errors of landing a window, with stable `name`s that Step Functions Retry/Catch match:
 *
 * | name | retryable | when |
 * | --- | --- | --- |
 * | `WindowCommitError` | no | the window's data cannot be committed as given (rows outside the window's range) |
 *
 * A failed S3 request while landing is the object sink's `SinkError` (retryable).
 */
import { describeContext, type WriteContext } from '../write-context.ts';

/** A window's parts cannot be committed as described. Not retryable: the caller's window bounds are wrong. */
export class WindowCommitError extends Error {
  override readonly name = 'WindowCommitError';
  readonly retryable = false;

  constructor(context: WriteContext, problem: string, options?: { cause?: unknown }) {
    super(`${describeContext(context)}${problem}`, options);
  }
}
