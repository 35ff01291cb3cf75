/**
 * What the Lambda steps of the state machines receive and return: the JSON the ASL in
 * lib/constructs passes from one state to the next, and the shapes the handlers are typed with.
 * Dependency-free, like every contract: the CDK app imports it to build payloads and JSONPath
 * references that name these fields ({@link StepPayload}, {@link fieldPath}).
 *
 * A stream is a `string` here: it is what the JSON carries, and each handler checks it names a
 * configured stream before using it. Every value passes through state-machine payloads (256 KiB
 * limit), so the shapes stay small; none holds a row value or a credential (keys in
 * continuations are sealed).
 */

// ------------------------------------------------------------------------------------- helpers

/**
 * A payload or Parameters object a state machine builds for the step input `T`: exactly the fields
 * of `T` (optional ones may be left out), each a value or a JSONPath placeholder. Checked with
 * `satisfies`, so a renamed field of the contract fails synthesis' type check instead of a run.
 */
export type StepPayload<T> = T extends unknown ? { readonly [K in keyof T]: unknown } : never;

/** The fields of `T`, of every member when `T` is a union. */
export type FieldOf<T> = T extends unknown ? Extract<keyof T, string> : never;

/** `<base>.<field>`: the JSONPath of a field of `T` stored at `base` (`$.result`, `$$.Map.Item.Value`). */
export function fieldPath<T>(base: string, field: FieldOf<T>): string {
  return `${base}.${field}`;
}

// ------------------------------------------------------------------------------------- windows

/** JSON form of the statistics (also carried across continuations of a window). */
export interface WindowStatsSnapshot {
  readonly rowCount: number;
  /** Smallest `_cursor` as an ISO-8601 UTC instant with milliseconds; null when no rows. */
  readonly minCursor: string | null;
  readonly maxCursor: string | null;
  /** Exact sum per money column as decimal text at the column's scale (`"-1234.5600"`). */
  readonly moneySums: Readonly<Record<string, string>>;
  /** NULL values per column (columns without NULLs included, with 0). */
  readonly nullCounts: Readonly<Record<string, number>>;
  /**
   * Smallest and largest non-NULL value of each timestamp column (ISO-8601 UTC with milliseconds);
   * a column with no non-NULL value is absent.
   */
  readonly timeRanges?: Readonly<Record<string, { readonly min: string; readonly max: string }>>;
  /**
   * Rows and exact money sums per distinct tuple of the grouping columns' values (the money totals'
   * currency and classifying fields, landed-schema.ts `moneyGroupIndices`); absent without grouping.
   */
  readonly moneyGroups?: readonly MoneyGroup[];
}

/** The rows of a window with one tuple of grouping values, and their money sums (decimal text per money column). */
export interface MoneyGroup {
  /** Values of the grouping columns, in their order. */
  readonly values: readonly (string | null)[];
  readonly rows: number;
  readonly sums: Readonly<Record<string, string>>;
}

/** One Parquet object written for a window. */
export interface PartResult {
  readonly key: string;
  /** Partition date `YYYY-MM-DD` (UTC date of the rows' `_cursor`). */
  readonly dt: string;
  readonly part: number;
  readonly rows: number;
  readonly bytes: number;
}

/**
 * Everything written for a window so far: JSON-serializable, returned by `close` and accepted as
 * `resume` by the next continuation of the same window, and the input of `commitWindow`.
 */
export interface WindowProgress extends WindowStatsSnapshot {
  /** The attempt the parts belong to (a key segment). */
  readonly attempt: string;
  /** Parts in (dt, part) order. */
  readonly parts: readonly PartResult[];
  /** Next part number per partition date. */
  readonly nextPart: Readonly<Record<string, number>>;
  /** Total Parquet bytes of the parts. */
  readonly bytes: number;
}

/** One unit of snapshot work: a [from, to) range of one stream. */
export interface WindowTask {
  readonly snapshotId: string;
  /** Run id used in object keys (`raw/<stream>/dt=…/<runId>-<windowId>-<part>.parquet`). */
  readonly runId: string;
  readonly stream: string;
  readonly windowId: string;
  /** Inclusive lower bound, ISO-8601 UTC. */
  readonly from: string;
  /** Exclusive upper bound, ISO-8601 UTC. */
  readonly to: string;
}

