/**
 * `connector run <operator> --local --out DIR` and `npm run demo`: an operator's real pipelines
 * (the synthesized snapshot and incremental state machines, the real handlers, in-process) against
 * the operator's own database, with s3rver and dynalite as S3 and DynamoDB, landing into a
 * directory a person can read with DuckDB, pandas or Spark.
 *
 * Layout of the output directory:
 *
 * ```
 * DIR/<stream>/dt=YYYY-MM-DD/<run>-<window>-<part>.parquet   committed parts only (Hive partitions):
 *                                                            every version landed, as the landed table holds them
 * DIR/current/<stream>.parquet                               the stream's serving table after the run: its current
 *                                                            state, one row per key (what analysts query in Athena)
 * DIR/.connector/                                            state kept between runs:
 *   operator.json          which operator and stage the directory belongs to
 *   s3/                    the local landing bucket (s3rver): parts, commit records
 *   sync-state/            the sync-state table (dynalite on LevelDB): snapshot progress, watermarks,
 *                          the pseudonym key (wrapped by the local key below)
 *   local-kms.key          the local master key (0600) that wraps the pseudonym key
 *   operator-config.json   the validated config the handlers run with
 *   environment.json       the handlers' environment (names of the table, key, bucket; no secret)
 *   serving.duckdb         the serving tables (the local engine of the Athena statements publishing sends)
 * ```
 *
 * Because the state lives in DIR, `--incremental` in a later process continues from the
 * snapshot's watermarks, and pseudonyms stay the same across runs. One session per process:
 * the handlers read their environment once, at import (see pipeline-runner.ts).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { STREAM_NAMES, type StreamName } from '#shared/canonical';
import { formatIssues, parseOperatorConfig } from '#shared/config/load';
import type { OperatorConfig } from '#shared/config/schema';
import type { ExtractResult, IncrementalSyncResult } from '#shared/contracts/steps';
import { databaseStreams } from '#shared/pipeline/snapshot';
import type { SnapshotPointer } from '#shared/state/snapshots';
import { SyncStateStore } from '#shared/state/store';
import { type DynaliteHandle, type S3rverHandle, startDynalite, startS3rver } from './engines.ts';
import { type ExportResult, exportCommittedParts } from './landed.ts';
import {
  createLocalPipeline,
  type IncrementalRun,
  type KeyAuditRun,
  type LocalPipeline,
  localNames,
  type SnapshotRun,
} from './pipeline-runner.ts';
import type { LambdaHandler } from './sfn-harness.ts';

/** The state folder inside the output directory. */
export const STATE_FOLDER = '.connector';
/** The folder of the serving tables' exports inside the output directory. */
export const CURRENT_FOLDER = 'current';

/** A local run cannot start or did not finish; the message says what to do. */
export class LocalRunError extends Error {
  override readonly name = 'LocalRunError';
}

/** Where a run stands, reported while it runs. */
export interface LocalRunProgress {
  readonly mode: 'snapshot' | 'incremental';
  /** Units of work: windows (snapshot) or streams (incremental). */
  readonly done: number;
  readonly total: number;
  readonly failed: number;
  /** Rows landed by this run so far. */
  readonly rows: number;
  /** Milliseconds since the run started. */
  readonly elapsedMs: number;
}

/** One stream after a run. */
export interface LocalStreamSummary {
  /** Rows this run landed. */
  readonly rows: number;
  /** Watermark after the run (ISO-8601), when the stream has one. */
  readonly watermark: string | null;
  /** Committed rows of the stream in the directory, over every run. */
  readonly committedRows: number;
  /** Parquet files of the stream in the directory. */
  readonly files: number;
  readonly bytes: number;
  /** Rows of the stream's serving table (its current state) after the run. */
  readonly currentRows: number;
}

/** The outcome of one run. */
export interface LocalRunSummary {
  readonly ok: boolean;
  readonly mode: 'snapshot' | 'incremental';
  /** Snapshot id, or the incremental run id. */
  readonly id: string | null;
  /** Whether the snapshot resumed one that an earlier run in the directory did not finish. */
  readonly resumed?: boolean;
  /** Execution status of the (last) state machine execution. */
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
  readonly seconds: number;
  /** Snapshot windows, or incremental streams. */
  readonly units: { readonly done: number; readonly total: number; readonly failed: number };
  readonly streams: Readonly<Partial<Record<StreamName, LocalStreamSummary>>>;
}

