/**
 * Inputs and outputs of the Lambda tasks the Step Functions pipelines chain together. Kept small:
 * every value passes through state-machine payloads (256 KiB limit).
 */
import type { StreamName } from '../canonical.ts';
import type { WindowProgress } from '../landing/part-writer.ts';

/** One unit of snapshot work: a [from, to) range of one stream. */
export interface WindowTask {
  readonly snapshotId: string;
  /** Run id used in object keys (`raw/<stream>/dt=…/<runId>-<windowId>-<part>.parquet`). */
  readonly runId: string;
  readonly stream: StreamName;
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
  readonly stream: StreamName;
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
      readonly stream: StreamName;
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
      readonly stream: StreamName;
      readonly reason: string;
      /** Not counted: the run did not read the stream. */
      readonly nullCursorRows: null;
    };
