/**
 * DuckDB prototype benchmark: `npm run bench:duckdb -- [--rows 300000,1000000] [--modes …]
 * [--url postgres://…] [--file-drop MiB] [--no-compare]`
 *
 * A benchmark, not a product path. On the seeded `game_rounds` table of `npm run bench`
 * (game-rounds.ts), each run of one process measures, per row count and one after the other:
 * - `js0` / `js`: the connector's extract-window (bench/extract-child.ts, single-threaded and with
 *   the worker pool the Lambda runtime chooses), Parquet to s3rver;
 * - `spool` / `appender` / `spool:sql`: COPY into DuckDB (duckdb-child.ts), mapped in SQL
 *   (duckdb-mapping.ts), zstd Parquet by DuckDB's writer to local files; `:sql` computes the
 *   pseudonyms in SQL (two sha256 per row) instead of in JS per distinct value.
 * Every run is a child process bundled with esbuild (CPU seconds from process.cpuUsage, peak RSS
 * its own). Then, unless --no-compare, the Parquet of the JS path and of DuckDB are read back with
 * DuckDB and compared row by row (every landed column but `_run_id`, `_extracted_at` and
 * `_source_seq`, which name the run), per `dt` partition, and by their Parquet schemas.
 * `--file-drop N` (default 64; 0 skips) streams the generated N MiB CSV of `npm run bench:file-drop`
 * through the JS path (reader, validator, mapper, Parquet writer) and through DuckDB.
 * Ends with one JSON line per measured run and a last summary line.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { bundleForNode } from '../lib/constructs/lambda-bundle.ts';
import { startEmbeddedPostgres } from '../local/embedded-postgres.ts';
import { startS3rver } from '../local/engines.ts';
import { checkExactness } from './duckdb-exactness.ts';
import { benchConfig, measureCopy, seed } from './game-rounds.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const SCHEMA = `bench_duck_${process.pid}`;
/** As `npm run bench` runs the JS extractor. */
const JS_NODE_OPTIONS = ['--max-old-space-size=160'];

interface Args {
  rows: number[];
  modes: string[];
  url?: string;
  fileDropMib: number;
  compare: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    rows: [300_000, 1_000_000],
    modes: ['js0', 'js', 'spool', 'appender', 'spool:sql'],
    fileDropMib: 64,
    compare: true,
    ...(process.env.CONNECTOR_BENCH_PG_URL ? { url: process.env.CONNECTOR_BENCH_PG_URL } : {}),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--rows') args.rows = (argv[++i] ?? '').split(',').map(Number);
    else if (arg === '--modes') args.modes = (argv[++i] ?? '').split(',').filter((m) => m !== '');
    else if (arg === '--url') args.url = argv[++i];
    else if (arg === '--file-drop') args.fileDropMib = Number(argv[++i]);
    else if (arg === '--no-compare') args.compare = false;
    else throw new Error(`unknown argument ${arg}`);
  }
  return args;
}

/** Bundles both children as the Lambda asset is built; DuckDB stays external (a native add-on). */
function bundle(): { js: string; duck: string; dirs: string[] } {
  const jsDir = mkdtempSync(join(tmpdir(), 'connector-bench-'));
  bundleForNode(jsDir, { 'extract-child': join(HERE, 'extract-child.ts') });
  // Inside the repository, so the external @duckdb/node-api resolves from node_modules.
  const duckDir = join(ROOT, '.tmp', `bench-duckdb-${process.pid}`);
  mkdirSync(duckDir, { recursive: true });
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    absWorkingDir: ROOT,
    entryPoints: { 'duckdb-child': join(HERE, 'duckdb-child.ts') },
    outdir: duckDir,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outExtension: { '.js': '.mjs' },
    banner: { js: "import { createRequire as __cr } from 'node:module';\nconst require = __cr(import.meta.url);" },
    minify: true,
    external: ['@duckdb/node-api', 'pg-native'],
    logLevel: 'error',
  });
  return { js: join(jsDir, 'extract-child.mjs'), duck: join(duckDir, 'duckdb-child.mjs'), dirs: [jsDir, duckDir] };
}