export interface LocalRunOptions {
  /** The operator config (validated here as `cdk synth` validates it). */
  readonly config: OperatorConfig | Record<string, unknown>;
  /** The output directory (created if missing). */
  readonly out: string;
  /** The operator's database: postgres://… or mysql://… (may hold a password; never reported). */
  readonly sourceUrl: string;
  /** Progress as it happens. */
  readonly onProgress?: (progress: LocalRunProgress) => void;
  /** Environment overrides for the handlers (e.g. `CONNECTOR_MAX_WINDOWS_PER_EXECUTION`). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The run that follows: its precondition (no completed snapshot yet / a completed snapshot) is
   * checked against the directory before the stack is synthesized, so a refusal comes at once.
   * @default not checked until the run starts
   */
  readonly mode?: 'snapshot' | 'incremental';
}

/** An open output directory with its engines and pipelines. */
export interface LocalRunSession {
  readonly config: OperatorConfig;
  readonly out: string;
  readonly pipeline: LocalPipeline;
  readonly s3: S3rverHandle;
  readonly dynamo: DynaliteHandle;
  /** The database streams of the operator, in canonical order. */
  readonly streams: readonly StreamName[];
  /**
   * Runs the snapshot: a new one, or the one an earlier run left unfinished in the directory.
   * Refused when the directory already holds a completed snapshot (use `incremental`).
   */
  snapshot(): Promise<{ readonly summary: LocalRunSummary; readonly run: SnapshotRun }>;
  /** Runs one incremental sync; refused before a snapshot completed in the directory. */
  incremental(): Promise<{ readonly summary: LocalRunSummary; readonly run: IncrementalRun }>;
  /**
   * Runs the key audit of one stream, as its schedule does: the audit, then the publish of the
   * tombstones and re-extracted rows it landed; then exports like every run. Refused before a
   * snapshot completed.
   */
  keyAudit(stream: StreamName): Promise<KeyAuditRun>;
  /** Makes `DIR/<stream>/` hold exactly the committed parts (done after every run). */
  exportLanded(): Promise<ExportResult>;
  /** Stops the engines; the directory keeps everything. */
  close(): Promise<void>;
}

/** Refuses a snapshot over a completed one, and an incremental run before any completed snapshot. */
function refuseRun(
  mode: 'snapshot' | 'incremental',
  pointer: SnapshotPointer | undefined,
  config: OperatorConfig,
  out: string,
): void {
  if (mode === 'snapshot' && pointer?.lastCompletedSnapshotId !== undefined) {
    throw new LocalRunError(
      `${out} already holds the completed snapshot ${pointer.lastCompletedSnapshotId}: continue it with --incremental, or use an empty --out directory for a new snapshot`,
    );
  }
  if (mode === 'incremental' && pointer?.lastCompletedSnapshotId === undefined) {
    throw new LocalRunError(
      `${out} holds no completed snapshot of ${config.operatorId}: run \`connector run ${config.operatorId} --local --out ${out}\` first; incremental syncs continue from its watermarks`,
    );
  }
}

function validated(config: OperatorConfig | Record<string, unknown>): OperatorConfig {
  const label = `config of ${String((config as { operatorId?: unknown }).operatorId ?? 'the operator')}`;
  const result = parseOperatorConfig(JSON.stringify(config), label);
  if (!result.config) throw new LocalRunError(`the operator config is invalid:\n${formatIssues(result.issues)}`);
  if (result.config.source.type === 'files') {
    throw new LocalRunError(
      `operator ${result.config.operatorId} drops files: it has no database to run a snapshot or incremental sync against`,
    );
  }
  return result.config;
}

/** Refuses a directory that belongs to another operator or stage; marks a new one. */
async function claimDirectory(state: string, config: OperatorConfig, out: string): Promise<void> {
  const file = join(state, 'operator.json');
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const owner = JSON.parse(text) as { operatorId?: string; stage?: string };
    if (owner.operatorId !== config.operatorId || owner.stage !== config.stage) {
      throw new LocalRunError(
        `${out} holds the local data of operator ${owner.operatorId} (${owner.stage}), not ${config.operatorId} (${config.stage}); use another --out directory`,
      );
    }
    return;
  }
  await writeFile(file, `${JSON.stringify({ operatorId: config.operatorId, stage: config.stage }, null, 2)}\n`);
}

