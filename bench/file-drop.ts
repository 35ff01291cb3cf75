/**
 * File-drop benchmark: streams a generated CSV (2 GiB by default) through `landInboundFile`, the
 * core loop the ingest function runs (reader and validator, mapper with pseudonymization, the
 * partitioned Parquet part writer with parquet-wasm and zstd), once per worker count, each in its
 * own process (bench/file-drop-child.ts, bundled as the Lambda asset is built, worker entry
 * beside it). The Parquet bytes are counted and discarded (no S3), so the figure is the
 * CPU-bound path. The file is never held in memory: it is produced chunk by chunk from a few
 * pre-built blocks of rows.
 *
 *   npm run bench:file-drop -- [size in MiB, default 2048] [--gzip] [--workers 0,auto]
 *
 * `--gzip` compresses the stream on the fly (the reader then gunzips it); `--workers` lists the
 * worker counts to run (0 = this thread; `auto` = what the Lambda runtime chooses for this
 * machine's vCPUs; default `0,auto`). Prints a table and, as its last line, one JSON object (the
 * last run, with the single-thread run beside it):
 * `{"mib","mibPerSec","rowsPerSec","peakRssMb","writesParquet":true,"workers",…,"cpuSecondsPerMillionRows"}`.
 * CPU seconds count every thread of the process.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from '../lib/constructs/lambda-bundle.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const sizeMib = Number(args.find((a) => /^\d+$/.test(a)) ?? 2048);
const useGzip = args.includes('--gzip');
const workersArg = args.indexOf('--workers');
const workerCounts = (workersArg >= 0 ? (args[workersArg + 1] ?? '') : '0,auto')
  .split(',')
  .map((w) => (w === 'auto' ? undefined : Number(w)));
if (workerCounts.some((w) => w !== undefined && (!Number.isInteger(w) || w < 0))) {
  throw new Error('--workers needs a comma-separated list of counts (0 = single thread) or auto');
}

interface ChildResult {
  mib: number;
  rows: number;
  workers: number;
  seconds: number;
  cpuSeconds: number;
  mainThreadCpuSeconds?: number;
  parquetBytes: number;
  parquetParts: number;
  storedMib: number;
  gzip: boolean;
  ok: boolean;
  errors: number;
  peakRssMb: number;
}

function runChild(entry: string, env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const extra = (process.env.BENCH_CHILD_NODE_OPTIONS ?? '').split(' ').filter((o) => o !== '');
    const child = spawn(process.execPath, [...extra, entry], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`the file-drop child exited with ${code}: ${last}`));
      else resolve(JSON.parse(last) as ChildResult);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'connector-bench-'));
const results: Record<string, number | string | boolean>[] = [];
try {
  bundleForNode(dir, { 'file-drop-child': join(HERE, 'file-drop-child.ts') });
  for (const workers of workerCounts) {
    process.stderr.write(`file drop of ${sizeMib} MiB${useGzip ? ' (gzip)' : ''}, workers: ${workers ?? 'auto'}...\n`);
    const r = await runChild(join(dir, 'file-drop-child.mjs'), {
      BENCH_MIB: String(sizeMib),
      ...(useGzip ? { BENCH_GZIP: '1' } : {}),
      ...(workers === undefined ? {} : { BENCH_WORKERS: String(workers) }),
    });
    if (!r.ok) throw new Error(`the generated file was not accepted (${r.errors} problems)`);
    const round = (n: number, digits: number) => Number(n.toFixed(digits));
    results.push({
      mib: round(r.mib, 1),
      mibPerSec: round(r.mib / r.seconds, 1),
      rowsPerSec: Math.round(r.rows / r.seconds),
      peakRssMb: r.peakRssMb,
      writesParquet: true,
      workers: r.workers,
      rows: r.rows,
      seconds: round(r.seconds, 1),
      cpuSecondsPerMillionRows: round((r.cpuSeconds / r.rows) * 1e6, 2),
      ...(r.mainThreadCpuSeconds === undefined
        ? {}
        : { mainThreadCpuSecondsPerMillionRows: round((r.mainThreadCpuSeconds / r.rows) * 1e6, 2) }),
      parquetBytes: r.parquetBytes,
      parquetParts: r.parquetParts,
      storedMib: round(r.storedMib, 1),
      gzip: r.gzip,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      // 1-minute load average when the run ended: other work on the machine skews wall-clock figures.
      loadAvg1m: round(loadavg()[0]!, 2),
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const columns = [
  'workers',
  'mibPerSec',
  'rowsPerSec',
  'cpuSecondsPerMillionRows',
  'mainThreadCpuSecondsPerMillionRows',
  'peakRssMb',
  'seconds',
  'parquetBytes',
  'loadAvg1m',
];
console.log(`\n${columns.map((h) => h.slice(0, 16).padStart(17)).join('')}`);
for (const r of results) {
  console.log(columns.map((c) => String(r[c]?.toLocaleString('en-US') ?? '-').padStart(17)).join(''));
}
const last = results[results.length - 1]!;
const single = results.find((r) => r.workers === 0);
console.log(
  JSON.stringify({
    ...last,
    ...(single && single !== last
      ? {
          singleThreadMibPerSec: single.mibPerSec,
          singleThreadCpuSecondsPerMillionRows: single.cpuSecondsPerMillionRows,
          singleThreadPeakRssMb: single.peakRssMb,
        }
      : {}),
  }),
);
