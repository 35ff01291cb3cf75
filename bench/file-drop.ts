/**
 * Streams a generated CSV (2 GiB by default) through the file-drop path the ingest function runs:
 * reader and validator, mapper (type coercion, pseudonymization) and the partitioned Parquet part
 * writer (Arrow buffers, parquet-wasm encoding with zstd). The Parquet bytes go to a sink that
 * counts and discards them (no S3), so the figure is the CPU-bound path. The file is never held
 * in memory: it is produced chunk by chunk from a few pre-built blocks of rows.
 *
 *   npm run bench:file-drop -- [size in MiB, default 2048] [--gzip] [--no-write]
 *
 * `--gzip` compresses the stream on the fly (the reader then gunzips it); `--no-write` stops after
 * the mapper (the figure of earlier measurements). Ends with one JSON line:
 * `{"mib","mibPerSec","rowsPerSec","peakRssMb","writesParquet",…}`.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { readInboundFile } from '#shared/files/index';
import { landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { newAttemptId } from '#shared/landing/window';
import { createRowMapper } from '#shared/mapping/mapper';
import { fileSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { ObjectSink } from '#shared/sink/sink';
import { fileDropConfig as config, generateFileDrop } from './file-drop-data.ts';

const MIB = 1024 * 1024;
const args = process.argv.slice(2);
const sizeMib = Number(args.find((a) => /^\d+$/.test(a)) ?? 2048);
const useGzip = args.includes('--gzip');
const writesParquet = !args.includes('--no-write');

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);

const source = Readable.from(generateFileDrop(sizeMib), { objectMode: false });
const body = useGzip ? source.pipe(createGzip({ level: 1 })) : source;
const started = performance.now();
const cpuStarted = process.cpuUsage();
const file = readInboundFile({ config, key: 'inbound/wallet_transactions/bench.csv', body });
const mapper = createRowMapper({
  config,
  stream: file.stream,
  sourceColumns: file.columns,
  pseudonymizer: createPseudonymizer(randomBytes(32)),
  runId: 'bench',
  extractedAt: new Date(),
  sourceSeq: fileSourceSeq(new Date()),
});

/** Parquet objects written by the part writer: counted, then discarded. */
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
const writer = writesParquet
  ? new PartitionedPartWriter({
      sink: countingSink as ObjectSink,
      stream: file.stream,
      runId: 'bench',
      windowId: 'file',
      attempt: newAttemptId(new Date()),
      columns: landedColumns(config, file.stream),
      operatorId: config.operatorId,
    })
  : undefined;

let rows = 0;
let lastReport = started;
for await (const batch of file) {
  if (file.hasErrors || batch.rows.length === 0) continue;
  rows += batch.rows.length;
  const landed = mapper.map(batch);
  if (writer) await writer.write(landed);
  const now = performance.now();
  if (now - lastReport > 10_000) {
    lastReport = now;
    const mb = file.stats.bytes / MIB;
    console.log(
      `  ${mb.toFixed(0)} MiB, ${rows} rows, ${(mb / ((now - started) / 1000)).toFixed(1)} MiB/s, rss ${(process.memoryUsage.rss() / MIB).toFixed(0)} MiB`,
    );
  }
}
const result = file.result();
const progress = result.ok && writer ? await writer.close() : undefined;
if (!result.ok) await writer?.abort();
clearInterval(sampler);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);
const mib = result.bytes / MIB;
if (progress && progress.rowCount !== result.rowsRead) {
  throw new Error(`the part writer landed ${progress.rowCount} of ${result.rowsRead} rows`);
}
console.log(
  JSON.stringify({
    mib: Number(mib.toFixed(1)),
    mibPerSec: Number((mib / seconds).toFixed(1)),
    rowsPerSec: Math.round(result.rowsRead / seconds),
    peakRssMb: Number((peakRss / MIB).toFixed(0)),
    writesParquet,
    rows: result.rowsRead,
    seconds: Number(seconds.toFixed(1)),
    cpuSecondsPerMillionRows: Number((((cpu.user + cpu.system) / 1e6 / result.rowsRead) * 1e6).toFixed(2)),
    parquetBytes,
    parquetParts,
    storedMib: Number((result.storedBytes / MIB).toFixed(1)),
    gzip: result.gzip,
    ok: result.ok,
    errors: result.errorCount,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAvg1m: Number(loadavg()[0]!.toFixed(2)),
  }),
);
if (!result.ok) {
  console.error(JSON.stringify(result.reason?.errors.slice(0, 3), null, 2));
  process.exitCode = 1;
}
