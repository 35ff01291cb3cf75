/**
 * The DuckDB side of `npm run bench:duckdb`, in its own process so its CPU time and peak resident
 * memory are its own. Reads its input in chunks into a DuckDB table of VARCHAR columns, maps each
 * chunk with the SELECT of `duckdb-mapping.ts` and writes zstd Parquet partitioned by `dt` with
 * DuckDB's writer (multi-threaded), under BENCH_OUT/dt=<d>/c<chunk>-<n>.parquet. Prints one JSON line.
 *
 * BENCH_MODE:
 * - `spool`: `COPY (<SELECT>) TO STDOUT` (text format, the product's reader `copyOutText`) spooled
 *   undecoded into chunk files that DuckDB's `read_csv` loads while the next chunk is read;
 * - `appender`: the same COPY decoded into rows by the product's reader (`copyOutBatches`) and
 *   appended value by value with DuckDB's appender;
 * - `file`: the generated file-drop CSV of BENCH_FILE_MIB MiB (file-drop-data.ts), streamed and
 *   spooled in chunks split at row ends outside quotes, read with explicit VARCHAR columns.
 *
 * Environment: BENCH_MODE, BENCH_OUT, BENCH_KEY (hex pseudonym key), BENCH_PSEUDONYMS (`join`,
 * the default: HMAC in JS per distinct value; `sql`: HMAC from two sha256 calls per row),
 * BENCH_THREADS (DuckDB threads; default: every CPU); for windows BENCH_SOURCE_URL, BENCH_CONFIG,
 * BENCH_SCHEMA, BENCH_FROM, BENCH_TO; for files BENCH_FILE_MIB.
 */

import { once } from 'node:events';
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { operatorConfigSchema } from '#shared/config/schema';
import { fileSourceSeq } from '#shared/mapping/version';
import { copyOutBatches, copyOutText } from '#shared/sources/pg-copy';
import { hmacHex, type SqlMapping, type SqlSourceColumn, sqlMapping } from './duckdb-mapping.ts';
import { FILE_DROP_HEADER, fileDropConfig, generateFileDrop } from './file-drop-data.ts';
import { extractorSelect, GAME_ROUNDS_COLUMNS } from './game-rounds.ts';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Rows per chunk of a window (as COPY lines) and bytes per chunk of a file. */
const CHUNK_ROWS = 262_144;
const CHUNK_BYTES = 32 * 1024 * 1024;
/** Chunks spooled but not yet loaded before reading waits. */
const MAX_PENDING_CHUNKS = 2;

const mode = env('BENCH_MODE');
const out = env('BENCH_OUT');
const key = Buffer.from(env('BENCH_KEY'), 'hex');
const pseudonyms = process.env.BENCH_PSEUDONYMS === 'sql' ? 'sql' : 'join';
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const spoolDir = join(out, '.spool');
mkdirSync(spoolDir, { recursive: true });

const loadStarted = performance.now();
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const db: DuckDBConnection = await instance.connect();
await db.run(`SET TimeZone = 'UTC'`);
const loadSeconds = (performance.now() - loadStarted) / 1000;

const started = performance.now();
const cpuStarted = process.cpuUsage();
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

const isFile = mode === 'file';
const config = isFile ? fileDropConfig : operatorConfigSchema.parse(JSON.parse(env('BENCH_CONFIG')));
const stream = isFile ? 'wallet_transactions' : 'game_rounds';
const sourceColumns: SqlSourceColumn[] = isFile
  ? FILE_DROP_HEADER.trim()
      .split(',')
      .map((name) => ({ name, kind: name === 'booked_at' ? 'timestamp' : 'text' }))
  : GAME_ROUNDS_COLUMNS.map((name) => ({ name, kind: name.endsWith('_ts') ? 'timestamp' : 'text' }));
const columnsSpec = `{${sourceColumns.map((c) => `'${c.name}': 'VARCHAR'`).join(', ')}}`;

/** What was read and written, for the JSON line. */
let rows = 0;
let inputBytes = 0;
let chunks = 0;
let hmacs = 0;
let hmacSeconds = 0;
/** Wall seconds inside DuckDB per stage: loading chunks, finding new pseudonym inputs, mapping and writing. */
const stageSeconds = { load: 0, distinct: 0, mapWrite: 0 };

let mapping: SqlMapping;
/** Pseudonym tables (v = source value, p = pseudonym), created once, filled per chunk with new values. */
async function createPseudonymTables(m: SqlMapping): Promise<void> {
  for (const p of m.pseudonymColumns) await db.run(`CREATE TEMP TABLE ${p.table} (v VARCHAR PRIMARY KEY, p VARCHAR)`);
}

