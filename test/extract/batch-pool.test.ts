/**
 * The batch pool (worker threads mapping and encoding batches): what a worker produces equals what
 * the main thread produces from the same batch (values, pseudonyms, statistics, partition runs),
 * and a worker's error reaches the window as the same class with the same message.
 */
import { randomBytes } from 'node:crypto';
import { tableFromIPC } from 'apache-arrow';
import { readParquet } from 'parquet-wasm/node';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchPool, defaultBatchWorkers, functionVcpus } from '#shared/extract/batch-pool';
import { fromWireError, toWireError } from '#shared/extract/batch-wire';
import { landedColumns } from '#shared/landed-schema';
import { type EncodedBatch, RowGroupEncoder } from '#shared/landing/batch-encoding';
import { partFileOptions } from '#shared/landing/part-writer';
import { WindowStats } from '#shared/landing/stats';
import { CoercionError } from '#shared/mapping/errors';
import { createRowMapper } from '#shared/mapping/mapper';
import { databaseSourceSeq } from '#shared/mapping/version';
import { ParquetEncodeError } from '#shared/parquet/errors';
import { type EncodedRowGroups, RowGroupFileWriter } from '#shared/parquet/row-groups';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { GAME_ROUNDS_COLUMNS, GAME_ROUNDS_STREAM, gameRoundRows, operatorConfig } from '../shared/mapping/fixtures.ts';

const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
const key = randomBytes(32);
const extractedAt = Date.parse('2026-11-01T00:00:00Z');
const sourceSeq = databaseSourceSeq(1_790_000_000_000_000n);
const context = { operatorId: config.operatorId, stream: 'game_rounds', windowId: 'run-1/w-1' };
const columns = landedColumns(config, 'game_rounds');
const fileOptions = partFileOptions('game_rounds', columns);

function mainThread(rows: (string | null)[][], runId = 'run-1'): EncodedBatch {
  const mapper = createRowMapper({
    config,
    stream: 'game_rounds',
    sourceColumns: GAME_ROUNDS_COLUMNS,
    pseudonymizer: createPseudonymizer(key),
    runId,
    extractedAt: new Date(extractedAt),
    sourceSeq,
  });
  const encoder = new RowGroupEncoder(columns, context, fileOptions);
  encoder.add(mapper.map({ columns: GAME_ROUNDS_COLUMNS, rows }));
  return encoder.finish();
}

/** The rows of encoded row groups, read back by parquet-rs from a file made of them. */
async function rowsOf(groups: EncodedRowGroups): Promise<unknown[]> {
  const chunks: Uint8Array[] = [];
  const file = new RowGroupFileWriter(async (c) => {
    chunks.push(c);
  });
  await file.append(groups);
  await file.close();
  const table = tableFromIPC(readParquet(Buffer.concat(chunks)).intoIPCStream());
  return table.toArray().map((r) => r.toJSON());
}

const decoded = (batch: EncodedBatch) =>
  Promise.all(batch.segments.map(async (s) => ({ day: s.day, rows: await rowsOf(s.groups) })));

const init = {
  config,
  stream: 'game_rounds',
  sourceColumns: GAME_ROUNDS_COLUMNS,
  pseudonymKey: key,
  runId: 'run-1',
  extractedAt,
  sourceSeq,
  context,
  fileOptions,
} as const;