/** Late versions found by a read (extract/lateness.ts). Counts only: never a key or a value. */
export interface LatenessStats {
  /** Late versions found. */
  readonly rows: number;
  /** The largest lateness among them, in microseconds (0 when none). */
  readonly maxMicros: number;
  /** Counts per bucket of `LATENESS_BUCKETS_SECONDS` (one more than the bounds). */
  readonly histogram: readonly number[];
}

/** Where a window or an incremental run stopped when the Lambda time budget ran out. */
export interface Continuation {
  /**
   * Last (cursor, key) written, in the source's exact text form, sealed (see
   * extract/position.ts): a key can be a player id, and payloads show in execution history.
   */
  readonly after: string;
  /** Parts and statistics written so far. */
  readonly progress: WindowProgress;
  /**
   * Source rows and money sums of the segments read so far (for reconciliation), and their money
   * totals per currency and kind (extract/money-totals.ts) for streams that have them.
   */
  readonly source: {
    readonly count: string;
    readonly sums: Readonly<Record<string, string>>;
    readonly moneyTotals?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  };
  /** Invocations so far. */
  readonly invocations: number;
  /** Incremental runs: rows with a NULL cursor, counted by the first invocation. */
  readonly nullCursorRows?: number;
  /** Incremental runs: late versions found by the invocations so far (extract/lateness.ts). */
  readonly lateness?: LatenessStats;
  /**
   * `schemaFingerprint` of the landed columns the parts so far were written with. An invocation
   * whose landed schema differs (the connector or the mapping changed mid-window) starts the range
   * over instead of mixing schemas in one window.
   */
  readonly schemaFingerprint?: string;
}

/** extract-window input: a window, plus the continuation returned by the previous invocation. */
export interface ExtractWindowInput extends WindowTask {
  readonly continuation?: Continuation | null;
}

/** Reconciliation of what landed against the source over the same range. */
export interface Reconciliation {
  readonly ok: boolean;
  readonly sourceRows: string;
  readonly landedRows: string;
  /** Money column → { source, landed } exact decimal text. */
  readonly sums: Readonly<Record<string, { readonly source: string; readonly landed: string }>>;
  /**
   * (currency, kind) money totals of the window that differ between the source and the lake
   * (extract/money-totals.ts; the manifest has the totals); absent for streams without money totals.
   */
  readonly moneyTotalsMismatches?: number;
}

/** extract-window / incremental-sync output. */
export type ExtractResult =
  | {
      readonly status: 'continue';
      readonly continuation: Continuation;
      readonly rows: number;
    }
  | {
      readonly status: 'complete';
      readonly rows: number;
      readonly bytes: number;
      readonly manifestKey: string;
      readonly reconciliation: Reconciliation;
    };

/** A drifted column of a stream's source table, as step results carry it (names and types only). */
export interface SchemaDriftSummary {
  /** `added`, `removed`, `retyped`, `widened` (reported), or `dropped`, `renamed`, `incompatible` (the stream failed). */
  readonly change: string;
  readonly column: string;
  readonly from?: string;
  readonly to?: string;
}

/** incremental-sync input: one stream of one incremental run. */
export interface IncrementalSyncInput {
  readonly runId: string;
  readonly stream: string;
  /**
   * Owner of the operator's incremental run lock, when the state machine holds it. Without it
   * the handler takes the lock itself for the duration of the call.
   */
  readonly lockOwner?: string;
  readonly continuation?: Continuation | null;
  /** Range fixed by the first invocation of this run (continuations keep it). */
  readonly range?: { readonly from: string; readonly to: string } | null;
}

