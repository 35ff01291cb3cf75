/**
 * Errors of the object sink, with stable `name`s that Step Functions Retry/Catch match:
 *
 * | name | retryable | when |
 * | --- | --- | --- |
 * | `SinkError` | yes | an S3 request failed (network, throttling, 5xx, access) while writing, listing or deleting; the window is not committed, and retrying it converges to exactly one copy |
 */
import { describeContext, type WriteContext } from '../write-context.ts';

export type SinkOperation = 'upload' | 'put' | 'get' | 'list' | 'delete';

/** An object-store request failed. Retryable: the window is rewritten from scratch under the same keys. */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly retryable = true;

  constructor(
    readonly operation: SinkOperation,
    /** The key (or prefix, for `list`) the request was about. */
    readonly key: string,
    readonly context: WriteContext,
    options?: { cause?: unknown },
  ) {
    super(
      `${describeContext(context)}S3 ${operation} of ${key} failed: ${causeText(options?.cause)}; the window was not committed and can be retried`,
      options,
    );
  }
}

function causeText(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return String(cause);
}
