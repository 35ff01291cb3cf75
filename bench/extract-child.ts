/**
 * The extractor side of the benchmark, in its own process so its peak resident memory is its own:
 * one extract-window of the whole benchmark range into Parquet on S3 (s3rver), with PII
 * pseudonymization on. Prints one JSON line with its figures.
 *
 * Environment: BENCH_SOURCE_URL, BENCH_CONFIG (the operator config as JSON), BENCH_FROM, BENCH_TO, BENCH_S3_ENDPOINT, BENCH_BUCKET,
 * BENCH_WORKERS (worker threads; default: as the Lambda runtime chooses for this machine),
 * BENCH_PSEUDONYM_KEY (hex; default: a random key).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { parseSourceUrl } from '#shared/adapters/index';
import { operatorConfigSchema } from '#shared/config/schema';
import { defaultBatchWorkers } from '#shared/extract/batch-pool';
import { extractRange } from '#shared/extract/extract-range';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { S3Sink } from '#shared/sink/s3';
import { applicationNameFor, openSource } from '#shared/sources/index';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const url = env('BENCH_SOURCE_URL');
const config = operatorConfigSchema.parse(JSON.parse(env('BENCH_CONFIG')));

const client = new S3Client({
  endpoint: env('BENCH_S3_ENDPOINT'),
  region: 'eu-west-1',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
const sink = new S3Sink({
  client,
  bucket: env('BENCH_BUCKET'),
  kmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/bench',
});
// BENCH_PSEUDONYM_KEY (hex) lets another engine's output be compared pseudonym for pseudonym.
const key = process.env.BENCH_PSEUDONYM_KEY ? Buffer.from(process.env.BENCH_PSEUDONYM_KEY, 'hex') : randomBytes(32);
const source = await openSource(parseSourceUrl(url), {
  applicationName: applicationNameFor('bench-casino', 'game_rounds'),
  statementTimeoutSeconds: 900,
  timeZone: 'Europe/Malta',
});

// Time spent in the reconciliation count, reported apart from the read.
let countSeconds = 0;
const countAndSums = source.countAndSums.bind(source);
source.countAndSums = async (spec) => {
  const t0 = performance.now();
  try {
    return await countAndSums(spec);
  } finally {
    countSeconds += (performance.now() - t0) / 1000;
  }
};

/**
 * CPU seconds of this process's main thread alone (Linux: `/proc/self/task/<pid>/stat`, utime and
 * stime in clock ticks of 1/100 s); undefined where that file does not exist. With worker threads
 * it shows how much of the work is left on the thread that reads, places row groups and uploads.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

// Worker threads: BENCH_WORKERS, else what the Lambda runtime uses for this machine's vCPUs.
const workers = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : defaultBatchWorkers();
const started = performance.now();
const cpuStarted = process.cpuUsage();
const mainCpuStarted = mainThreadCpuSeconds();
const outcome = await extractRange(
  {
    config,
    source,
    sink,
    pseudonymizer: createPseudonymizer(key),
    pseudonymKey: key,
    remainingMs: () => Number.MAX_SAFE_INTEGER,
    workers,
  },
  {
    stream: 'game_rounds',
    runId: 'bench',
    windowId: 'all',
    from: new Date(env('BENCH_FROM')),
    to: new Date(env('BENCH_TO')),
  },
);
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
const mainCpuEnded = mainThreadCpuSeconds();
await source.close();
if (outcome.status !== 'complete') throw new Error('the benchmark window did not complete in one invocation');
console.log(
  JSON.stringify({
    rows: outcome.totalRows,
    workers,
    seconds,
    countSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    ...(mainCpuStarted !== undefined && mainCpuEnded !== undefined
      ? { mainThreadCpuSeconds: mainCpuEnded - mainCpuStarted }
      : {}),
    parquetBytes: outcome.totalBytes,
    parts: outcome.manifestKey ? undefined : 0,
    reconciled: outcome.reconciliation.ok,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
