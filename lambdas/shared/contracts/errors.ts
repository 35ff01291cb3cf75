/**
 * Names of the connector's errors that the state machines match by name, with their retry class.
 * The error classes set these `name`s and a `retryable` flag; the state machines' Retry lists are
 * built from {@link RETRYABLE_ERRORS} and {@link TIMEOUT_ERRORS}, and a test checks the classes'
 * flags against this table. Dependency-free: the CDK app loads it at synthesis.
 *
 * | name | class | thrown by |
 * | --- | --- | --- |
 * | `SourceConnectionError` | retryable | a lost or refused database session (sources/errors.ts) |
 * | `SinkError` | retryable | a failed S3 request; the window is rewritten under the same keys (sink/errors.ts) |
 * | `SyncStateError` | retryable | a throttled or failing sync-state call (state/table.ts; its `retryable` flag tells throttling from validation, the state machines retry it by name) |
 * | `SourceTimeoutError` | timeout | a statement or lock timeout: one more attempt, later (sources/errors.ts) |
 * | `SourceAccessError` | never | authentication, TLS, a missing database or privilege (sources/errors.ts) |
 * | `SourceQueryError` | never | the schema or the config must change (sources/errors.ts) |
 * | `SchemaDriftError` | never | the source table changed under the mapping; the config must match it (sources/errors.ts, drift/) |
 * | `WindowCommitError` | never | a window's parts cannot be committed as given (landing/errors.ts) |
 * | `ParquetEncodeError` | never | a value cannot be written to its landed column (parquet/errors.ts) |
 * | `ParquetWriteError` | never | the Parquet writer's output does not match its input (parquet/errors.ts) |
 * | `CoercionError` | never | a source value cannot become its canonical type (mapping/errors.ts) |
 * | `MappingError` | never | the mapping cannot feed the canonical stream (mapping/errors.ts) |
 * | `KeyAuditError` | never | a stream cannot be audited: not audited, no snapshot yet (audit/key-audit.ts) |
 * | `KeyAuditLimitError` | never | more differences than an audit lists: replay instead (audit/compare.ts) |
 */

/** How the state machines treat an error: retried with backoff, retried once later, or never. */
export type RetryClass = 'retryable' | 'timeout' | 'never';

/** Every error the state machines' tasks may throw by a stable name, with its retry class. */
export const ERROR_RETRY_CLASS = {
  SourceConnectionError: 'retryable',
  SinkError: 'retryable',
  SyncStateError: 'retryable',
  SourceTimeoutError: 'timeout',
  SourceAccessError: 'never',
  SourceQueryError: 'never',
  SchemaDriftError: 'never',
  WindowCommitError: 'never',
  ParquetEncodeError: 'never',
  ParquetWriteError: 'never',
  CoercionError: 'never',
  MappingError: 'never',
  KeyAuditError: 'never',
  KeyAuditLimitError: 'never',
} as const satisfies Record<string, RetryClass>;

export type ConnectorErrorName = keyof typeof ERROR_RETRY_CLASS;

/**
 * Errors of the connector's code that a later attempt can fix: a lost or refused database session,
 * a failed S3 request (the window is rewritten under the same keys), a throttled or failing
 * sync-state call.
 */
export const RETRYABLE_ERRORS = ['SourceConnectionError', 'SinkError', 'SyncStateError'] as const satisfies readonly {
  [N in ConnectorErrorName]: (typeof ERROR_RETRY_CLASS)[N] extends 'retryable' ? N : never;
}[ConnectorErrorName][];

/** A statement timeout: one more attempt, later (a window that keeps timing out needs smaller windows). */
export const TIMEOUT_ERRORS = ['SourceTimeoutError'] as const satisfies readonly {
  [N in ConnectorErrorName]: (typeof ERROR_RETRY_CLASS)[N] extends 'timeout' ? N : never;
}[ConnectorErrorName][];
