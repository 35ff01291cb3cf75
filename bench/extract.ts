/**
 * Extraction benchmark: `npm run bench -- [--rows N] [--scale] [--url postgres://…]`
 *
 * Seeds a realistic game-rounds table (1,000,000 rows by default) in PostgreSQL (embedded unless
 * --url is given) and, on the same data, measures
 *   (a) the source's own export speed: `COPY (<the extractor's SELECT>) TO STDOUT (FORMAT csv)`,
 *       drained and discarded by a client;
 *   (b) the connector: one extract-window of the same range into Parquet on S3 (s3rver), with PII
 *       pseudonymization on, in a separate process whose peak RSS is reported.
 * Prints a table and, as its very last line, one JSON object (the last size measured):
 * `{"rows","copyRowsPerSec","connectorRowsPerSec","ratio","cpuSecondsPerMillionRows","peakRssMb",…}`.
 * CPU seconds count every thread of the extractor process (process.cpuUsage), so they stay
 * comparable when the machine is busy and when the work is spread over worker threads.
 * `--scale` repeats at 1M, 2M, 4M and 8M rows to show memory staying flat.
 *
 * The source and S3 run on the same machine here (PostgreSQL's server processes and s3rver in this
 * process), so during the extractor's run the bench also reads their CPU time (Linux `/proc`) and
 * the machine's busy time: `sourceCpuSecondsPerMillionRows`, `s3CpuSecondsPerMillionRows`,
 * `connectorCoresUsed` (extractor CPU seconds per wall second) and `machineCoresBusy`. In Lambda
 * the function's vCPUs do only the extractor's work; `cpuBoundRowsPerSec` (its vCPUs, one per
 * worker thread or one, divided by its CPU seconds per row) is the rate it reaches when they are
 * kept busy.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { bundleForNode } from '../lib/constructs/lambda-bundle.ts';
import { startEmbeddedPostgres } from '../local/embedded-postgres.ts';
import { startS3rver } from '../local/engines.ts';
import { benchConfig, measureCopy, seed } from './game-rounds.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Own schema per run: with --url the database may be shared with other runs. */
const SCHEMA = `bench_${process.pid}`;
/** V8 old-space limit of the extractor process, as a Lambda of this memory size would set it. */
const CHILD_NODE_OPTIONS = ['--max-old-space-size=160'];

/** Bundles the extractor side as the Lambda asset is built (no TypeScript loader at run time). */
function bundleExtractor(): { entry: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'connector-bench-'));
  bundleForNode(dir, { 'extract-child': join(HERE, 'extract-child.ts') });
  return { entry: join(dir, 'extract-child.mjs'), dir };
}

/** Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = 100;

/** CPU seconds of every PostgreSQL server process so far (Linux; 0 elsewhere). */
function postgresCpuSeconds(): number {
  let ticks = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue;
      const fields = stat.slice(close + 2).split(' ');
      // utime and stime of the process and of its children that ended (fields 14-17, counted from
      // field 3): a backend that served the extractor has ended by the second reading, and its
      // time is then in the postmaster's children's time.
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // The process ended between listing and reading.
    }
  }
  return ticks / CLK_TCK;
}

/** Busy and total CPU seconds of the whole machine so far (Linux `/proc/stat`; zeros elsewhere). */
function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const t = line.trim().split(/\s+/).slice(1).map(Number);
    const total = t.reduce((a, b) => a + b, 0);
    const idle = (t[3] ?? 0) + (t[4] ?? 0);
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
  } catch {
    return { busy: 0, total: 0 };
  }
}

interface Args {
  rows: number[];
  /** Worker threads of each extractor run (every run measured against its own COPY). */
  workers: (number | undefined)[];
  url?: string;
}

