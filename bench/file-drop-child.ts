/**
 * The ingest side of the file-drop benchmark, in its own process so its CPU time and peak resident
 * memory are its own: the generated CSV streamed through `landInboundFile`, the core loop of the
 * ingest function (reader and validator, mapper with pseudonymization, partitioned Parquet part
 * writer), on this thread or on the worker pool. The Parquet bytes go to a sink that counts and
 * discards them (no S3). Prints one JSON line with its figures.
 *
 * Environment: BENCH_MIB (size), BENCH_GZIP (1: gzip the stream on the fly), BENCH_WORKERS
 * (worker threads; default: as the Lambda runtime chooses for this machine), BENCH_CHUNK_MIB (text per
 * worker chunk; default FILE_CHUNK_BYTES).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { closeSharedBatchPool, defaultBatchWorkers } from '#shared/extract/batch-pool';
import { landInboundFile } from '#shared/ingest/index';
import { landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { newAttemptId } from '#shared/landing/window';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { ObjectSink } from '#shared/sink/sink';
import { fileDropConfig as config, generateFileDrop } from './file-drop-data.ts';

const MIB = 1024 * 1024;
const sizeMib = Number(process.env.BENCH_MIB ?? 2048);
const useGzip = process.env.BENCH_GZIP === '1';
const workers = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : defaultBatchWorkers();

/** CPU seconds of the main thread alone (Linux); undefined elsewhere (see bench/extract-child.ts). */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

let parquetBytes = 0;
let parquetParts = 0;
const countingSink: Pick<ObjectSink, 'openUpload'> = {
  openUpload: () => ({
    write: async (chunk) => {
      parquetBytes += chunk.byteLength;
    },
    end: async () => {
      parquetParts++;
    },
    abort: async () => {},
  }),
};

const stream = 'wallet_transactions';
const key = randomBytes(32);
const source = Readable.from(generateFileDrop(sizeMib), { objectMode: false });
const body = useGzip ? source.pipe(createGzip({ level: 1 })) : source;
const writer = new PartitionedPartWriter({
  sink: countingSink as ObjectSink,
  stream,
  runId: 'bench',
  windowId: 'file',
  attempt: newAttemptId(new Date()),
  columns: landedColumns(config, stream),
  operatorId: config.operatorId,
});

const started = performance.now();
const cpuStarted = process.cpuUsage();
const mainCpuStarted = mainThreadCpuSeconds();
const landed = await landInboundFile({
  config,
  file: { key: `inbound/${stream}/bench.csv`, time: new Date() },
  body,
  stream,
  writer,
  pseudonymizer: createPseudonymizer(key),
  pseudonymKey: key,
  runId: 'bench',
  extractedAt: new Date(),
  workers,
  ...(process.env.BENCH_CHUNK_MIB ? { chunkBytes: Number(process.env.BENCH_CHUNK_MIB) * MIB } : {}),
});
const { result } = landed;
const progress = result.ok ? await writer.close() : undefined;
if (!result.ok) await writer.abort();
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const mainCpuEnded = mainThreadCpuSeconds();
await closeSharedBatchPool();
if (progress && progress.rowCount !== result.rowsRead) {
  throw new Error(`the part writer landed ${progress.rowCount} of ${result.rowsRead} rows`);
}
console.log(
  JSON.stringify({
    mib: result.bytes / MIB,
    rows: result.rowsRead,
    workers: landed.workers,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    ...(mainCpuStarted !== undefined && mainCpuEnded !== undefined
      ? { mainThreadCpuSeconds: mainCpuEnded - mainCpuStarted }
      : {}),
    parquetBytes,
    parquetParts,
    storedMib: result.storedBytes / MIB,
    gzip: result.gzip,
    ok: result.ok,
    errors: result.errorCount,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
if (!result.ok) {
  console.error(JSON.stringify(result.reason?.errors.slice(0, 3), null, 2));
  process.exitCode = 1;
}
