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
import { operatorConfigSchema } from '#shared/config/schema';
import { readInboundFile } from '#shared/files/index';
import { landedColumns } from '#shared/landed-schema';
import { PartitionedPartWriter } from '#shared/landing/part-writer';
import { newAttemptId } from '#shared/landing/window';
import { createRowMapper } from '#shared/mapping/mapper';
import { fileSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { ObjectSink } from '#shared/sink/sink';

const MIB = 1024 * 1024;
const args = process.argv.slice(2);
const sizeMib = Number(args.find((a) => /^\d+$/.test(a)) ?? 2048);
const useGzip = args.includes('--gzip');
const writesParquet = !args.includes('--no-write');

const config = operatorConfigSchema.parse({
  operatorId: 'bench-files',
  displayName: 'Bench Files Ltd',
  stage: 'sandbox',
  account: '333333333333',
  region: 'eu-west-1',
  source: { type: 'files' },
  fileDrop: { timeZone: 'Europe/Malta', maxFileSizeMb: 9728 },
  streams: {
    wallet_transactions: {
      columns: {
        transaction_id: 'txn_id',
        player_id: 'customer_id',
        type: { column: 'txn_type', values: { BET: 'bet', WIN: 'win', DEP: 'deposit' } },
        amount: { column: 'amount', precision: 18, scale: 2 },
        balance_after: { column: 'balance', precision: 18, scale: 2 },
        currency: 'currency',
        round_id: 'round_id',
        created_at: 'booked_at',
      },
      format: { type: 'csv' },
    },
  },
});

const HEADER = 'txn_id,customer_id,txn_type,amount,balance,currency,round_id,booked_at\n';
const TYPES = ['BET', 'WIN', 'DEP'];

/**
 * About 1 MiB of rows; `seed` varies the values between blocks. Rows are booked through one day
 * (Malta time, so two UTC date partitions), in time order within a block, as a daily export is.
 */
function block(seed: number): Buffer {
  const rows: string[] = [];
  let size = 0;
  for (let i = 0; size < MIB; i++) {
    const n = seed * 100_000 + i;
    const second = n % 86_400;
    const hh = String(Math.floor(second / 3600)).padStart(2, '0');
    const mm = String(Math.floor((second % 3600) / 60)).padStart(2, '0');
    const ss = String(second % 60).padStart(2, '0');
    const row = `tx-${n},cust-${n % 50_000},${TYPES[n % 3]},${(n % 100_000) / 100},${(n % 7_000_000) / 100},EUR,rnd-${n},2024-03-10 ${hh}:${mm}:${ss}.${String(n % 1000).padStart(3, '0')}\n`;
    rows.push(row);
    size += row.length;
  }
  return Buffer.from(rows.join(''));
}

const blocks = Array.from({ length: 16 }, (_, i) => block(i));
const totalBytes = sizeMib * MIB;

function* generate(): Generator<Buffer> {
  yield Buffer.from(HEADER);
  let sent = 0;
  for (let i = 0; sent < totalBytes; i++) {
    const b = blocks[i % blocks.length]!;
    sent += b.length;
    yield b;
  }
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);

const source = Readable.from(generate(), { objectMode: false });
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