/** Pseudonyms of the chunk's values not seen before: HMAC in JS, appended to the pseudonym table. */
async function addPseudonyms(m: SqlMapping): Promise<void> {
  if (pseudonyms === 'sql') return;
  for (const p of m.pseudonymColumns) {
    const value = `raw."${p.source}"`;
    const t = performance.now();
    const reader = await db.runAndReadAll(
      `SELECT DISTINCT ${value} AS v FROM raw ANTI JOIN ${p.table} ON ${p.table}.v = ${value} WHERE ${value} IS NOT NULL`,
    );
    const values = reader.getColumnsJS()[0] as string[] | undefined;
    stageSeconds.distinct += (performance.now() - t) / 1000;
    if (!values || values.length === 0) continue;
    const t0 = performance.now();
    const appender = await db.createAppender(p.table, 'main', 'temp');
    for (const v of values) {
      appender.appendVarchar(v);
      appender.appendVarchar(hmacHex(key, p.input(v)));
      appender.endRow();
    }
    appender.closeSync();
    hmacSeconds += (performance.now() - t0) / 1000;
    hmacs += values.length;
  }
}

/** Maps the chunk in `raw` and writes its Parquet files. */
async function writeChunk(m: SqlMapping, rowOffset: number): Promise<void> {
  await addPseudonyms(m);
  const n = chunks++;
  const t = performance.now();
  await db.run(
    `COPY (${m.select(rowOffset)}) TO '${out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 131072, PARTITION_BY (dt), FILENAME_PATTERN 'c${n}-{i}', OVERWRITE_OR_IGNORE)`,
  );
  stageSeconds.mapWrite += (performance.now() - t) / 1000;
}

/** Loads spooled chunk files one after the other while the reader spools the next ones. */
class ChunkLoader {
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private failure: unknown;
  private offset = 0;

  constructor(private readonly csvOptions: string) {}

  async add(path: string, chunkRows: number | undefined): Promise<void> {
    if (this.failure) throw this.failure;
    this.pending++;
    this.queue = this.queue.then(async () => {
      try {
        if (this.failure) return;
        const t = performance.now();
        await db.run(
          `CREATE OR REPLACE TEMP TABLE raw AS SELECT * FROM read_csv('${path}', ${this.csvOptions}, header = false, auto_detect = false, columns = ${columnsSpec})`,
        );
        rmSync(path);
        stageSeconds.load += (performance.now() - t) / 1000;
        const count = Number((await db.runAndReadAll('SELECT count(*) FROM raw')).getColumnsJS()[0]![0]);
        if (chunkRows !== undefined && count !== chunkRows)
          throw new Error(`chunk ${path}: ${count} rows, expected ${chunkRows}`);
        await writeChunk(mapping, this.offset);
        this.offset += count;
        rows += count;
      } catch (e) {
        this.failure ??= e;
      } finally {
        this.pending--;
      }
    });
    while (this.pending >= MAX_PENDING_CHUNKS) await this.queue;
  }

  async finish(): Promise<void> {
    await this.queue;
    if (this.failure) throw this.failure;
  }
}

async function writeAll(file: WriteStream, buffer: Buffer): Promise<void> {
  if (!file.write(buffer)) await once(file, 'drain');
}

async function closeFile(file: WriteStream): Promise<void> {
  file.end();
  await once(file, 'close');
}

