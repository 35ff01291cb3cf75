/**
 * The batch worker's hot path in one process, without S3 or threads:
 * `npx tsx bench/worker-path.ts [rows] [--url postgres://…] [--runs N]`.
 *
 * Seeds the benchmark's game_rounds table (bench/game-rounds.ts) in its own schema, reads the
 * extractor's SELECT once as COPY text in 10,000-row batches, then runs what a batch worker does
 * with each 64k-row job (`parseCopyText` → `createRowMapper` → `RowGroupEncoder`) on this thread,
 * several times. Prints CPU seconds per million rows of each run and a SHA-256 digest of
 * everything produced (Parquet row group bytes, metadata and window statistics) with a fixed key,
 * run id and read time: two builds that print the same digest land the same bytes.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { operatorConfigSchema } from '#shared/config/schema';
import { landedColumns } from '#shared/landed-schema';
import { RowGroupEncoder } from '#shared/landing/batch-encoding';
import { partFileOptions } from '#shared/landing/part-writer';
import { createRowMapper } from '#shared/mapping/mapper';
import { databaseSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import { copyOutText, parseCopyText } from '#shared/sources/pg-copy';
import type { SourceColumn } from '#shared/types';
import { benchConfig, extractorSelect, GAME_ROUNDS_COLUMNS, seed } from './game-rounds.ts';

const argv = process.argv.slice(2);
let rows = 300_000;
let runs = 3;
let url = process.env.CONNECTOR_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]!;
  if (arg === '--url') url = argv[++i]!;
  else if (arg === '--runs') runs = Number(argv[++i]);
  else rows = Number(arg);
}

const SCHEMA = `bench_worker_${process.pid}`;
const JOB_ROWS = 64 * 1024;
const client = new pg.Client({ connectionString: url, application_name: 'igaming-connector/bench' });
await client.connect();
const texts: Buffer[] = [];
try {
  process.stderr.write(`seeding ${rows.toLocaleString('en-US')} game rounds...\n`);
  const { from, to } = await seed(client, SCHEMA, rows);
  for await (const batch of copyOutText(client, `COPY (${extractorSelect(SCHEMA, from, to)}) TO STDOUT`, 10_000)) {
    texts.push(batch.text);
  }
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
}

const config = operatorConfigSchema.parse(benchConfig(url, SCHEMA));
const sourceColumns: SourceColumn[] = GAME_ROUNDS_COLUMNS.map((name) => ({
  name,
  kind: name.endsWith('_ts') ? 'timestamp' : name.endsWith('_amount') ? 'decimal' : 'text',
  sourceType: name,
}));
const columns = landedColumns(config, 'game_rounds');
const context = { operatorId: config.operatorId, stream: 'game_rounds' as const, windowId: 'bench/1' };
const key = Buffer.alloc(32, 7);

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

for (let run = 1; run <= runs; run++) {
  const mapper = createRowMapper({
    config,
    stream: 'game_rounds',
    sourceColumns,
    pseudonymizer: createPseudonymizer(key),
    runId: 'bench-run',
    extractedAt: new Date(Date.UTC(2026, 0, 1)),
    sourceSeq: databaseSourceSeq(1_767_225_600_000_000n),
  });
  const encoder = new RowGroupEncoder(columns, context, partFileOptions('game_rounds', columns));
  const digest = createHash('sha256');
  const cpu = process.cpuUsage();
  const started = performance.now();
  let jobRows = 0;
  let landed = 0;
  const finishJob = () => {
    const encoded = encoder.finish();
    landed += encoded.rowCount;
    digest.update(json(encoded.stats));
    for (const s of encoded.segments) {
      digest.update(json({ day: s.day, rows: s.rows, groups: s.groups.rowGroups }));
      digest.update(s.groups.body);
      digest.update(s.groups.template);
    }
    jobRows = 0;
  };
  for (const text of texts) {
    encoder.add(mapper.map({ columns: sourceColumns, rows: parseCopyText(text) }));
    jobRows += 10_000;
    if (jobRows >= JOB_ROWS) finishJob();
  }
  finishJob();
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  console.log(
    `run ${run}: ${landed.toLocaleString('en-US')} rows in ${((performance.now() - started) / 1000).toFixed(2)} s, ` +
      `${((cpuSeconds * 1e6) / landed).toFixed(2)} CPU s/M rows, digest ${digest.digest('hex').slice(0, 16)}`,
  );
}