/** incremental-sync output. */
export type IncrementalSyncResult =
  | (ExtractResult & {
      readonly stream: string;
      readonly range: { readonly from: string; readonly to: string };
      /** Watermark after the run (ISO-8601); set when complete. */
      readonly watermark?: string;
      /**
       * Rows of the stream's table whose cursor is NULL: never landed (no range holds them). Set
       * when complete.
       */
      readonly nullCursorRows?: number;
      /**
       * Columns of the stream's table that changed since the last successful run (names and types),
       * set by the invocation that checked them: the run's first.
       */
      readonly schemaDrift?: readonly SchemaDriftSummary[];
      /**
       * Late arrivals found by the run: versions committed after the previous read had gone past
       * their cursor. Absent when not measured (no digest of the previous read). Set when complete.
       */
      readonly lateness?: { readonly rows: number; readonly maxLatenessSeconds: number };
      /** Seconds the range end was held behind the source's oldest open transaction (PostgreSQL). */
      readonly heldBackSeconds?: number;
    })
  | {
      readonly status: 'skipped';
      readonly stream: string;
      readonly reason: string;
      /** Not counted: the run did not read the stream. */
      readonly nullCursorRows: null;
    };

// ------------------------------------------------------------------------------------- snapshot

/** Execution input of the snapshot state machine. */
export interface SnapshotRequest {
  /** Resume this snapshot: only its windows that are not done run. */
  readonly snapshotId?: string;
  /** Replay from this instant (ISO-8601); rounded down to the hour. */
  readonly from?: string;
  /** Replay up to this instant (ISO-8601, exclusive); rounded up to the hour, at most the cutoff. */
  readonly to?: string;
  /** Replay only these streams. */
  readonly streams?: readonly string[];
}

/** A planned window in the plan output: stream, window id, from, to (ISO-8601). */
export interface PlannedWindow {
  readonly s: string;
  readonly w: string;
  readonly f: string;
  readonly t: string;
}

/** plan-snapshot input, as the snapshot state machine sends it. */
export interface PlanSnapshotInput {
  /** `$$.Execution.Name` */
  readonly executionName: string;
  /** `$$.Execution.StartTime` */
  readonly startTime: string;
  /** The execution input. */
  readonly request?: SnapshotRequest | null;
}

/** plan-snapshot output: the windows this execution runs, and counts. */
export interface PlanSnapshotResult {
  readonly snapshotId: string;
  /** Run id of the windows' object keys: the snapshot id, so a resumed window overwrites its own parts. */
  readonly runId: string;
  readonly mode: 'full' | 'replay' | 'resume';
  /** ISO-8601; every stream's incremental watermark starts here once the snapshot completes. */
  readonly cutoff: string;
  /** Windows not done yet, at most 1,000 (`MAX_WINDOWS_PER_EXECUTION`, pipeline/snapshot.ts). */
  readonly windows: readonly PlannedWindow[];
  /** Windows of the snapshot. */
  readonly total: number;
  /** Windows already done. */
  readonly done: number;
  /** Windows not done, beyond those in `windows` (run by a following execution). */
  readonly remaining: number;
  /**
   * Rows with a NULL cursor per stream, counted when the snapshot was planned (never landed; empty
   * when they were not counted).
   */
  readonly nullCursorRows: Readonly<Record<string, number>>;
}

/** A window the Map could not finish: stream, window id, error name (from the iteration's Catch). */
export interface WindowFailure {
  readonly s: string;
  readonly w: string;
  readonly e: string;
}

/** An error as a Step Functions Catch records it. */
export interface StepError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** finalize-snapshot input. */
export interface FinalizeSnapshotInput {
  readonly snapshotId: string;
  /** Windows left for a following execution (from the plan). */
  readonly remaining?: number;
  /** The Map's iteration results: `{}` for a window done, a {@link WindowFailure} otherwise. */
  readonly failures?: readonly (WindowFailure | Record<string, never>)[] | null;
  /** Set when a step of the execution failed outside the windows (the Map itself). */
  readonly error?: StepError | null;
}

/** finalize-snapshot output. */
export interface FinalizeSnapshotResult {
  /** `continue`: windows remain for another execution; `failed`: see `summary`. */
  readonly status: 'completed' | 'continue' | 'failed';
  readonly snapshotId: string;
  /** Windows not done. */
  readonly failed: number;
  /** Names the failed windows (stream/window, error), or what completed. */
  readonly summary: string;
  readonly windows: number;
  readonly rows: number;
  /** With `continue`: the name of the execution that continues the snapshot (unique per round). */
  readonly nextExecutionName?: string;
  /** With `completed`: rows with a NULL cursor per stream, counted when it was planned (never landed). */
  readonly nullCursorRows?: Readonly<Record<string, number>>;
}

