/**
 * Erasing a player from a lake on the real local engines: parts landed and committed with the part
 * writer in s3rver, published into the serving tables with the MERGE the state machine sends (run
 * by DuckDB through LocalAthena), the audit in dynalite; what is left is read back with DuckDB as
 * an independent reader, and every statement is parsed with a Trino grammar.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type CfnElement, Stack } from 'aws-cdk-lib';
import * as s3lib from 'aws-cdk-lib/aws-s3';
import { TrinoSQL } from 'dt-sql-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_NAMES, type StreamName } from '#shared/canonical';
import type { OperatorConfig } from '#shared/config/schema';
import { type ErasureReport, erasableStreams, erasePlayer, residualCopies } from '#shared/erasure/erase';
import { ErasureObjects } from '#shared/erasure/objects';
import { playerPseudonym } from '#shared/erasure/player';
import { eraseWindow, windowSources } from '#shared/erasure/raw';
import { landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { commitWindow, newAttemptId, readCommittedWindow } from '#shared/landing/window';
import { EXACT_KEY_COMPARISON, type KeyComparison } from '#shared/pii/key-form';
import { createPseudonymizer, normalizeForPseudonym } from '#shared/pii/pseudonymizer';
import { mergeStatement } from '#shared/serving/sql';
import { S3Sink } from '#shared/sink/s3';
import { ErasureAudit } from '#shared/state/erasures';
import { PUBLISH_LOCK } from '#shared/state/keys';
import { SyncStateStore } from '#shared/state/store';
import type { LandedValue } from '#shared/types';
import { DataCatalog } from '../../../lib/constructs/data-catalog.ts';
import { LocalAthena } from '../../../local/athena.ts';
import type { CfnTemplate } from '../../../local/cfn-resolve.ts';
import { type CatalogTable, catalogTables, tableFiles } from '../../../local/lake.ts';
import { type DuckDbHandle, openDuckDb, parquetSource } from '../../helpers/duckdb.ts';
import { type DynaliteHandle, startDynalite } from '../../helpers/dynalite.ts';
import { type S3rverHandle, startS3rver } from '../../helpers/s3rver.ts';
import { exampleConfig, testApp } from '../../lib/helpers.ts';
import { toBatch } from '../parquet/fixtures.ts';

const trino = new TrinoSQL();
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 1, 2);
const STREAMS = ['players', 'sessions', 'payments'] as const satisfies readonly StreamName[];

let s3: S3rverHandle;
let dynamo: DynaliteHandle;
let duck: DuckDbHandle;
let work: string;
const statements: string[] = [];

/** One operator's lake in the local engines. */
interface Lake {
  readonly config: OperatorConfig;
  readonly comparison: KeyComparison;
  readonly key: Buffer;
  readonly bucket: string;
  readonly table: string;
  readonly database: string;
  readonly sink: S3Sink;
  readonly objects: ErasureObjects;
  readonly audit: ErasureAudit;
  readonly store: SyncStateStore;
  readonly athena: LocalAthena;
  readonly tables: readonly CatalogTable[];
  /** Committed windows per stream, in landing order. */
  readonly windows: Map<StreamName, { runId: string; windowId: string }[]>;
}

/** The pseudonym the mapper gives `player_id` of a stream (pseudonymInput of that stream and field). */
function landedPseudonym(lake: Lake, stream: StreamName, id: string): string {
  return createPseudonymizer(lake.key).pseudonymize(normalizeForPseudonym(stream, 'player_id', id, lake.comparison));
}

/** A landed row of a stream: every column filled by its type, then the given values. */
function landedRow(
  lake: Lake,
  stream: StreamName,
  runId: string,
  at: number,
  values: Record<string, LandedValue>,
): Record<string, LandedValue> {
  const row: Record<string, LandedValue> = {};
  for (const c of landedColumns(lake.config, stream)) {
    switch (c.type.kind) {
      case 'string':
        row[c.name] = `${c.name}-${at % 1000}`;
        break;
      case 'int32':
        row[c.name] = 1;
        break;
      case 'int64':
        row[c.name] = 1n;
        break;
      case 'boolean':
        row[c.name] = false;
        break;
      case 'decimal':
        row[c.name] = 1000n;
        break;
      case 'timestamp':
        row[c.name] = at;
        break;
      case 'date':
        row[c.name] = Math.floor(at / DAY);
        break;
    }
  }
  return {
    ...row,
    _run_id: runId,
    _cursor: at,
    _cursor_us: BigInt(at) * 1000n,
    _source_seq: 1n,
    _extracted_at: at + 1000,
    _deleted: false,
    ...values,
  };
}

