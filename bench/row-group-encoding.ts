/**
 * Where the time of encoding one row group goes: `npx tsx bench/row-group-encoding.ts [rows]`
 * maps a game_rounds batch (mapping/fixtures), then times, per row group of `rows` rows (default
 * 65,536, a worker's job), each step of `encodeRowGroups`: copying the landed batch into Arrow
 * buffers, the Arrow IPC stream, parquet-wasm's `writeParquet` with zstd (the writer compressing)
 * and without compression, and Node's zstd over the uncompressed pages (`compressPages`). Both ways
 * of compressing are checked to give the same row count; CPU time of this process, best of
 * several rounds, so it can be compared on a loaded machine.
 */
import { RecordBatchStreamWriter } from 'apache-arrow';
import { Table as WasmTable, writeParquet } from 'parquet-wasm/node';
import { landedColumns } from '#shared/landed-schema';
import { partFileOptions } from '#shared/landing/part-writer';
import { createRowMapper } from '#shared/mapping/mapper';
import { databaseSourceSeq } from '#shared/mapping/version';
import { compressPages } from '#shared/parquet/compress-pages';
import { createParquetEncoder } from '#shared/parquet/encoder';
import { writerProperties } from '#shared/parquet/file-stream';
import { rowGroupsOf } from '#shared/parquet/row-groups';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import {
  GAME_ROUNDS_COLUMNS,
  GAME_ROUNDS_STREAM,
  gameRoundRows,
  operatorConfig,
  TEST_KEY,
} from '../test/shared/mapping/fixtures.ts';

const rows = Number(process.argv[2] ?? 65_536);
const config = operatorConfig({ game_rounds: GAME_ROUNDS_STREAM });
const mapper = createRowMapper({
  config,
  stream: 'game_rounds',
  sourceColumns: GAME_ROUNDS_COLUMNS,
  pseudonymizer: createPseudonymizer(TEST_KEY),
  runId: 'bench',
  extractedAt: new Date(),
  sourceSeq: databaseSourceSeq(BigInt(Date.now()) * 1000n),
});
const landed = mapper.map({ columns: GAME_ROUNDS_COLUMNS, rows: gameRoundRows(rows) });
const columns = landedColumns(config, 'game_rounds');
const options = partFileOptions('game_rounds', columns);
const context = { operatorId: config.operatorId, stream: 'game_rounds', windowId: 'bench/w' };

/** CPU milliseconds of `fn`. */
function cpuMs<T>(fn: () => T): [number, T] {
  const start = process.cpuUsage();
  const value = fn();
  const used = process.cpuUsage(start);
  return [(used.user + used.system) / 1000, value];
}

const best: Record<string, number> = {};
const keep = (step: string, ms: number) => {
  best[step] = Math.min(best[step] ?? Number.POSITIVE_INFINITY, ms);
};
let sizes = { writer: 0, node: 0 };
for (let round = 0; round < 8; round++) {
  const encoder = createParquetEncoder(columns, { batchRows: rows, batchBytes: 1 << 30, context });
  const [append] = cpuMs(() => {
    let at = 0;
    while (at < rows) at = encoder.append(landed, at, rows);
  });
  const [ipcMs, ipc] = cpuMs(() => RecordBatchStreamWriter.writeAll([encoder.recordBatch()]).toUint8Array(true));
  const [zstdInWriter, a] = cpuMs(() =>
    rowGroupsOf(writeParquet(WasmTable.fromIPCStream(ipc), writerProperties(options))),
  );
  const [uncompressed, plain] = cpuMs(() =>
    rowGroupsOf(writeParquet(WasmTable.fromIPCStream(ipc), writerProperties({ ...options, compression: 'none' }))),
  );
  const [nodeZstd, b] = cpuMs(() => compressPages(plain));
  if (a.rows !== rows || b.rows !== rows) throw new Error('a row group lost rows');
  sizes = { writer: a.body.byteLength, node: b.body.byteLength };
  keep('append to Arrow buffers', append);
  keep('Arrow IPC stream', ipcMs);
  keep('writeParquet, zstd in the writer', zstdInWriter);
  keep('writeParquet, uncompressed', uncompressed);
  keep("compressPages (Node's zstd)", nodeZstd);
}
for (const [step, ms] of Object.entries(best)) console.log(`${step.padEnd(36)} ${ms.toFixed(1).padStart(7)} ms`);
const before = best['writeParquet, zstd in the writer']!;
const after = best['writeParquet, uncompressed']! + best["compressPages (Node's zstd)"]!;
console.log(
  JSON.stringify({
    rows,
    zstdInWriterMs: Number(before.toFixed(1)),
    uncompressedPlusNodeZstdMs: Number(after.toFixed(1)),
    savedCpuSecondsPerMillionRows: Number((((before - after) / rows) * 1000).toFixed(2)),
    bytesZstdInWriter: sizes.writer,
    bytesNodeZstd: sizes.node,
  }),
);