// ------------------------------------------------------------------------------------- incremental run

/** run-lock `begin` input. */
export interface BeginIncrementalInput {
  /** `$$.Execution.Name`: the lock owner. */
  readonly executionName: string;
  /** `$$.Execution.StartTime` */
  readonly startTime: string;
}

/** run-lock `begin` output. */
export type BeginIncrementalResult =
  | {
      readonly status: 'acquired';
      readonly runId: string;
      /** Lock owner to pass to incremental-sync as `lockOwner`. */
      readonly owner: string;
      readonly streams: readonly string[];
    }
  | { readonly status: 'waiting'; readonly reason: string }
  | { readonly status: 'locked'; readonly holder: string; readonly reason: string };

/** One stream's outcome in the incremental Map. */
export interface StreamOutcome {
  readonly stream: string;
  readonly status: 'complete' | 'skipped' | 'failed' | string;
  readonly error?: string;
  readonly cause?: string;
  /** Rows of the stream's table with a NULL cursor (never landed); null when not counted. */
  readonly nullCursorRows?: number | null;
}

/** run-lock `end` input. */
export interface EndIncrementalInput {
  readonly owner: string;
  readonly runId?: string | null;
  readonly results?: readonly StreamOutcome[] | null;
  /** Set when the run failed outside the streams. */
  readonly error?: StepError | null;
}

/** run-lock `end` output. */
export interface EndIncrementalResult {
  /** Whether this call released the lock (false when the run no longer held it). */
  readonly released: boolean;
  /** Streams that failed (or 1 when the run failed outside the streams). */
  readonly failed: number;
  /** Names the failed streams and their errors, or the streams that landed. */
  readonly summary: string;
  /** Rows with a NULL cursor per stream that counted them in this run (never landed). */
  readonly nullCursorRows?: Readonly<Record<string, number>>;
}

/** run-lock input: which end of the run. */
export type RunLockInput =
  | ({ readonly action: 'begin' } & BeginIncrementalInput)
  | ({ readonly action: 'end' } & EndIncrementalInput);

// ------------------------------------------------------------------------------------- publish

/** One MERGE of the Map: its batch id, stream and statement. */
export interface PublishStatement {
  readonly id: string;
  readonly stream: string;
  readonly sql: string;
}

/** One stream's statements of a publish, merged in turn by one iteration of the streams Map. */
export interface PublishStreamPlan {
  readonly stream: string;
  readonly statements: readonly PublishStatement[];
}

/** publish `plan` output: the MERGE statements of the committed windows, or why there are none. */
export type PlanPublishResult =
  | { readonly status: 'locked'; readonly holder: string; readonly reason: string }
  | {
      readonly status: 'empty';
      readonly owner: string;
      /** Entries dropped because their window never committed. */
      readonly abandoned: number;
      readonly backlogAgeSeconds: number;
    }
  | {
      readonly status: 'planned';
      readonly owner: string;
      /** Per stream, its statements in order (streams merge in parallel, a stream's statements in turn). */
      readonly streams: readonly PublishStreamPlan[];
      readonly windows: number;
      /** Committed windows left for the next round (beyond `MAX_WINDOWS_PER_PLAN`, serving/publish.ts). */
      readonly remaining: number;
      readonly abandoned: number;
      /** Age of the oldest entry of the backlog. */
      readonly backlogAgeSeconds: number;
    };

/** One statement's outcome, as the Map reports it. */
export interface StatementOutcome {
  readonly id: string;
  readonly status: 'merged' | 'failed';
  /** Bytes Athena scanned (merged statements). */
  readonly scannedBytes?: number;
  readonly error?: string;
  readonly cause?: string;
}

/** publish `end` input. */
export interface EndPublishInput {
  readonly owner: string;
  /** Per stream, the outcomes of its statements (the Map's result). */
  readonly results?: readonly (readonly StatementOutcome[])[] | null;
  /** Set when the publish failed outside the statements. */
  readonly error?: StepError | null;
}

/** publish `end` output. */
export interface EndPublishResult {
  readonly published: number;
  readonly failed: number;
  /** Names the failed streams and runs, or what was published. */
  readonly summary: string;
  readonly scannedBytes: number;
  /**
   * The wallet_transactions batches that merged: the players of their windows are what the wallet
   * ledger audit checks next (run and window ids only).
   */
  readonly walletSources: readonly MergeSource[];
  /** Windows in {@link walletSources} (what the state machine tests to run the audit). */
  readonly walletWindows: number;
}