/** A version to land: the player it belongs to, its key, cursor and (payments) amount. */
interface Version {
  readonly player: string;
  readonly id: string;
  readonly at: number;
  readonly amount?: bigint;
  readonly country?: string | null;
}

async function land(lake: Lake, stream: StreamName, runId: string, windowId: string, versions: readonly Version[]) {
  const columns = landedColumns(lake.config, stream);
  const key = { players: 'player_id', sessions: 'session_id', payments: 'payment_id' }[stream as 'players'];
  const rows = versions.map((v) =>
    landedRow(lake, stream, runId, v.at, {
      player_id: landedPseudonym(lake, stream, v.player),
      ...(stream === 'players' ? {} : { [key]: v.id }),
      ...(stream === 'payments'
        ? { amount: v.amount ?? 1000n, created_at: v.at - (v.at % DAY), updated_at: v.at }
        : stream === 'sessions'
          ? { started_at: v.at, ended_at: null, country: v.country ?? null }
          : { updated_at: v.at, registered_at: T0, country: v.country ?? 'MT' }),
    }),
  );
  const writer = new PartitionedPartWriter({
    sink: lake.sink,
    stream,
    runId,
    windowId,
    attempt: newAttemptId(),
    columns,
  });
  if (rows.length > 0) await writer.write(toBatch(columns, rows));
  const progress = await writer.close();
  const cursors = versions.map((v) => v.at);
  await commitWindow(lake.sink, {
    operatorId: lake.config.operatorId,
    stream,
    runId,
    windowId,
    from: new Date(Math.min(T0, ...cursors)),
    to: new Date(Math.max(T0, ...cursors)),
    columns,
    progress,
  });
  const list = lake.windows.get(stream) ?? [];
  list.push({ runId, windowId });
  lake.windows.set(stream, list);
}

/** Publishes every committed window of every stream, in landing order (re-running is harmless). */
async function publishAll(lake: Lake): Promise<void> {
  for (const [stream, windows] of lake.windows) {
    for (const w of windows) {
      const sql = mergeStatement({
        config: lake.config,
        stream,
        database: lake.database,
        source: { runIds: [w.runId], windowIds: [w.windowId] },
      });
      statements.push(sql);
      await lake.athena.execute(sql);
    }
  }
}

async function openLake(name: string, edits: [readonly (string | number)[], unknown][] = []): Promise<Lake> {
  const config = exampleConfig('acme-casino', [[['operatorId'], name], ...edits]);
  const bucket = await s3.createBucket();
  const table = await dynamo.createSyncStateTable();
  const app = testApp();
  const stack = new Stack(app, `Catalog-${name}`);
  const landing = new s3lib.Bucket(stack, 'Landing');
  const catalog = new DataCatalog(stack, 'DataCatalog', { config, bucket: landing });
  const template = app.synth().getStackByName(stack.stackName).template as CfnTemplate;
  const tables = catalogTables(template, {
    overrides: { [stack.getLogicalId(landing.node.defaultChild as CfnElement)]: bucket },
  });
  const athena = await LocalAthena.open({
    tables,
    s3: s3.client,
    databasePath: join(work, `${name}.duckdb`),
    cacheDir: join(work, `${name}-cache`),
  });
  return {
    config,
    comparison: config.source.keyComparison,
    key: randomBytes(32),
    bucket,
    table,
    database: catalog.databaseName,
    sink: new S3Sink({ client: s3.client, bucket }),
    objects: new ErasureObjects(s3.client, bucket),
    audit: new ErasureAudit(dynamo.doc, table),
    store: new SyncStateStore(dynamo.doc, table),
    athena,
    tables,
    windows: new Map(),
  };
}

/** Every object of the bucket with its ETag, every serving row, every item of the sync-state table. */
async function state(lake: Lake): Promise<{ objects: Record<string, string>; serving: unknown; items: unknown[] }> {
  const objects: Record<string, string> = {};
  let token: string | undefined;
  do {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: lake.bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) objects[o.Key!] = o.ETag ?? '';
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const serving: Record<string, unknown> = {};
  for (const stream of STREAMS)
    serving[stream] = await lake.athena.rows(lake.database, stream, ['player_id', '_cursor']);
  return { objects, serving, items: await scan(lake) };
}

