/**
 * Every metric the connector's functions emit, by name, with its namespace and dimensions. The
 * functions emit these names and the monitoring construct alarms and graphs them; both import them
 * from here. Dependency-free: the CDK app loads it at synthesis.
 */

/** Metric namespace of every connector metric (alarms watch it). */
export const METRIC_NAMESPACE = 'IGamingConnector';

/** Service name of every connector function (the `service` log key and metric dimension). */
export const SERVICE_NAME = 'connector';

/** Dimension names: `Operator` is `<operatorId>-<stage>`; `Stream` is the canonical stream. */
export const DIMENSIONS = { operator: 'Operator', stream: 'Stream' } as const;

/** Metric names emitted by the extracting handlers (per stream unless said otherwise). */
export const METRICS = {
  rowsExtracted: 'RowsExtracted',
  bytesWritten: 'BytesWritten',
  windowDurationMs: 'WindowDurationMs',
  windowsCompleted: 'WindowsCompleted',
  freshnessLagSeconds: 'FreshnessLagSeconds',
  reconciliationMismatch: 'ReconciliationMismatch',
  unmappedValues: 'UnmappedValues',
  extractFailures: 'ExtractFailures',
  /** Rows of a stream's table whose cursor is NULL (never landed): per snapshot and per incremental run. */
  nullCursorRows: 'NullCursorRows',
  /** Objects of attempts that never committed (or were superseded), removed by a commit or the landing sweep. */
  strayObjectsDeleted: 'StrayObjectsDeleted',
  /**
   * Columns of a stream's source table (or file header) that changed since the last successful run:
   * added, removed, retyped or widened (reported), or dropped, renamed or retyped beyond the landed
   * type (the stream fails). 0 when nothing changed.
   */
  schemaDriftColumns: 'SchemaDriftColumns',
  /** Versions an incremental run found committed after an earlier read had passed their cursor (extract/lateness.ts). */
  lateRows: 'LateRows',
  /** The largest lateness among them: from the earlier read's watermark to the version's cursor. */
  maxLatenessSeconds: 'MaxLatenessSeconds',
  /** PostgreSQL: how far a run's range end was held behind the oldest open writing transaction. */
  watermarkHeldBackSeconds: 'WatermarkHeldBackSeconds',
  /** Keys the key audit found deleted at the source and tombstoned (per stream, per audit). */
  keyAuditDeletes: 'KeyAuditDeletes',
  /** Rows lost from the lake that the key audit re-extracted (per stream, per audit): alarmed above 0. */
  keyAuditRepaired: 'KeyAuditRepaired',
  /** 1 when a stream's key audit failed, 0 when it completed: alarmed above 0. */
  keyAuditFailed: 'KeyAuditFailed',
  /**
   * (currency, kind) money totals of a committed window that differ between the source and the
   * lake (deposits, withdrawals, stakes, payouts: extract/money-totals.ts); per window of the money
   * streams, 0 when they agree. Alarmed above 0.
   */
  moneyTotalsMismatches: 'MoneyTotalsMismatches',
} as const;

/** Metrics of the pipeline steps (namespace and `Operator` dimension as every connector metric). */
export const PIPELINE_METRICS = {
  snapshotsCompleted: 'SnapshotsCompleted',
  snapshotsFailed: 'SnapshotsFailed',
  snapshotWindowsFailed: 'SnapshotWindowsFailed',
  snapshotRows: 'SnapshotRows',
  snapshotWindowsPlanned: 'SnapshotWindowsPlanned',
  snapshotExecutionsContinued: 'SnapshotExecutionsContinued',
  incrementalRunsStarted: 'IncrementalRunsStarted',
  incrementalRunsSkipped: 'IncrementalRunsSkipped',
  incrementalStreamsFailed: 'IncrementalStreamsFailed',
} as const;

/**
 * Metric names of the ingest-file function: `FilesIngested` and `FilesQuarantined` once per
 * invocation with the operator dimensions (zeros included), `RowsIngested` and `IngestLagSeconds`
 * per landed file with `Stream` too.
 */
export const INGEST_METRICS = {
  filesIngested: 'FilesIngested',
  filesQuarantined: 'FilesQuarantined',
  rowsIngested: 'RowsIngested',
  ingestLagSeconds: 'IngestLagSeconds',
} as const;

/** Metrics of publishing (namespace and `Operator` dimension as every connector metric). */
export const PUBLISH_METRICS = {
  publishedWindows: 'PublishedWindows',
  publishFailures: 'PublishFailures',
  publishBacklogWindows: 'PublishBacklogWindows',
  publishBacklogAgeSeconds: 'PublishBacklogAgeSeconds',
  abandonedPublications: 'AbandonedPublications',
} as const;

/** Metrics of the wallet ledger audit run after each publish (namespace and `Operator` dimension as every connector metric). */
export const WALLET_LEDGER_METRICS = {
  /** Entries whose balance does not roll forward from their predecessor's, among the audited players. */
  walletLedgerBreaks: 'WalletLedgerBreaks',
  /** Audits that could not run (the statement failed): the ledger went unchecked. */
  walletLedgerAuditFailures: 'WalletLedgerAuditFailures',
} as const;