function parseArgs(argv: readonly string[]): Args {
  let rows = [1_000_000];
  // Default: the single-threaded path, then what the Lambda runtime chooses for this machine.
  let workers: (number | undefined)[] = [0, undefined];
  let url: string | undefined = process.env.CONNECTOR_BENCH_PG_URL;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--rows') rows = [Number(argv[++i])];
    else if (arg === '--scale') rows = [1_000_000, 2_000_000, 4_000_000, 8_000_000];
    else if (arg === '--url') url = argv[++i];
    else if (arg === '--workers')
      workers = (argv[++i] ?? '').split(',').map((w) => (w === 'auto' ? undefined : Number(w)));
    else if (arg === '--help') {
      console.log(
        'usage: npm run bench -- [--rows N] [--scale] [--workers 0,auto] [--url postgres://user@host:port/db]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (try --help)`);
  }
  if (rows.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--rows needs a positive integer');
  if (workers.some((w) => w !== undefined && (!Number.isInteger(w) || w < 0))) {
    throw new Error('--workers needs a comma-separated list of counts (0 = single thread) or auto');
  }
  return { rows, workers, ...(url ? { url } : {}) };
}

interface ChildResult {
  rows: number;
  workers: number;
  seconds: number;
  countSeconds: number;
  cpuSeconds: number;
  /** The main thread's share of cpuSeconds (Linux only). */
  mainThreadCpuSeconds?: number;
  parquetBytes: number;
  reconciled: boolean;
  peakRssMb: number;
}

function runExtractor(entry: string, env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    // BENCH_CHILD_NODE_OPTIONS adds options, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (every thread).
    const extra = (process.env.BENCH_CHILD_NODE_OPTIONS ?? '').split(' ').filter((o) => o !== '');
    const child = spawn(process.execPath, [...CHILD_NODE_OPTIONS, ...extra, entry], {
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
      if (code !== 0) reject(new Error(`extractor exited with ${code}: ${last}`));
      else resolve(JSON.parse(last) as ChildResult);
    });
  });
}