/**
 * Opens the output directory: starts s3rver and dynalite on its state folder, synthesizes the
 * operator's stack and loads the handlers. Close it with `close()`.
 */
export async function openLocalRun(options: LocalRunOptions): Promise<LocalRunSession> {
  const config = validated(options.config);
  const out = resolve(options.out);
  const state = join(out, STATE_FOLDER);
  const streams = databaseStreams(config).filter((s): s is StreamName => STREAM_NAMES.includes(s as StreamName));

  let s3: S3rverHandle | undefined;
  let dynamo: DynaliteHandle | undefined;
  try {
    s3 = await startS3rver({ directory: join(state, 's3') });
    await claimDirectory(state, config, out);
    dynamo = await startDynalite({ path: join(state, 'sync-state') }).catch((e: Error) => {
      throw new LocalRunError(
        /lock|busy|resource temporarily unavailable/i.test(e.message)
          ? `${out} is in use by another connector run (its sync-state database is locked); wait for it to finish`
          : `cannot open the sync state in ${state}: ${e.message}`,
      );
    });
    if (options.mode) {
      const table = localNames(config).table;
      const existing = await dynamo.client.send(new ListTablesCommand({})).then((r) => r.TableNames ?? []);
      const store = new SyncStateStore(dynamo.doc, table);
      const pointer = existing.includes(table) ? await store.snapshots.getCurrent() : undefined;
      refuseRun(options.mode, pointer, config, out);
    }
    const pipeline = await createLocalPipeline({
      config,
      engines: { s3, dynamo, source: { url: options.sourceUrl } },
      dir: state,
      ...(options.env ? { env: options.env } : {}),
    });
    // What the handlers ran with (no secret: the source URL is not part of it), for readers of DIR.
    await writeFile(join(state, 'environment.json'), `${JSON.stringify(pipeline.environment, null, 2)}\n`);
    return session(config, out, pipeline, s3, dynamo, streams, options);
  } catch (e) {
    await Promise.allSettled([s3?.stop(), dynamo?.stop()]);
    throw e;
  }
}