if (isFile) {
  mapping = sqlMapping({
    config,
    stream,
    sourceColumns,
    runId: 'bench',
    extractedAt: new Date(),
    sourceSeq: fileSourceSeq(new Date()),
    copyText: false,
    pseudonyms,
    key,
  });
  await createPseudonymTables(mapping);
  const loader = new ChunkLoader(`delim = ',', quote = '"', escape = '"', strict_mode = true`);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let header = true;
  /** Quotes seen since the last row end: a newline ends a row only when the count is even. */
  let openQuote = false;
  const flush = async (upTo: Buffer[]) => {
    const path = join(spoolDir, `chunk-${chunks}-${Math.random().toString(36).slice(2)}.csv`);
    const f = createWriteStream(path);
    for (const b of upTo) await writeAll(f, b);
    await closeFile(f);
    await loader.add(path, undefined);
  };
  for (let chunk of generateFileDrop(Number(env('BENCH_FILE_MIB')))) {
    inputBytes += chunk.length;
    if (header) {
      const nl = chunk.indexOf(10);
      if (chunk.subarray(0, nl + 1).toString() !== FILE_DROP_HEADER) throw new Error('unexpected header');
      chunk = chunk.subarray(nl + 1);
      header = false;
    }
    // The last row end outside quotes in this chunk.
    let cut = -1;
    if (chunk.indexOf(34) === -1 && !openQuote) cut = chunk.lastIndexOf(10);
    else {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i];
        if (c === 34) openQuote = !openQuote;
        else if (c === 10 && !openQuote) cut = i;
      }
    }
    if (pendingBytes + chunk.length >= CHUNK_BYTES && cut >= 0) {
      const rest = chunk.subarray(cut + 1);
      await flush([...pending, chunk.subarray(0, cut + 1)]);
      pending = rest.length > 0 ? [Buffer.from(rest)] : [];
      pendingBytes = rest.length;
    } else {
      pending.push(chunk);
      pendingBytes += chunk.length;
    }
  }
  if (pendingBytes > 0) await flush(pending);
  await loader.finish();
} else {
  const client = new pg.Client({
    connectionString: env('BENCH_SOURCE_URL'),
    application_name: 'igaming-connector/bench',
  });
  await client.connect();
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const readAt = await client.query<{ us: string }>(`SELECT (extract(epoch FROM now()) * 1000000)::bigint::text AS us`);
  mapping = sqlMapping({
    config,
    stream,
    sourceColumns,
    runId: 'bench',
    extractedAt: new Date(),
    sourceSeq: { kind: 'constant', value: BigInt(readAt.rows[0]!.us) },
    copyText: true,
    pseudonyms,
    key,
  });
  await createPseudonymTables(mapping);
  const copySql = `COPY (${extractorSelect(env('BENCH_SCHEMA'), new Date(env('BENCH_FROM')), new Date(env('BENCH_TO')))}) TO STDOUT`;
  if (mode === 'spool') {
    const loader = new ChunkLoader(`delim = '\t', quote = '', escape = '', nullstr = '\\N'`);
    let file: WriteStream | undefined;
    let path = '';
    let chunkRows = 0;
    for await (const batch of copyOutText(client, copySql, 16_384)) {
      if (!file) {
        path = join(spoolDir, `chunk-${Math.random().toString(36).slice(2)}.tsv`);
        file = createWriteStream(path);
      }
      await writeAll(file, batch.text);
      inputBytes += batch.text.length;
      chunkRows += batch.rows;
      if (chunkRows >= CHUNK_ROWS) {
        await closeFile(file);
        await loader.add(path, chunkRows);
        file = undefined;
        chunkRows = 0;
      }
    }
    if (file) {
      await closeFile(file);
      await loader.add(path, chunkRows);
    }
    await loader.finish();
  } else if (mode === 'appender') {
    const create = `CREATE OR REPLACE TEMP TABLE raw (${sourceColumns.map((c) => `"${c.name}" VARCHAR`).join(', ')})`;
    await db.run(create);
    let appender = await db.createAppender('raw', 'main', 'temp');
    let chunkRows = 0;
    let offset = 0;
    const width = sourceColumns.length;
    const flush = async () => {
      appender.closeSync();
      await writeChunk(mapping, offset);
      offset += chunkRows;
      rows += chunkRows;
      chunkRows = 0;
      await db.run(create);
      appender = await db.createAppender('raw', 'main', 'temp');
    };
    for await (const batch of copyOutBatches(client, copySql, 16_384)) {
      for (const row of batch) {
        for (let c = 0; c < width; c++) {
          const v = row[c];
          if (v === null || v === undefined) appender.appendNull();
          else appender.appendVarchar(v);
        }
        appender.endRow();
      }
      chunkRows += batch.length;
      if (chunkRows >= CHUNK_ROWS) await flush();
    }
    if (chunkRows > 0) await flush();
    appender.closeSync();
  } else {
    throw new Error(`unknown BENCH_MODE ${mode}`);
  }
  await client.query('COMMIT');
  await client.end();
}

const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStarted);
clearInterval(sampler);
rmSync(spoolDir, { recursive: true, force: true });
const outRows = Number(
  (await db.runAndReadAll(`SELECT count(*) FROM read_parquet('${out}/**/*.parquet')`)).getColumnsJS()[0]![0],
);
if (outRows !== rows) throw new Error(`wrote ${outRows} rows, read ${rows}`);
console.log(
  JSON.stringify({
    mode,
    pseudonyms,
    threads,
    rows,
    inputBytes,
    chunks,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMb: Math.round(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1024 / 1024),
    hmacs,
    hmacSeconds,
    stageSeconds,
    duckdbStartSeconds: loadSeconds,
  }),
);
db.closeSync();
instance.closeSync();