describe('BatchPool', () => {
  const workers = new BatchPool();
  const pool = workers.open(init, 2);
  afterAll(async () => {
    pool.close();
    await workers.close();
  });

  it('maps, pseudonymizes and encodes in workers exactly as on the main thread, in order', async () => {
    const rows = gameRoundRows(6000);
    const batches = [rows.slice(0, 2500), rows.slice(2500, 5000), rows.slice(5000)];
    const fromPool = await Promise.all(batches.map((b) => pool.encode([{ columns: GAME_ROUNDS_COLUMNS, rows: b }])));
    const expected = batches.map((b) => mainThread(b));
    for (let i = 0; i < batches.length; i++) {
      expect(fromPool[i]!.rowCount).toBe(batches[i]!.length);
      expect(fromPool[i]!.stats).toEqual(expected[i]!.stats);
      expect(await decoded(fromPool[i]!)).toEqual(await decoded(expected[i]!));
      // The same Parquet bytes: row groups encoded in a worker are those of this thread.
      expect(fromPool[i]!.segments.map((s) => Buffer.from(s.groups.body).toString('base64'))).toEqual(
        expected[i]!.segments.map((s) => Buffer.from(s.groups.body).toString('base64')),
      );
    }
    // One job of several source batches is one encoded run: its row groups span the batches.
    const job = await pool.encode(batches.map((b) => ({ columns: GAME_ROUNDS_COLUMNS, rows: b })));
    expect(job.rowCount).toBe(rows.length);
    expect(await decoded(job)).toEqual(await decoded(mainThread(rows)));
    // Merged statistics equal those of the whole input counted at once.
    const merged = new WindowStats(
      columns,
      columns.findIndex((c) => c.name === '_cursor'),
    );
    for (const b of fromPool) merged.merge(b.stats);
    const whole = new WindowStats(
      columns,
      columns.findIndex((c) => c.name === '_cursor'),
    );
    whole.add(
      createRowMapper({
        config,
        stream: 'game_rounds',
        sourceColumns: GAME_ROUNDS_COLUMNS,
        pseudonymizer: createPseudonymizer(key),
        runId: 'run-1',
        extractedAt: new Date(extractedAt),
        sourceSeq,
      }).map({ columns: GAME_ROUNDS_COLUMNS, rows }),
    );
    expect(merged.snapshot()).toEqual(whole.snapshot());
    expect((await pool.unmapped()).status?.count ?? 0).toBe(0);
  });

  it("fails a batch with the worker's CoercionError: same class, fields and message, no personal value", async () => {
    const rows = gameRoundRows(10);
    const bad = rows.map((r) => [...r]);
    bad[7]![4] = '12.345'; // bet_amount needs rounding at scale 2
    const inThread = (() => {
      try {
        mainThread(bad);
      } catch (e) {
        return e as CoercionError;
      }
      throw new Error('expected a CoercionError');
    })();
    const fromWorker = await pool.encode([{ columns: GAME_ROUNDS_COLUMNS, rows: bad }]).catch((e: unknown) => e);
    expect(fromWorker).toBeInstanceOf(CoercionError);
    expect((fromWorker as CoercionError).message).toBe(inThread.message);
    expect(fromWorker).toMatchObject({ name: 'CoercionError', retryable: false, field: 'stake', rowIndex: 7 });

    const personal = rows.map((r) => [...r]);
    personal[3]![1] = null; // customer_id (player_id) is required and personal
    const error = (await pool
      .encode([{ columns: GAME_ROUNDS_COLUMNS, rows: personal }])
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(CoercionError);
    // No personal value (customer ids) in the message; the row is named by its key, which is not personal.
    expect(error.message).toContain('value is NULL');
    for (const row of rows) expect(error.message).not.toContain(row[1]!);

    // The pool keeps working after a failed batch.
    expect((await pool.encode([{ columns: GAME_ROUNDS_COLUMNS, rows }])).rowCount).toBe(10);
  });

  it('keeps its workers warm between sessions, each with its own context, and stops them when idle', async () => {
    const warm = new BatchPool(300);
    try {
      const rows = gameRoundRows(300);
      const runIds = async (session: ReturnType<BatchPool['open']>) => {
        const encoded = await session.encode([{ columns: GAME_ROUNDS_COLUMNS, rows }]);
        const read = (await decoded(encoded)).flatMap((s) => s.rows) as { _run_id: string }[];
        return [...new Set(read.map((r) => r._run_id))];
      };
      const first = warm.open({ ...init, runId: 'run-a' }, 1);
      expect(await runIds(first)).toEqual(['run-a']);
      first.close();
      await expect(first.encode([{ columns: GAME_ROUNDS_COLUMNS, rows }])).rejects.toThrow('closed');
      // Two windows at once on the same worker, then a larger one: the first worker is reused.
      const a = warm.open({ ...init, runId: 'run-b' }, 1);
      const b = warm.open({ ...init, runId: 'run-c' }, 2);
      expect(warm.size).toBe(2);
      const [fromA, fromB] = await Promise.all([runIds(a), runIds(b)]);
      expect(fromA).toEqual(['run-b']);
      expect(fromB).toEqual(['run-c']);
      // The pseudonyms of a warm worker are those of a fresh one (same key, same values).
      expect(await decoded(await b.encode([{ columns: GAME_ROUNDS_COLUMNS, rows }]))).toEqual(
        await decoded(mainThread(rows, 'run-c')),
      );
      a.close();
      b.close();
      expect(warm.usable).toBe(true);
      // Idle for longer than its idle time: the workers stop, and the pool takes no new session.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(warm.usable).toBe(false);
      expect(() => warm.open(init, 1)).toThrow('closed');
    } finally {
      await warm.close();
    }
  });

  it('revives errors with their class, and picks one worker per vCPU from two vCPUs', () => {
    const revived = fromWireError(toWireError(new ParquetEncodeError(context, 'stake', 3, 'is too wide')));
    expect(revived).toBeInstanceOf(ParquetEncodeError);
    expect(revived.message).toBe(
      'acme-casino/game_rounds window run-1/w-1: column stake, row #3 of the batch: is too wide',
    );
    expect(defaultBatchWorkers(1)).toBe(0);
    expect(defaultBatchWorkers(2)).toBe(2);
    expect(defaultBatchWorkers(6)).toBe(6);
    // In Lambda the CPU share follows the memory size, whatever the kernel shows.
    expect(functionVcpus({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1769' }, 2)).toBe(1);
    expect(functionVcpus({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '3538' }, 2)).toBe(2);
    expect(functionVcpus({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '10240' }, 6)).toBe(6);
    expect(functionVcpus({ AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512' }, 2)).toBe(1);
    expect(functionVcpus({}, 4)).toBe(4);
  });
});