function session(
  config: OperatorConfig,
  out: string,
  pipeline: LocalPipeline,
  s3: S3rverHandle,
  dynamo: DynaliteHandle,
  streams: readonly StreamName[],
  options: LocalRunOptions,
): LocalRunSession {
  const exportLanded = () => exportCommittedParts(s3.client, pipeline.synthesized, streams, out);

  /** Writes each stream's serving table to DIR/current/<stream>.parquet; returns their rows. */
  async function exportCurrent(): Promise<Map<StreamName, number>> {
    const dir = join(out, CURRENT_FOLDER);
    await mkdir(dir, { recursive: true });
    const rows = new Map<StreamName, number>();
    for (const stream of streams) {
      const table = pipeline.athena.servingTable(stream);
      rows.set(stream, await pipeline.athena.exportTable(table.database, table.name, join(dir, `${stream}.parquet`)));
    }
    return rows;
  }

  async function summarize(
    mode: 'snapshot' | 'incremental',
    base: Omit<LocalRunSummary, 'streams' | 'mode'>,
    rowsByStream: ReadonlyMap<StreamName, number>,
  ): Promise<LocalRunSummary> {
    const exported = await exportLanded();
    const current = await exportCurrent();
    const states = await pipeline.store.watermarks.getStates(streams);
    const summary: Partial<Record<StreamName, LocalStreamSummary>> = {};
    streams.forEach((stream, i) => {
      const parts = exported.parts.filter((p) => p.stream === stream);
      summary[stream] = {
        rows: rowsByStream.get(stream) ?? 0,
        watermark: states[i]?.watermark?.toISOString() ?? null,
        committedRows: parts.reduce((n, p) => n + p.rows, 0),
        files: parts.length,
        bytes: parts.reduce((n, p) => n + p.bytes, 0),
        currentRows: current.get(stream) ?? 0,
      };
    });
    return { ...base, mode, streams: summary };
  }

  return {
    config,
    out,
    pipeline,
    s3,
    dynamo,
    streams,

    async snapshot() {
      const pointer = await pipeline.store.snapshots.getCurrent();
      refuseRun('snapshot', pointer, config, out);
      const resume = pointer !== undefined && pointer.currentStatus !== 'completed';
      const started = Date.now();
      const rows = new Map<StreamName, number>();
      let total = 0;
      let done = 0;
      let failed = 0;
      let landed = 0;
      const report = () =>
        options.onProgress?.({ mode: 'snapshot', done, total, failed, rows: landed, elapsedMs: Date.now() - started });
      const countRows =
        (real: LambdaHandler): LambdaHandler =>
        async (event, context) => {
          const result = (await real(event, context)) as ExtractResult;
          if (result.status === 'complete') {
            const stream = (event as { stream: StreamName }).stream;
            rows.set(stream, (rows.get(stream) ?? 0) + result.rows);
            landed += result.rows;
          }
          return result;
        };
      const run = await pipeline.runSnapshot(resume ? { snapshotId: pointer.currentSnapshotId } : {}, {
        wrap: { extractWindow: countRows },
        onProgress: (p) => {
          total = p.total;
          done = p.done;
          failed = p.failed;
          report();
        },
      });
      const ok = run.status === 'SUCCEEDED' && run.finalize?.status === 'completed';
      const summary = await summarize(
        'snapshot',
        {
          ok,
          id: run.snapshotId ?? null,
          ...(resume ? { resumed: true } : {}),
          status: run.finalize?.status ?? run.status,
          ...(run.error !== undefined ? { error: run.error } : {}),
          ...(run.cause !== undefined ? { cause: run.cause } : {}),
          seconds: (Date.now() - started) / 1000,
          units: { done, total, failed },
        },
        rows,
      );
      return { summary, run };
    },

    async incremental() {
      refuseRun('incremental', await pipeline.store.snapshots.getCurrent(), config, out);
      const started = Date.now();
      const rows = new Map<StreamName, number>();
      const finished = new Set<StreamName>();
      let failed = 0;
      let landed = 0;
      const report = () =>
        options.onProgress?.({
          mode: 'incremental',
          done: finished.size,
          total: streams.length,
          failed,
          rows: landed,
          elapsedMs: Date.now() - started,
        });
      const countRows =
        (real: LambdaHandler): LambdaHandler =>
        async (event, context) => {
          let result: IncrementalSyncResult;
          try {
            result = (await real(event, context)) as IncrementalSyncResult;
          } catch (e) {
            failed++;
            report();
            throw e;
          }
          // The handler only answers for a configured stream.
          const stream = result.stream as StreamName;
          if (result.status === 'complete') {
            rows.set(stream, (rows.get(stream) ?? 0) + result.rows);
            landed += result.rows;
            finished.add(stream);
          } else if (result.status === 'skipped') {
            finished.add(stream);
          }
          report();
          return result;
        };
      report();
      const run = await pipeline.runIncremental({ wrap: { incrementalSync: countRows } });
      const runId = run.begin?.status === 'acquired' ? run.begin.runId : null;
      const ok = run.status === 'SUCCEEDED' && run.begin?.status === 'acquired' && finished.size === streams.length;
      const summary = await summarize(
        'incremental',
        {
          ok,
          id: runId,
          status: run.begin && run.begin.status !== 'acquired' ? run.begin.status : run.status,
          ...(run.error !== undefined ? { error: run.error } : {}),
          ...(run.cause !== undefined ? { cause: run.cause } : {}),
          seconds: (Date.now() - started) / 1000,
          units: { done: finished.size, total: streams.length, failed },
        },
        rows,
      );
      return { summary, run };
    },

    async keyAudit(stream) {
      refuseRun('incremental', await pipeline.store.snapshots.getCurrent(), config, out);
      const run = await pipeline.runKeyAudit(stream);
      // As after every run: the directory holds the committed parts and the serving tables as published.
      await exportLanded();
      await exportCurrent();
      return run;
    },

    exportLanded,

    async close() {
      await pipeline.close();
      await Promise.allSettled([s3.stop(), dynamo.stop()]);
    },
  };
}

/**
 * Powertools Metrics prints warnings with its own console (not through the silenced logger) on
 * every flush without metrics, and when two concurrent invocations in one process set the same
 * dimension, which Lambda never does. They are not progress of a local run: drop them from stderr.
 */
export function dropPowertoolsWarnings(): void {
  const noise = [/^No application metrics to publish/, /^Dimension "[^"]+" has already been added/];
  const write = process.stderr.write.bind(process.stderr) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (noise.some((re) => re.test(text))) return true;
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
}