async function scan(lake: Lake): Promise<Record<string, unknown>[]> {
  const out = await dynamo.doc.send(new ScanCommand({ TableName: lake.table }));
  return (out.Items ?? []).sort((a, b) => `${a.pk}${a.sk}`.localeCompare(`${b.pk}${b.sk}`));
}

/** Every row of the committed parts of a stream, read by DuckDB, with the part it is in. */
async function committedRows(lake: Lake, stream: StreamName): Promise<Record<string, unknown>[]> {
  const table = lake.tables.find((t) => t.name === `${stream}_landed`)!;
  const files = await tableFiles(s3.client, table);
  if (files.length === 0) return [];
  const dir = await mkdtemp(join(work, 'read-'));
  const paths = await s3.download(
    lake.bucket,
    files.map((f) => f.key),
    dir,
  );
  const rows = await duck.query(
    `SELECT * EXCLUDE (filename), replace(filename, '${dir}/', '') AS part FROM ${parquetSource(paths, 'filename = true, union_by_name = true')} ORDER BY part, _cursor, player_id`,
  );
  await rm(dir, { recursive: true, force: true });
  return rows;
}

const sortRows = (rows: Record<string, unknown>[]) => [...rows].map((r) => JSON.stringify(r)).sort();

async function erase(
  lake: Lake,
  id: string,
  options: { dryRun?: boolean; objects?: ErasureObjects; lockWaitMs?: number } = {},
) {
  const progress: string[] = [];
  const report = await erasePlayer({
    config: lake.config,
    database: lake.database,
    engine: lake.athena,
    sink: lake.sink,
    objects: options.objects ?? lake.objects,
    audit: lake.audit,
    locks: lake.store.locks,
    lockWaitMs: options.lockWaitMs ?? 0,
    pseudonym: playerPseudonym(lake.key, id, lake.comparison),
    keyComparison: lake.comparison,
    dryRun: options.dryRun ?? false,
    reference: 'DPO-2026-0042',
    tmpDir: work,
    onProgress: (m) => progress.push(m),
    onStatement: (sql) => statements.push(sql),
    onChanged: (keys) => lake.athena.forget(keys.map((key) => ({ bucket: lake.bucket, key }))),
  });
  return { report, progress };
}

beforeAll(async () => {
  [s3, dynamo, duck, work] = await Promise.all([
    startS3rver(),
    startDynalite(),
    openDuckDb(),
    mkdtemp(join(tmpdir(), 'erase-')),
  ]);
});

afterAll(async () => {
  duck?.close();
  await Promise.allSettled([s3?.stop(), dynamo?.stop()]);
  await rm(work, { recursive: true, force: true });
});

describe('the streams an erasure covers', () => {
  it('are the configured streams whose rows carry player_id', () => {
    const config = exampleConfig('acme-casino');
    const streams = erasableStreams(config);
    expect(streams).toEqual(STREAM_NAMES.filter((s) => config.streams[s]));
    expect(streams).toContain('players');
    expect(streams).toContain('payments');
  });

  it('read each committed window exactly, never a cross product of runs and windows', () => {
    expect(
      windowSources([
        { runId: 'snap', windowId: 'w1' },
        { runId: 'snap', windowId: 'w2' },
        { runId: 'incr-1', windowId: 'incr' },
        { runId: 'incr-2', windowId: 'incr' },
        { runId: 'file-1', windowId: 'file' },
      ]),
    ).toEqual([
      { runIds: ['snap'], windowIds: ['w1', 'w2'] },
      { runIds: ['file-1'], windowIds: ['file'] },
      { runIds: ['incr-1', 'incr-2'], windowIds: ['incr'] },
    ]);
    const many = Array.from({ length: 450 }, (_, i) => ({ runId: `r${String(i).padStart(3, '0')}`, windowId: 'incr' }));
    expect(windowSources(many).map((s) => s.runIds.length)).toEqual([200, 200, 50]);
  });
});