/** The committed windows one MERGE reads: one run and some of its windows, or some runs and one window. */
export interface MergeSource {
  readonly runIds: readonly string[];
  readonly windowIds: readonly string[];
}

/** publish `audit-wallet` input. */
export interface WalletAuditInput {
  /** The publish execution (names the report object). */
  readonly publish: string;
  /** The wallet windows the publish merged, as its batches name them. */
  readonly sources: readonly MergeSource[];
}

/** publish `audit-wallet` output. */
export type WalletAuditResult =
  | { readonly status: 'skipped'; readonly reason: string }
  | {
      readonly status: 'audited';
      /** Breaks among the audited players' chains. */
      readonly breaks: number;
      /** Windows whose players were audited. */
      readonly windows: number;
      /** Bytes the statement scanned. */
      readonly scannedBytes: number;
      /** `s3://…` of the report with the examples, when there were breaks. */
      readonly report?: string;
    };

/** publish input: which end of the publish. */
export type PublishInput =
  | { readonly action: 'plan'; readonly executionName: string }
  | ({ readonly action: 'end' } & EndPublishInput)
  | ({ readonly action: 'audit-wallet' } & WalletAuditInput);

// ------------------------------------------------------------------------------------- key audit

/** Input of the key-audit function (and of its state machine, from the stream's schedule). */
export interface KeyAuditInput {
  readonly stream: string;
}

/** What a key audit found and did (counts only, never a key). */
export interface KeyAuditCounts {
  readonly stream: string;
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Whether the lake holds pseudonyms of the key (summarized in the function's memory). */
  readonly pseudonymized: boolean;
  /** Keys in scope at the source, and in the serving table. */
  readonly sourceKeys: number;
  readonly lakeKeys: number;
  readonly bucketsCompared: number;
  readonly passes: number;
  readonly bucketsListed: number;
  readonly keysListed: number;
  /** Keys gone from the source, tombstoned. */
  readonly deletesDetected: number;
  /** Lake keys the source holds out of the audit's scope (cursor before the horizon or NULL): left alone. */
  readonly outOfScopeKeys: number;
  /** Source keys missing from the lake. */
  readonly missingKeys: number;
  /** Missing rows re-extracted and committed (rows lost before the watermark). */
  readonly rowsRepaired: number;
  /** Missing keys not yet synced (cursor at or past the watermark): the next run lands them. */
  readonly pendingKeys: number;
  /** Windows the audit committed (tombstones, repairs), registered for publishing. */
  readonly windows: readonly string[];
}

/** Output of the key-audit function; the state machine publishes when `windows` is not empty. */
export type KeyAuditResult =
  | ({ readonly status: 'completed' } & KeyAuditCounts)
  | {
      readonly status: 'skipped';
      readonly stream: string;
      readonly reason: string;
      readonly windows: readonly string[];
    };

// ------------------------------------------------------------------------------------- landing sweep

/** sweep-landing input (the schedule sends `{}`). */
export interface SweepLandingInput {
  /** Sweep only these streams. @default every configured stream */
  readonly streams?: readonly string[];
  /** Hours an attempt that did not commit is kept. @default DEFAULT_STRAY_GRACE_HOURS (landing/sweep.ts) */
  readonly graceHours?: number;
  /** Report what would be removed without removing it. @default false */
  readonly dryRun?: boolean;
}

/** What the sweep of one stream found and removed. */
export interface SweepSummary {
  readonly stream: string;
  /** Windows with at least one attempt. */
  readonly windows: number;
  /** Attempts that did not commit and were removed. */
  readonly strayAttempts: number;
  /** Objects removed (parts and manifests). */
  readonly deletedObjects: number;
  readonly deletedBytes: number;
  /** Attempts that did not commit but are younger than the grace period (kept for now). */
  readonly pendingAttempts: number;
}

/** sweep-landing output. */
export interface SweepLandingResult {
  readonly streams: readonly SweepSummary[];
  readonly deletedObjects: number;
}
