/**
 * Publishing committed windows into a serving table, with the statements the state machine sends
 * to Athena run by the local engine (DuckDB) over real committed parts in s3rver, and every
 * statement parsed with a Trino grammar.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import * as s3lib from 'aws-cdk-lib/aws-s3';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import { type LandedColumn, landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { commitWindow, newAttemptId } from '#shared/landing/window';
import { mergeStatement } from '#shared/serving/sql';
import { servingColumns } from '#shared/serving/tables';
import { S3Sink } from '#shared/sink/s3';
import type { PartitionRange } from '#shared/state/publications';
import type { LandedValue } from '#shared/types';
import { DataCatalog, glueDatabaseName } from '../../../lib/constructs/data-catalog.ts';
import { LocalAthena } from '../../../local/athena.ts';
import type { CfnTemplate } from '../../../local/cfn-resolve.ts';
import { catalogTables } from '../../../local/lake.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { exampleConfig, testApp } from '../../lib/helpers.ts';
import { toBatch } from '../parquet/fixtures.ts';
import { partitionRange } from './lake.ts';

const trino = new TrinoSQL();
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 2, 1);

let s3: S3rverHandle;
let work: string;
let config: OperatorConfig;
let database: string;
let bucket: string;
let sink: S3Sink;
let athena: LocalAthena;
let columns: readonly LandedColumn[];
const statements: string[] = [];

/** A payment version as landed. `at` is its cursor (ms); `seq` its source sequence. */
interface Version {
  readonly id: string;
  readonly at: number;
  readonly seq?: number;
  readonly amount: bigint;
  readonly created: number | null;
  readonly deleted?: boolean;
}

function row(v: Version, runId: string): Record<string, LandedValue> {
  return {
    payment_id: v.id,
    player_id: `player-${v.id}`,
    direction: 'deposit',
    direction_source: 'DEP',
    method: 'card',
    amount: v.amount,
    currency: 'EUR',
    status: 'approved',
    status_source: 'APPROVED',
    created_at: v.created,
    updated_at: v.at,
    _cursor: v.at,
    _cursor_us: BigInt(v.at) * 1000n,
    _source_seq: BigInt(v.seq ?? 1),
    _run_id: runId,
    _extracted_at: v.at + 1000,
    _deleted: v.deleted ?? false,
  };
}

/** Lands and commits one window of payment versions. */
async function land(runId: string, windowId: string, versions: readonly Version[]): Promise<void> {
  const writer = new PartitionedPartWriter({
    sink,
    stream: 'payments',
    runId,
    windowId,
    attempt: newAttemptId(),
    columns,
  });
  if (versions.length > 0)
    await writer.write(
      toBatch(
        columns,
        versions.map((v) => row(v, runId)),
      ),
    );
  const progress = await writer.close();
  const cursors = versions.map((v) => v.at);
  await commitWindow(sink, {
    operatorId: config.operatorId,
    stream: 'payments',
    runId,
    windowId,
    from: new Date(Math.min(T0, ...cursors)),
    to: new Date(Math.max(T0, ...cursors)),
    columns,
    progress,
  });
}

/** What the windows' manifests say of the partition column (as the publish planner reads them). */
function partitionOf(runIds: readonly string[], windowIds: readonly string[]): Promise<PartitionRange> {
  return partitionRange(sink, config, 'payments', runIds, windowIds);
}

async function publish(runIds: readonly string[], windowIds: readonly string[]): Promise<number> {
  const sql = mergeStatement({
    config,
    stream: 'payments',
    database,
    source: { runIds, windowIds },
    partition: await partitionOf(runIds, windowIds),
  });
  statements.push(sql);
  return (await athena.execute(sql)).updatedRows ?? -1;
}

async function current(): Promise<Record<string, { amount: string; cursor: number }>> {
  const rows = await athena.rows(database, 'payments', ['payment_id']);
  return Object.fromEntries(
    rows.map((r) => [String(r.payment_id), { amount: String(r.amount), cursor: Date.parse(`${r._cursor}Z`) }]),
  );
}

beforeAll(async () => {
  [s3, work] = await Promise.all([startS3rver(), mkdtemp(join(tmpdir(), 'publish-'))]);
  config = exampleConfig('acme-casino');
  columns = landedColumns(config, 'payments');
  bucket = await s3.createBucket();
  sink = new S3Sink({ client: s3.client, bucket });
  const app = testApp();
  const stack = new Stack(app, 'Catalog');
  const landing = new s3lib.Bucket(stack, 'Landing');
  const catalog = new DataCatalog(stack, 'DataCatalog', { config, bucket: landing });
  database = catalog.databaseName;
  expect(database).toBe(glueDatabaseName(config.operatorId, config.stage));
  const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  const tables = catalogTables(template, {
    overrides: { [stack.getLogicalId(landing.node.defaultChild as CfnElement)]: bucket },
  });
  athena = await LocalAthena.open({ tables, s3: s3.client, databasePath: ':memory:', cacheDir: join(work, 'cache') });
});