describe('erasing a player', () => {
  let lake: Lake;
  const ALICE = 'alice-0042';
  const OTHERS = ['bob-0007', 'carol-0013', 'dave-0099'];
  let before: Awaited<ReturnType<typeof state>>;
  let othersRaw: Record<string, string[]>;
  let othersServing: Record<string, string[]>;
  let expectedRaw: Record<string, number>;

  beforeAll(async () => {
    lake = await openLake('erase-casino');
    const players = [ALICE, ...OTHERS];
    // Snapshot: two windows of each stream, some with rows on two dates (two parts).
    await land(
      lake,
      'players',
      'snap-1',
      'w1',
      players.map((p, i) => ({ player: p, id: p, at: T0 + i * 1000 })),
    );
    await land(lake, 'players', 'snap-1', 'w2', []);
    for (const [w, day] of [
      ['w1', 0],
      ['w2', 1],
    ] as const) {
      await land(
        lake,
        'payments',
        'snap-1',
        w,
        players.flatMap((p, i) => [
          { player: p, id: `pay-${w}-${i}-a`, at: T0 + day * DAY + i * 60_000, amount: 1000n + BigInt(i) },
          { player: p, id: `pay-${w}-${i}-b`, at: T0 + (day + 2) * DAY + i * 60_000, amount: 2550n },
        ]),
      );
      await land(
        lake,
        'sessions',
        'snap-1',
        w,
        players.map((p, i) => ({ player: p, id: `ses-${w}-${i}`, at: T0 + day * DAY + i * 1000, country: null })),
      );
    }
    // Incremental runs: an update of alice (players, payments), a window with only alice's rows.
    await land(lake, 'players', 'incr-1', 'incr', [{ player: ALICE, id: ALICE, at: T0 + 5 * DAY, country: 'DE' }]);
    await land(lake, 'payments', 'incr-1', 'incr', [
      { player: ALICE, id: 'pay-w1-0-a', at: T0 + 5 * DAY, amount: 999n },
      { player: 'bob-0007', id: 'pay-new-bob', at: T0 + 5 * DAY + 1, amount: 12345n },
    ]);
    await land(lake, 'payments', 'incr-2', 'incr', [
      { player: ALICE, id: 'pay-new-alice', at: T0 + 6 * DAY, amount: 777n },
    ]);
    await publishAll(lake);

    expectedRaw = { players: 2, sessions: 2, payments: 4 + 2 };
    othersRaw = {};
    othersServing = {};
    for (const stream of STREAMS) {
      const others = new Set(OTHERS.map((p) => landedPseudonym(lake, stream, p)));
      othersRaw[stream] = sortRows((await committedRows(lake, stream)).filter((r) => others.has(String(r.player_id))));
      othersServing[stream] = sortRows(
        (await lake.athena.rows(lake.database, stream)).filter((r) => others.has(String(r.player_id))),
      );
    }
    before = await state(lake);
  });

  it('lands and publishes the players it is about (the fixture)', async () => {
    const alice = landedPseudonym(lake, 'payments', ALICE);
    const raw = await committedRows(lake, 'payments');
    expect(raw.filter((r) => r.player_id === alice)).toHaveLength(expectedRaw.payments!);
    const serving = await lake.athena.rows(lake.database, 'payments');
    expect(serving.filter((r) => r.player_id === alice)).toHaveLength(5);
    expect(serving.filter((r) => r.player_id !== alice)).toHaveLength(13);
  });

  it('dry run: reports the rows per table and the raw objects it would rewrite, and changes nothing', async () => {
    const { report } = await erase(lake, ALICE, { dryRun: true });
    expect(report.outcome).toBe('dry-run');
    expect(report.erasureId).toBeNull();
    const alice = landedPseudonym(lake, 'payments', ALICE);
    for (const stream of STREAMS) {
      const raw = (await committedRows(lake, stream)).filter((r) => r.player_id === alice);
      const serving = await duckCount(lake, stream, alice);
      expect(report.streams[stream]).toEqual({
        servingRows: serving,
        rawRows: raw.length,
        rawObjects: [...new Set(raw.map((r) => String(r.part)))].sort(),
      });
      expect(report.streams[stream]!.rawRows).toBe(expectedRaw[stream]);
    }
    expect(report.streams.payments!.servingRows).toBe(5);
    expect(report.streams.players!.servingRows).toBe(1);
    expect(await state(lake)).toEqual(before);
  });

  let erased: ErasureReport;
  let progress: string[];

  it("removes exactly the player's rows from every serving table and every committed part", async () => {
    ({ report: erased, progress } = await erase(lake, ALICE));
    expect(erased.outcome).toBe('erased');
    expect(erased.resumed).toBe(false);
    expect(erased.streams.payments).toMatchObject({ servingRows: 5, rawRows: 6 });
    expect(erased.streams.players).toMatchObject({ servingRows: 1, rawRows: 2 });
    expect(erased.streams.sessions).toMatchObject({ servingRows: 2, rawRows: 2 });
    for (const stream of STREAMS) {
      const alice = landedPseudonym(lake, stream, ALICE);
      const others = new Set(OTHERS.map((p) => landedPseudonym(lake, stream, p)));
      const raw = await committedRows(lake, stream);
      expect(raw.filter((r) => r.player_id === alice)).toEqual([]);
      expect(sortRows(raw.filter((r) => others.has(String(r.player_id))))).toEqual(othersRaw[stream]);
      expect(raw.every((r) => others.has(String(r.player_id)))).toBe(true);
      const serving = await lake.athena.rows(lake.database, stream);
      expect(serving.filter((r) => r.player_id === alice)).toEqual([]);
      expect(sortRows(serving)).toEqual(othersServing[stream]);
    }
  });

  it('keeps the committed lists as they were and every manifest true to its parts', async () => {
    const after = await state(lake);
    for (const key of Object.keys(before.objects)) expect(Object.keys(after.objects)).toContain(key);
    expect(Object.keys(after.objects)).toHaveLength(Object.keys(before.objects).length);
    for (const [key, etag] of Object.entries(before.objects)) {
      if (key.startsWith('_committed/')) expect(after.objects[key], key).toBe(etag);
    }
    const rewritten = Object.values(erased.streams).flatMap((s) => s.rawObjects);
    for (const key of Object.keys(before.objects).filter((k) => k.startsWith('raw/'))) {
      expect(after.objects[key] !== before.objects[key], key).toBe(rewritten.includes(key));
    }
    for (const stream of STREAMS) {
      const rows = await committedRows(lake, stream);
      for (const w of lake.windows.get(stream)!) {
        const committed = (await readCommittedWindow(lake.sink, stream, w.runId, w.windowId))!;
        const mine = rows.filter((r) => committed.partKeys.includes(String(r.part)));
        expect(committed.manifest.rowCount, `${stream} ${w.runId}/${w.windowId}`).toBe(mine.length);
        for (const part of committed.manifest.parts) {
          expect(part.rows).toBe(mine.filter((r) => r.part === part.key).length);
        }
        if (stream === 'payments') {
          const cents = mine.reduce((n, r) => n + Math.round(Number(r.amount) * 100), 0);
          expect(committed.manifest.moneySums.amount).toBe((cents / 100).toFixed(2));
        }
        const touched = committed.partKeys.some((k) => rewritten.includes(k));
        expect(committed.manifest.erasures?.map((e) => e.erasureId)).toEqual(touched ? [erased.erasureId] : undefined);
      }
    }
    // The window that held only the player's rows keeps a part: valid Parquet without rows.
    const only = (await readCommittedWindow(lake.sink, 'payments', 'incr-2', 'incr'))!;
    expect(only.manifest.rowCount).toBe(0);
    expect(only.manifest.minCursor).toBeNull();
    const dir = await mkdtemp(join(work, 'empty-'));
    const [path] = await s3.download(lake.bucket, [only.partKeys[0]!], dir);
    expect(await duck.query(`SELECT count(*) AS n FROM read_parquet('${path}')`)).toEqual([{ n: '0' }]);
  });

  it('records an audit entry with the pseudonym, when, tables and rows removed, and never the clear id', async () => {
    const items = await scan(lake);
    const pseudonym = playerPseudonym(lake.key, ALICE, lake.comparison);
    const request = items.find((i) => i.pk === `ERASURE#${pseudonym}` && i.sk === `REQUEST#${erased.erasureId}`);
    expect(request).toMatchObject({
      pseudonym,
      erasureId: erased.erasureId,
      status: 'complete',
      reference: 'DPO-2026-0042',
      keyComparison: { caseInsensitive: false, padSpace: false },
      streams: {
        players: { servingRows: 1, rawRows: 2, rawObjects: 2 },
        sessions: { servingRows: 2, rawRows: 2, rawObjects: 2 },
        payments: { servingRows: 5, rawRows: 6, rawObjects: erased.streams.payments!.rawObjects.length },
      },
    });
    expect(Date.parse(String(request!.completedAt))).toBeGreaterThanOrEqual(Date.parse(String(request!.startedAt)));
    const windows = items.filter((i) => String(i.sk).startsWith(`REQUEST#${erased.erasureId}#WINDOW#`));
    expect(windows.every((w) => w.status === 'done')).toBe(true);
    expect(windows.flatMap((w) => (w.parts as { key: string }[]).map((p) => p.key)).sort()).toEqual(
      Object.values(erased.streams)
        .flatMap((s) => s.rawObjects)
        .sort(),
    );
    const everything = JSON.stringify({ items, erased, progress, statements }).toLowerCase();
    expect(everything).not.toContain(ALICE.toLowerCase());
  });

  it('changes nothing, and says so, when run again', async () => {
    const now = await state(lake);
    const { report } = await erase(lake, ALICE);
    expect(report.outcome).toBe('already-erased');
    expect(report.erasureId).toBeNull();
    expect(report.previous).toEqual([{ erasureId: erased.erasureId, completedAt: expect.any(String) }]);
    expect(await state(lake)).toEqual(now);
  });

  it('is not undone by publishing the committed windows again', async () => {
    await publishAll(lake);
    for (const stream of STREAMS) {
      expect(await duckCount(lake, stream, landedPseudonym(lake, stream, ALICE))).toBe(0);
    }
  });

  it('waits for a running publish, and changes nothing when it does not finish in time', async () => {
    const now = await state(lake);
    expect(await lake.store.locks.acquire(PUBLISH_LOCK, 'publish-run-7', 3600)).toBe(true);
    try {
      await expect(erase(lake, 'bob-0007', { lockWaitMs: 0 })).rejects.toThrow(
        /a publish into the serving tables holds the publish lock \(publish-run-7\); nothing was changed/,
      );
    } finally {
      await lake.store.locks.release(PUBLISH_LOCK, 'publish-run-7');
    }
    expect(await state(lake)).toEqual(now);
  });

  it('finishes a request that stopped half-way when run again, adjusting each manifest once', async () => {
    const BOB = 'bob-0007';
    let uploads = 0;
    const holders: (string | undefined)[] = [];
    const failing = new ErasureObjects(s3.client, lake.bucket);
    const upload = failing.upload.bind(failing);
    failing.upload = async (key, body, contentType, metadata) => {
      holders.push((await lake.store.locks.get(PUBLISH_LOCK))?.owner);
      // The first window's manifest goes through, its first part does not.
      if (key.startsWith('raw/') && ++uploads === 1) throw new Error('connection reset');
      return upload(key, body, contentType, metadata);
    };
    await expect(erase(lake, BOB, { objects: failing })).rejects.toThrow(/connection reset/);
    const pseudonym = playerPseudonym(lake.key, BOB, lake.comparison);
    const { requests } = await lake.audit.list(pseudonym);
    expect(requests.map((r) => r.status)).toEqual(['running']);
    // No publish ran while the erasure rewrote; the lock is free again after the failure.
    expect(holders).toEqual([`erasure-${requests[0]!.erasureId}`, `erasure-${requests[0]!.erasureId}`]);
    expect(await lake.store.locks.get(PUBLISH_LOCK)).toBeUndefined();

    const { report } = await erase(lake, BOB);
    expect(report.outcome).toBe('erased');
    expect(report.resumed).toBe(true);
    expect(report.erasureId).toBe(requests[0]!.erasureId);
    expect(report.streams.payments).toMatchObject({ servingRows: 5, rawRows: 5 });
    for (const stream of STREAMS) {
      const bob = landedPseudonym(lake, stream, BOB);
      const rows = await committedRows(lake, stream);
      expect(rows.filter((r) => r.player_id === bob)).toEqual([]);
      expect(await duckCount(lake, stream, bob)).toBe(0);
      for (const w of lake.windows.get(stream)!) {
        const committed = (await readCommittedWindow(lake.sink, stream, w.runId, w.windowId))!;
        expect(committed.manifest.rowCount).toBe(
          rows.filter((r) => committed.partKeys.includes(String(r.part))).length,
        );
        const ids = committed.manifest.erasures?.map((e) => e.erasureId) ?? [];
        expect(new Set(ids).size).toBe(ids.length);
      }
    }
  });

  it('takes a located path that is a committed list for every part the list names', async () => {
    const CAROL = 'carol-0013';
    const carol = landedPseudonym(lake, 'payments', CAROL);
    const window = (await readCommittedWindow(lake.sink, 'payments', 'snap-1', 'w2'))!;
    const result = await eraseWindow({
      sink: lake.sink,
      objects: lake.objects,
      audit: lake.audit,
      operatorId: lake.config.operatorId,
      stream: 'payments',
      runId: 'snap-1',
      windowId: 'w2',
      pseudonym: carol,
      erasureId: 'list-path-test',
      partKeys: [window.committedKey],
      tmpDir: work,
    });
    expect(result?.parts.map((p) => p.key)).toEqual([...window.partKeys].sort());
    const rows = await committedRows(lake, 'payments');
    expect(rows.filter((r) => r.player_id === carol && window.partKeys.includes(String(r.part)))).toEqual([]);
    expect(rows.filter((r) => r.player_id === carol)).toHaveLength(2);
  });

  it('states what it leaves to expire on its own, with the operator retention settings', () => {
    expect(erased.residual.map((r) => r.where)).toEqual([
      expect.stringMatching(/^serving tables: data files that held the rows/),
      expect.stringMatching(/^raw zone: parts of extraction attempts that never committed/),
      expect.stringMatching(/^Athena query results/),
    ]);
    expect(erased.residual[0]!.goneWithin).toBe(
      "the table's next compaction of those files (any file with a delete qualifies) + 7 days of snapshot retention (once 3 newer snapshots exist) + 30 days as deleted object versions",
    );
    const noCompaction = residualCopies(exampleConfig('acme-casino', [[['serving', 'compaction'], false]]));
    expect(noCompaction[0]!.goneWithin).toMatch(/^no bound: serving\.compaction is false/);
    const files = residualCopies(exampleConfig('lucky-files'));
    expect(files.map((r) => r.where)).toContainEqual(expect.stringMatching(/^archive\/: the dropped original files/));
    expect(files.find((r) => r.where.startsWith('quarantine/'))?.goneWithin).toBe(
      '90 days after they were refused + 30 days as deleted object versions',
    );
  });

  it('sends only statements the Trino grammar accepts', () => {
    expect(statements.some((s) => s.startsWith('DELETE FROM'))).toBe(true);
    expect(statements.some((s) => s.includes('"$path"'))).toBe(true);
    for (const sql of statements) expect(trino.validate(sql), sql).toEqual([]);
  });
});