const args = parseArgs(process.argv.slice(2));
const bundle = bundleExtractor();
const embedded = args.url ? undefined : await startEmbeddedPostgres();
const url = args.url ?? embedded?.url ?? '';
const s3 = await startS3rver();
const client = new pg.Client({ connectionString: url, application_name: 'igaming-connector/bench' });
await client.connect();
const results: Record<string, number | string>[] = [];
try {
  for (const rows of args.rows) {
    process.stderr.write(`seeding ${rows.toLocaleString('en-US')} game rounds...\n`);
    const { from, to } = await seed(client, SCHEMA, rows);
    for (const workers of args.workers) {
      process.stderr.write('COPY ... TO STDOUT (FORMAT csv)...\n');
      const copy = await measureCopy(client, SCHEMA, from, to);
      if (copy.rows !== rows) throw new Error(`COPY returned ${copy.rows} rows, expected ${rows}`);
      process.stderr.write(`extract-window into Parquet on S3 (workers: ${workers ?? 'auto'})...\n`);
      const bucket = await s3.createBucket();
      const before = { pg: postgresCpuSeconds(), self: process.cpuUsage(), machine: machineCpuSeconds() };
      const ext = await runExtractor(bundle.entry, {
        BENCH_SOURCE_URL: url,
        BENCH_CONFIG: JSON.stringify(benchConfig(url, SCHEMA)),
        BENCH_FROM: from.toISOString(),
        BENCH_TO: to.toISOString(),
        BENCH_S3_ENDPOINT: s3.endpoint,
        BENCH_BUCKET: bucket,
        ...(workers === undefined ? {} : { BENCH_WORKERS: String(workers) }),
      });
      const self = process.cpuUsage(before.self);
      const machine = machineCpuSeconds();
      const others = {
        sourceCpuSeconds: postgresCpuSeconds() - before.pg,
        s3CpuSeconds: (self.user + self.system) / 1e6,
        machineBusySeconds: machine.busy - before.machine.busy,
        machineSeconds: (machine.total - before.machine.total) / availableParallelism(),
      };
      process.stderr.write(
        `connector ${ext.seconds.toFixed(2)} s, ${ext.cpuSeconds.toFixed(2)} s CPU (reconciliation count ${ext.countSeconds.toFixed(2)} s), COPY ${copy.seconds.toFixed(2)} s\n`,
      );
      if (ext.rows !== rows || !ext.reconciled) throw new Error(`the extractor landed ${ext.rows} of ${rows} rows`);
      const copyRowsPerSec = Math.round(copy.rows / copy.seconds);
      const connectorRowsPerSec = Math.round(ext.rows / ext.seconds);
      results.push({
        rows,
        copyRowsPerSec,
        connectorRowsPerSec,
        ratio: Math.round((connectorRowsPerSec / copyRowsPerSec) * 1000) / 1000,
        // CPU of the whole extractor process (every thread), per million rows: less noisy than wall time.
        cpuSecondsPerMillionRows: Math.round((ext.cpuSeconds / rows) * 1e6 * 100) / 100,
        // The main thread's part of it: with workers, what is left on the thread that reads and uploads.
        ...(ext.mainThreadCpuSeconds === undefined
          ? {}
          : { mainThreadCpuSecondsPerMillionRows: Math.round((ext.mainThreadCpuSeconds / rows) * 1e6 * 100) / 100 }),
        peakRssMb: ext.peakRssMb,
        workers: ext.workers,
        // Where the machine's cores went during the extractor's run.
        connectorCoresUsed: Math.round((ext.cpuSeconds / ext.seconds) * 100) / 100,
        sourceCpuSecondsPerMillionRows: Math.round((others.sourceCpuSeconds / rows) * 1e6 * 100) / 100,
        s3CpuSecondsPerMillionRows: Math.round((others.s3CpuSeconds / rows) * 1e6 * 100) / 100,
        machineCoresBusy:
          others.machineSeconds > 0 ? Math.round((others.machineBusySeconds / others.machineSeconds) * 100) / 100 : 0,
        // The rate when the extractor's vCPUs (one per worker, or one) do only its work.
        cpuBoundRowsPerSec: Math.round(
          (Math.min(availableParallelism(), Math.max(1, ext.workers)) * rows) / ext.cpuSeconds,
        ),
        parquetBytes: ext.parquetBytes,
        connectorSeconds: Math.round(ext.seconds * 100) / 100,
        copySeconds: Math.round(copy.seconds * 100) / 100,
        countSeconds: Math.round(ext.countSeconds * 100) / 100,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? 'unknown',
        // 1-minute load average when the run ended: other work on the machine skews wall-clock figures.
        loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
      });
    }
  }
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
  await client.end();
  await s3.stop();
  await embedded?.stop();
  rmSync(bundle.dir, { recursive: true, force: true });
}

const header = [
  'rows',
  'workers',
  'COPY rows/s',
  'connector rows/s',
  'ratio',
  'CPU s/M rows',
  'main CPU s/M',
  'peak RSS MB',
  'Parquet bytes',
];
console.log(`\n${header.map((h) => h.padStart(17)).join('')}`);
for (const r of results) {
  console.log(
    [
      r.rows,
      r.workers,
      r.copyRowsPerSec,
      r.connectorRowsPerSec,
      r.ratio,
      r.cpuSecondsPerMillionRows,
      r.mainThreadCpuSecondsPerMillionRows ?? '-',
      r.peakRssMb,
      r.parquetBytes,
    ]
      .map((v) => String(v?.toLocaleString('en-US')).padStart(17))
      .join(''),
  );
}
// The last run, with the single-threaded run of the same size beside it when there was one.
const last = results[results.length - 1]!;
const single = results.find((r) => r.rows === last.rows && r.workers === 0);
console.log(
  JSON.stringify({
    ...last,
    ...(single && single !== last
      ? {
          singleThreadRatio: single.ratio,
          singleThreadCpuSecondsPerMillionRows: single.cpuSecondsPerMillionRows,
          singleThreadPeakRssMb: single.peakRssMb,
        }
      : {}),
  }),
);