afterAll(async () => {
  athena?.close();
  await s3?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('publishing committed windows into the serving table', () => {
  it('has the landed columns and types, without the tombstone flag', async () => {
    const table = athena.table(database, 'payments')!;
    expect(table.format).toBe('iceberg');
    expect(table.columns.map((c) => c.name)).toEqual(servingColumns(config, 'payments').map((c) => c.name));
    expect(table.columns.map((c) => c.name)).not.toContain('_deleted');
    expect(table.columns.find((c) => c.name === 'amount')?.type).toBe('decimal(18,2)');
  });

  it('keeps one row per key, the latest version, whatever order runs are published in', async () => {
    await land('snap-1', 'w1', [
      { id: 'p1', at: T0 + 1000, amount: 1000n, created: T0 },
      { id: 'p2', at: T0 + 2000, amount: 2000n, created: T0 },
    ]);
    await land('snap-1', 'w2', [
      { id: 'p3', at: T0 + DAY, amount: 3000n, created: T0 + DAY },
      { id: 'p4', at: T0 + DAY + 5, amount: 4000n, created: null },
    ]);
    expect(await publish(['snap-1'], ['w1', 'w2'])).toBe(4);
    // An incremental run: p1 updated, p2 re-read by the lookback (same version), p5 new.
    await land('incr-2', 'incr', [
      { id: 'p1', at: T0 + 2 * DAY, amount: 1100n, created: T0 },
      { id: 'p2', at: T0 + 2000, amount: 2000n, created: T0 },
      { id: 'p5', at: T0 + 2 * DAY + 1, amount: 5000n, created: T0 + 2 * DAY },
    ]);
    // A run landed earlier but published late: an older version of p1 and of p3 must not win.
    await land('incr-1', 'incr', [
      { id: 'p1', at: T0 + DAY + 100, amount: 1050n, created: T0 },
      { id: 'p3', at: T0 + DAY, seq: 0, amount: 2999n, created: T0 + DAY },
    ]);
    expect(await publish(['incr-2'], ['incr'])).toBe(2);
    expect(await publish(['incr-1'], ['incr'])).toBe(0);
    expect(await current()).toEqual({
      p1: { amount: '11.00', cursor: T0 + 2 * DAY },
      p2: { amount: '20.00', cursor: T0 + 2000 },
      p3: { amount: '30.00', cursor: T0 + DAY },
      p4: { amount: '40.00', cursor: T0 + DAY + 5 },
      p5: { amount: '50.00', cursor: T0 + 2 * DAY + 1 },
    });
  });

  it('changes nothing when a publish is re-run', async () => {
    const before = await current();
    expect(await publish(['snap-1'], ['w1', 'w2'])).toBe(0);
    expect(await publish(['incr-1', 'incr-2'], ['incr'])).toBe(0);
    expect(await current()).toEqual(before);
  });

  it('orders versions at the same microsecond by the source sequence', async () => {
    await land('incr-3', 'incr', [{ id: 'p2', at: T0 + 2000, seq: 5, amount: 2500n, created: T0 }]);
    await land('incr-4', 'incr', [{ id: 'p2', at: T0 + 2000, seq: 3, amount: 2300n, created: T0 }]);
    expect(await publish(['incr-3', 'incr-4'], ['incr'])).toBe(1);
    expect((await current()).p2).toEqual({ amount: '25.00', cursor: T0 + 2000 });
  });

  it('removes a key with a newer tombstone, keeps a key whose tombstone is older than its row', async () => {
    await land('audit-1', 'tombstones', [
      { id: 'p4', at: T0 + 3 * DAY, amount: 4000n, created: null, deleted: true },
      { id: 'p5', at: T0 + DAY, amount: 5000n, created: T0 + 2 * DAY, deleted: true },
      { id: 'p9', at: T0 + 3 * DAY, amount: 1n, created: T0, deleted: true },
    ]);
    expect(await publish(['audit-1'], ['tombstones'])).toBe(1);
    const now = await current();
    expect(Object.keys(now)).toEqual(['p1', 'p2', 'p3', 'p5']);
    // A version newer than the tombstone brings the key back.
    await land('incr-5', 'incr', [{ id: 'p4', at: T0 + 4 * DAY, amount: 4400n, created: null }]);
    expect(await publish(['incr-5'], ['incr'])).toBe(1);
    expect((await current()).p4).toEqual({ amount: '44.00', cursor: T0 + 4 * DAY });
  });

  it('bounds the target rows a MERGE reads by the partition column of the merged rows', async () => {
    const sql = mergeStatement({
      config,
      stream: 'payments',
      database,
      source: { runIds: ['incr-2'], windowIds: ['incr'] },
      partition: await partitionOf(['incr-2'], ['incr']),
    });
    expect(sql).toContain(
      `ON t."payment_id" = s."payment_id" AND (t."created_at" >= TIMESTAMP '2026-03-01 00:00:00.000' AND t."created_at" <= TIMESTAMP '2026-03-03 00:00:00.000')`,
    );
    const withNulls = mergeStatement({
      config,
      stream: 'payments',
      database,
      source: { runIds: ['snap-1'], windowIds: ['w2'] },
      partition: await partitionOf(['snap-1'], ['w2']),
    });
    expect(withNulls).toContain(`OR t."created_at" IS NULL)`);
    // Players are bucketed by their key: nothing bounds a players MERGE but the key.
    const players = mergeStatement({
      config,
      stream: 'players',
      database,
      source: { runIds: ['snap-1'], windowIds: ['w1'] },
      partition: { range: { min: '2026-01-01T00:00:00Z', max: '2026-01-02T00:00:00Z' }, hasNulls: false },
    });
    expect(players).toContain('ON t."player_id" = s."player_id"\nWHEN');
    statements.push(sql, withNulls, players);
  });

  it('never reads the cross product of several runs and several windows', () => {
    expect(() =>
      mergeStatement({ config, stream: 'payments', database, source: { runIds: ['a', 'b'], windowIds: ['w1', 'w2'] } }),
    ).toThrow(/cross product/);
  });

  it('sends only statements the Trino grammar accepts', () => {
    expect(statements.length).toBeGreaterThan(5);
    for (const sql of statements) expect(trino.validate(sql), sql).toEqual([]);
  });
});