type ChildJson = Record<string, number | string | boolean | Record<string, number>>;

function runChild(entry: string, nodeOptions: string[], env: Record<string, string>): Promise<ChildJson> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeOptions, entry], {
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
      if (code !== 0) reject(new Error(`${entry} exited with ${code}: ${last}`));
      else resolve(JSON.parse(last) as ChildJson);
    });
  });
}

/** Parquet files under a directory, recursively, and their total size. */
function parquetFiles(dir: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.parquet')) {
        files.push(p);
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
const load = () => round(loadavg()[0]!);

/**
 * Reads both outputs with DuckDB and reports every difference: rows only on one side (values
 * compared as DuckDB reads them: decimals exact, timestamps as UTC instants), rows per `dt`, and
 * the Parquet schema (physical and logical types, repetition) and per-column statistics.
 */
async function compare(jsFiles: string[], duckFiles: string[]): Promise<Record<string, unknown>> {
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  await db.run(`SET TimeZone = 'UTC'`);
  const list = (files: string[]) => `[${files.map((f) => `'${f}'`).join(', ')}]`;
  const q = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJson();
  const src = (files: string[]) =>
    `(SELECT * EXCLUDE (_run_id, _extracted_at, _source_seq, filename), regexp_extract(filename, 'dt=([0-9-]+)', 1) AS dt FROM read_parquet(${list(files)}, filename = true))`;
  const onlyJs = await q(`SELECT count(*)::INT AS n FROM (FROM ${src(jsFiles)} EXCEPT ALL FROM ${src(duckFiles)})`);
  const onlyDuck = await q(`SELECT count(*)::INT AS n FROM (FROM ${src(duckFiles)} EXCEPT ALL FROM ${src(jsFiles)})`);
  const rows = await q(
    `SELECT (SELECT count(*) FROM ${src(jsFiles)})::INT AS js, (SELECT count(*) FROM ${src(duckFiles)})::INT AS duck`,
  );
  const schema = async (file: string) =>
    q(
      `SELECT name, type, repetition_type AS rep, logical_type AS logical FROM parquet_schema('${file}') WHERE name <> 'duckdb_schema' AND name <> 'arrow_schema' AND num_children IS NULL ORDER BY name`,
    );
  const jsSchema = await schema(jsFiles[0]!);
  const duckSchema = await schema(duckFiles[0]!);
  // Differences grouped by what differs: "<JS path> → <DuckDB>: columns".
  const grouped = new Map<string, string[]>();
  for (const c of jsSchema) {
    const d = duckSchema.find((x) => x.name === c.name);
    const diffs = d
      ? (['type', 'rep', 'logical'] as const)
          .filter((k) => String(c[k]) !== String(d[k]))
          .map((k) => `${k} ${String(c[k])} → ${String(d[k])}`)
      : ['missing in DuckDB'];
    for (const diff of diffs) grouped.set(diff, [...(grouped.get(diff) ?? []), String(c.name)]);
  }
  const schemaDiffs = [...grouped].map(([diff, cols]) => `${diff}: ${cols.join(', ')}`);
  // Statistics: file-level min/max over the row groups of every file, and null counts, per column.
  const stats = async (files: string[]) =>
    q(`SELECT path_in_schema AS col, bool_and(coalesce(stats_min_value, stats_min) IS NOT NULL) AS has_min_max, sum(stats_null_count)::BIGINT AS nulls,
         bool_and(stats_null_count IS NOT NULL) AS has_nulls, any_value(compression) AS compression, any_value(encodings) AS encodings,
         count(*)::INT AS chunks
       FROM parquet_metadata(${list(files)}) GROUP BY 1 ORDER BY 1`);
  const jsStats = await stats(jsFiles);
  const duckStats = await stats(duckFiles);
  const statsDiffs = jsStats.flatMap((c) => {
    const d = duckStats.find((x) => x.col === c.col);
    if (!d) return [];
    return (['has_min_max', 'nulls', 'has_nulls', 'compression'] as const)
      .filter((k) => String(c[k]) !== String(d[k]))
      .map((k) => `${String(c.col)}.${k}: ${String(c[k])} | ${String(d[k])}`);
  });
  const minMax = async (files: string[]) =>
    q(
      `SELECT ${['stake', 'payout', 'updated_at', '_cursor', '_cursor_us', 'player_id']
        .map((c) => `min(${c})::VARCHAR AS min_${c}, max(${c})::VARCHAR AS max_${c}`)
        .join(', ')} FROM read_parquet(${list(files)})`,
    ).catch(() => []);
  db.closeSync();
  instance.closeSync();
  return {
    rowsJs: rows[0]!.js,
    rowsDuck: rows[0]!.duck,
    onlyInJs: onlyJs[0]!.n,
    onlyInDuck: onlyDuck[0]!.n,
    schemaDiffs,
    statsDiffs,
    minMaxEqual: JSON.stringify(await minMax(jsFiles)) === JSON.stringify(await minMax(duckFiles)),
    jsFiles: jsFiles.length,
    duckFiles: duckFiles.length,
  };
}

const args = parseArgs(process.argv.slice(2));
const exactness = await checkExactness();
console.log(JSON.stringify({ exactness }));
const built = bundle();
const embedded = args.url ? undefined : await startEmbeddedPostgres();
const url = args.url ?? embedded?.url ?? '';
const s3 = await startS3rver();
const client = new pg.Client({ connectionString: url, application_name: 'igaming-connector/bench' });
await client.connect();
const key = randomBytes(32).toString('hex');
const work = mkdtempSync(join(tmpdir(), 'connector-duckdb-'));
process.stderr.write(`outputs under ${work}\n`);
const results: ChildJson[] = [];
const comparisons: Record<string, unknown>[] = [];

try {
  for (const rows of args.rows) {
    process.stderr.write(`seeding ${rows.toLocaleString('en-US')} game rounds...\n`);
    const { from, to } = await seed(client, SCHEMA, rows);
    const outputs = new Map<string, string[]>();
    for (const mode of args.modes) {
      const copy = await measureCopy(client, SCHEMA, from, to);
      const loadBefore = load();
      let child: ChildJson;
      let files: { files: string[]; bytes: number };
      if (mode === 'js0' || mode === 'js') {
        const bucket = await s3.createBucket();
        child = await runChild(built.js, JS_NODE_OPTIONS, {
          BENCH_SOURCE_URL: url,
          BENCH_CONFIG: JSON.stringify(benchConfig(url, SCHEMA)),
          BENCH_FROM: from.toISOString(),
          BENCH_TO: to.toISOString(),
          BENCH_S3_ENDPOINT: s3.endpoint,
          BENCH_BUCKET: bucket,
          BENCH_PSEUDONYM_KEY: key,
          ...(mode === 'js0' ? { BENCH_WORKERS: '0' } : {}),
        });
        const dir = join(work, `${mode}-${rows}`);
        const keys = (await s3.listKeys(bucket, 'raw/')).filter((k) => k.endsWith('.parquet'));
        await s3.download(bucket, keys, dir);
        files = parquetFiles(dir);
      } else {
        const [feed, pseudonyms] = mode.split(':');
        const dir = join(work, `${mode.replace(':', '-')}-${rows}`);
        child = await runChild(built.duck, [], {
          BENCH_MODE: feed!,
          BENCH_OUT: dir,
          BENCH_KEY: key,
          BENCH_PSEUDONYMS: pseudonyms === 'sql' ? 'sql' : 'join',
          BENCH_SOURCE_URL: url,
          BENCH_CONFIG: JSON.stringify(benchConfig(url, SCHEMA)),
          BENCH_SCHEMA: SCHEMA,
          BENCH_FROM: from.toISOString(),
          BENCH_TO: to.toISOString(),
        });
        files = parquetFiles(dir);
      }
      outputs.set(mode, files.files);
      const seconds = Number(child.seconds);
      const result: ChildJson = {
        kind: 'window',
        mode,
        rows,
        rowsPerSec: Math.round(rows / seconds),
        copyRowsPerSec: Math.round(copy.rows / copy.seconds),
        ratio: round(rows / seconds / (copy.rows / copy.seconds), 3),
        seconds: round(seconds),
        cpuSecondsPerMillionRows: round((Number(child.cpuSeconds) / rows) * 1e6),
        peakRssMb: Number(child.peakRssMb),
        parquetBytes: files.bytes,
        parquetFiles: files.files.length,
        ...(child.stageSeconds !== undefined ? { stageSeconds: child.stageSeconds } : {}),
        ...(child.hmacs !== undefined
          ? { hmacs: Number(child.hmacs), hmacSeconds: round(Number(child.hmacSeconds), 3) }
          : {}),
        loadAvg1mBefore: loadBefore,
        loadAvg1m: load(),
      };
      results.push(result);
      console.log(JSON.stringify(result));
    }
    if (args.compare) {
      const js = outputs.get('js0') ?? outputs.get('js');
      for (const [mode, files] of outputs) {
        if (mode.startsWith('js') || !js) continue;
        const c = { rows, mode, ...(await compare(js, files)) };
        comparisons.push(c);
        console.log(JSON.stringify(c));
      }
    }
  }

  if (args.fileDropMib > 0) {
    const mib = args.fileDropMib;
    // The JS path: npm run bench:file-drop (tsx, as that script runs), reader to Parquet writer.
    const loadBefore = load();
    const jsRun = await new Promise<ChildJson>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, 'file-drop.ts'), String(mib)], {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: ROOT,
      });
      let out = '';
      child.stdout.on('data', (d) => {
        out += String(d);
      });
      child.on('exit', (code) =>
        code === 0
          ? resolve(JSON.parse(out.trim().split('\n').pop()!) as ChildJson)
          : reject(new Error(`file-drop exited ${code}`)),
      );
    });
    const jsResult = { kind: 'file-drop', mode: 'js', ...jsRun, loadAvg1mBefore: loadBefore };
    results.push(jsResult);
    console.log(JSON.stringify(jsResult));
    for (const mode of ['file', 'file:sql']) {
      const dir = join(work, `${mode.replace(':', '-')}-${mib}`);
      const before = load();
      const child = await runChild(built.duck, [], {
        BENCH_MODE: 'file',
        BENCH_OUT: dir,
        BENCH_KEY: key,
        BENCH_PSEUDONYMS: mode.endsWith(':sql') ? 'sql' : 'join',
        BENCH_FILE_MIB: String(mib),
      });
      const files = parquetFiles(dir);
      const seconds = Number(child.seconds);
      const r: ChildJson = {
        kind: 'file-drop',
        mode: `duckdb-${mode}`,
        mib: round(Number(child.inputBytes) / 1048576, 1),
        mibPerSec: round(Number(child.inputBytes) / 1048576 / seconds, 1),
        rowsPerSec: Math.round(Number(child.rows) / seconds),
        peakRssMb: Number(child.peakRssMb),
        writesParquet: true,
        rows: Number(child.rows),
        seconds: round(seconds, 1),
        cpuSecondsPerMillionRows: round((Number(child.cpuSeconds) / Number(child.rows)) * 1e6),
        parquetBytes: files.bytes,
        parquetParts: files.files.length,
        loadAvg1mBefore: before,
        loadAvg1m: load(),
      };
      results.push(r);
      console.log(JSON.stringify(r));
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`).catch(() => undefined);
  await client.end();
  await s3.stop();
  await embedded?.stop();
  for (const d of [...built.dirs, ...(process.env.BENCH_KEEP ? [] : [work])])
    rmSync(d, { recursive: true, force: true });
}
console.log(JSON.stringify({ runs: results.length, exactness, comparisons }));