describe('erasing on an operator whose source ignores letter case and trailing spaces', () => {
  it('erases the player landed as "Zoë-Ann" when asked for "ZOË-ANN  "', async () => {
    const lake = await openLake('ci-casino', [
      [['source', 'keyComparison'], { caseInsensitive: true, padSpace: true }],
    ]);
    expect(lake.comparison).toEqual({ caseInsensitive: true, padSpace: true });
    await land(lake, 'players', 'snap-1', 'w1', [
      { player: 'Zoë-Ann', id: 'Zoë-Ann', at: T0 },
      { player: 'zoe-ann', id: 'zoe-ann', at: T0 + 1 },
    ]);
    await land(lake, 'payments', 'snap-1', 'w1', [
      { player: 'zoë-ann ', id: 'p1', at: T0 },
      { player: 'zoe-ann', id: 'p2', at: T0 + 1 },
    ]);
    await publishAll(lake);
    const landed = landedPseudonym(lake, 'players', 'Zoë-Ann');
    expect(landedPseudonym(lake, 'payments', 'zoë-ann ')).toBe(landed);
    // Under exact comparison the ids would be different players.
    expect(playerPseudonym(lake.key, 'ZOË-ANN  ', EXACT_KEY_COMPARISON)).not.toBe(landed);

    const { report } = await erase(lake, 'ZOË-ANN  ');
    expect(report.pseudonym).toBe(landed);
    expect(report.streams.players).toMatchObject({ servingRows: 1, rawRows: 1 });
    expect(report.streams.payments).toMatchObject({ servingRows: 1, rawRows: 1 });
    const other = landedPseudonym(lake, 'players', 'zoe-ann');
    for (const stream of ['players', 'payments'] as const) {
      const rows = await committedRows(lake, stream);
      expect(rows.map((r) => r.player_id)).toEqual([other]);
      expect((await lake.athena.rows(lake.database, stream)).map((r) => r.player_id)).toEqual([other]);
    }
  });
});

async function duckCount(lake: Lake, stream: StreamName, pseudonym: string): Promise<number> {
  const rows = await lake.athena.rows(lake.database, stream);
  return rows.filter((r) => r.player_id === pseudonym).length;
}
