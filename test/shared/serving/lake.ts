/**
 * A local serving lake for tests: the operator's Glue tables as the DataCatalog construct
 * synthesizes them, landed windows written and committed to s3rver by the product's writer and
 * commit protocol, and published into the serving tables by the product's MERGE on the local
 * Athena engine (DuckDB).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import * as s3lib from 'aws-cdk-lib/aws-s3';
import { CANONICAL_STREAMS, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { commitWindow, newAttemptId, readCommittedWindow } from '#shared/landing/window';
import { unscaledOf } from '#shared/parquet/decimal-text';
import { mergeStatement } from '#shared/serving/sql';
import { servingLayout } from '#shared/serving/tables';
import { S3Sink } from '#shared/sink/s3';
import type { PartitionRange } from '#shared/state/publications';
import type { LandedValue } from '#shared/types';
import { DataCatalog } from '../../../lib/constructs/data-catalog.ts';
import { LocalAthena } from '../../../local/athena.ts';
import type { CfnTemplate } from '../../../local/cfn-resolve.ts';
import { type CatalogTable, catalogTables } from '../../../local/lake.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { testApp } from '../../lib/helpers.ts';
import { toBatch } from '../parquet/fixtures.ts';

/** The version and origin of a landed row. */
export interface RowVersion {
  readonly runId: string;
  /** `_source_seq`: orders versions with the same change time. */
  readonly seq: bigint;
  /** `_extracted_at` (ms). */
  readonly extractedAt: number;
  /** A tombstone: the key was found deleted at the source at this version. */
  readonly deleted?: boolean;
}

/**
 * A complete landed row of a stream from the values of some of its columns (the others NULL):
 * decimals may be given as text (`'10.50'`) and are scaled to the column's type, timestamps are
 * epoch milliseconds; the version columns come from the stream's cursor field and `version`.
 */
export function landedRow(
  config: OperatorConfig,
  stream: StreamName,
  values: Readonly<Record<string, LandedValue>>,
  version: RowVersion,
): Record<string, LandedValue> {
  const cursor = values[CANONICAL_STREAMS[stream].cursor];
  if (typeof cursor !== 'number') throw new Error(`${stream}: a row needs its cursor field as epoch milliseconds`);
  const row: Record<string, LandedValue> = {};
  for (const column of landedColumns(config, stream)) {
    const value = values[column.name] ?? null;
    row[column.name] =
      column.type.kind === 'decimal' && typeof value === 'string' ? unscaledOf(value, column.type.scale) : value;
  }
  return {
    ...row,
    _cursor: cursor,
    _cursor_us: BigInt(cursor) * 1000n,
    _source_seq: version.seq,
    _run_id: version.runId,
    _extracted_at: version.extractedAt,
    _deleted: version.deleted ?? false,
  };
}

/** What committed windows' manifests say of a stream's partition column (as the publish planner reads them). */
export async function partitionRange(
  sink: S3Sink,
  config: OperatorConfig,
  stream: StreamName,
  runIds: readonly string[],
  windowIds: readonly string[],
): Promise<PartitionRange> {
  const column = servingLayout(config, stream).partition.column;
  let min: string | undefined;
  let max: string | undefined;
  let hasNulls = false;
  for (const runId of runIds) {
    for (const windowId of windowIds) {
      const committed = await readCommittedWindow(sink, stream, runId, windowId);
      if (!committed) continue;
      const range = committed.manifest.timeRanges[column];
      if (range) {
        if (min === undefined || range.min < min) min = range.min;
        if (max === undefined || range.max > max) max = range.max;
      }
      if ((committed.manifest.nullCounts[column] ?? 0) > 0) hasNulls = true;
    }
  }
  return { range: min && max ? { min, max } : null, hasNulls };
}

export class ServingLake {
  private constructor(
    readonly config: OperatorConfig,
    /** The operator's Glue database. */
    readonly database: string,
    /** The operator's Glue tables, resolved against the local bucket. */
    readonly tables: readonly CatalogTable[],
    readonly athena: LocalAthena,
    /** The landing bucket's sink (s3rver). */
    readonly sink: S3Sink,
    private readonly s3: S3rverHandle,
    private readonly work: string,
  ) {}

  /** Starts s3rver and an in-memory local Athena over the synthesized tables of `config`. */
  static async open(config: OperatorConfig): Promise<ServingLake> {
    const [s3, work] = await Promise.all([startS3rver(), mkdtemp(join(tmpdir(), 'serving-lake-'))]);
    const bucket = await s3.createBucket();
    const app = testApp();
    const stack = new Stack(app, 'Catalog');
    const landing = new s3lib.Bucket(stack, 'Landing');
    const catalog = new DataCatalog(stack, 'DataCatalog', { config, bucket: landing });
    const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
    const tables = catalogTables(template, {
      overrides: { [stack.getLogicalId(landing.node.defaultChild as CfnElement)]: bucket },
    });
    const athena = await LocalAthena.open({
      tables,
      s3: s3.client,
      databasePath: ':memory:',
      cacheDir: join(work, 'cache'),
    });
    const sink = new S3Sink({ client: s3.client, bucket });
    return new ServingLake(config, catalog.databaseName, tables, athena, sink, s3, work);
  }

  /** Writes and commits one window of landed rows, as an extraction does. */
  async land(
    stream: StreamName,
    runId: string,
    windowId: string,
    rows: readonly Record<string, LandedValue>[],
  ): Promise<void> {
    const columns = landedColumns(this.config, stream);
    const writer = new PartitionedPartWriter({
      sink: this.sink,
      stream,
      runId,
      windowId,
      attempt: newAttemptId(),
      columns,
    });
    if (rows.length > 0) await writer.write(toBatch(columns, rows));
    const progress = await writer.close();
    const cursors = rows.map((r) => r._cursor as number);
    await commitWindow(this.sink, {
      operatorId: this.config.operatorId,
      stream,
      runId,
      windowId,
      from: new Date(Math.min(...cursors, Date.now())),
      to: new Date(Math.max(...cursors, 0)),
      columns,
      progress,
    });
  }

  /** Publishes committed windows into the stream's serving table with the product's MERGE; returns the rows it changed. */
  async publish(stream: StreamName, runIds: readonly string[], windowIds: readonly string[]): Promise<number> {
    const sql = mergeStatement({
      config: this.config,
      stream,
      database: this.database,
      source: { runIds, windowIds },
      partition: await partitionRange(this.sink, this.config, stream, runIds, windowIds),
    });
    return (await this.athena.execute(sql)).updatedRows ?? -1;
  }

  async close(): Promise<void> {
    this.athena.close();
    await this.s3.stop();
    await rm(this.work, { recursive: true, force: true });
  }
}
