/**
 * CSV file drops read on the worker pool (land-file.ts, batch-worker.ts) against the same files
 * read on one thread: the landed rows (every column but the run id and extraction time, which
 * name the run) and the quarantine reasons must be identical. Chunks and reader batches are made
 * small, so a file is cut into many chunks; two workers.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import { closeSharedBatchPool, sharedBatchPool } from '#shared/extract/batch-pool';
import type { FileLimits } from '#shared/files/index';
import { type IngestDeps, type IngestOutcome, ingestObject, parseObjectCreatedEvent } from '#shared/ingest/index';
import type { WindowManifest } from '#shared/landing/window';
import {
  getJson,
  type IngestEnv,
  ingestDeps,
  luckyConfig,
  objectCreatedEventBody,
  PSEUDONYM_KEY,
  readLanded,
  startIngestEnv,
  upload,
} from './fixtures.ts';

const HEADER = 'PlayerID;Registered;LastModified;Country;Currency;Status';
const STATUSES = ['Active', 'Suspended', 'Closed', 'Excluded', 'Pending'];

let env: IngestEnv;
let latin1: OperatorConfig;
let utf8: OperatorConfig;
let runs = 0;

beforeAll(async () => {
  env = await startIngestEnv();
  latin1 = luckyConfig();
  const copy = structuredClone(latin1) as { streams: { players: { format: Record<string, unknown> } } };
  copy.streams.players.format.encoding = 'utf-8';
  utf8 = copy as unknown as OperatorConfig;
});
afterAll(async () => {
  await closeSharedBatchPool();
  await env?.stop();
});

interface Options {
  readonly config?: OperatorConfig;
  readonly limits?: FileLimits;
  /** Rows per reader batch (chunks end at batch ends). */
  readonly batchRows?: number;
  /** @default players (CSV) */
  readonly stream?: 'players' | 'payments';
}

/** Ingests `body` twice, on this thread and on a pool of two, with the same receive time. */
async function bothWays(body: string | Uint8Array, options: Options = {}) {
  const config = options.config ?? latin1;
  const time = new Date('2026-03-02T10:00:00.000Z');
  const run = ++runs;
  const base = (): IngestDeps => ({
    ...ingestDeps(env, config),
    batchRows: options.batchRows ?? 250,
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const ingest = async (key: string, deps: IngestDeps) => {
    const fields = { ...(await upload(env, key, body)), time };
    return ingestObject(deps, parseObjectCreatedEvent(objectCreatedEventBody(fields)));
  };
  const [stream, ext] = options.stream === 'payments' ? ['payments', 'jsonl'] : ['players', 'csv'];
  const single = await ingest(`inbound/${stream}/single-${run}.${ext}`, base());
  const pool = await ingest(`inbound/${stream}/pool-${run}.${ext}`, {
    ...base(),
    workers: 2,
    pseudonymKey: async () => PSEUDONYM_KEY,
    workerChunkBytes: 1,
    workerMinBytes: 0,
  });
  expect(sharedBatchPool().size).toBe(2);
  return { single, pool };
}

/** The reason without what names the object (its key). */
function reasonOf(outcome: IngestOutcome) {
  if (outcome.status !== 'quarantined') throw new Error(`expected quarantined, got ${JSON.stringify(outcome)}`);
  const { file: _file, ...rest } = outcome.reason;
  return rest;
}

/** Every landed column but those that name the run, in `_source_seq` order. */
async function landedRows(outcome: IngestOutcome) {
  if (outcome.status !== 'landed') throw new Error(`expected landed, got ${JSON.stringify(outcome)}`);
  const manifest = (await getJson<WindowManifest>(env, outcome.manifestKey))!;
  return readLanded(env, manifest, '* EXCLUDE (_run_id, _extracted_at)', '_source_seq');
}

/**
 * A players CSV of `n` rows over several days: every 7th id quoted with a line break in it, CRLF
 * record ends, `bad(i)` rows with an impossible date.
 */
function players(
  n: number,
  eol = '\r\n',
  bad: (i: number) => boolean = () => false,
  dayOf: (i: number) => number = (i) => 1 + Math.floor(i / 2500),
): string {
  const rows = Array.from({ length: n }, (_, i) => {
    const id = i % 7 === 3 ? `"P-${i}\nline ""two"""` : `P-${i}`;
    const day = String(dayOf(i)).padStart(2, '0');
    const updated = bad(i) ? `31/02/2026 12:00:00` : `${day}/02/2026 ${String(i % 24).padStart(2, '0')}:15:00`;
    return `${id};01/01/2026 08:00:00;${updated};AT;EUR;${STATUSES[i % STATUSES.length]}`;
  });
  return [HEADER, ...rows, ''].join(eol);
}

describe('CSV file drops on the worker pool', () => {
  it('lands every row as one thread does: values, pseudonyms and _source_seq (BOM, CRLF, quoted line breaks)', async () => {
    const csv = `\uFEFF${players(8000)}`;
    const { single, pool } = await bothWays(Buffer.from(csv, 'utf8'), { config: utf8 });
    const want = await landedRows(single);
    expect(want).toHaveLength(8000);
    expect(await landedRows(pool)).toEqual(want);
    expect(pool.status === 'landed' && pool.rows).toBe(8000);
  });

  it('lands a gzip file as one thread does (last record without a line break, dates alternating)', async () => {
    const csv = players(2500, '\n', undefined, (i) => 1 + (Math.floor(i / 30) % 3)).replace(/\n$/, '');
    const { single, pool } = await bothWays(gzipSync(Buffer.from(csv, 'latin1')));
    const want = await landedRows(single);
    expect(want).toHaveLength(2500);
    expect(await landedRows(pool)).toEqual(want);
  });

  it('gives the same reason for bad rows in many chunks, all counted or stopped early', async () => {
    const csv = players(3000, '\r\n', (i) => i % 97 === 5);
    const all = await bothWays(csv);
    expect(reasonOf(all.single)).toMatchObject({ code: 'INVALID_VALUE', errorCount: 31, truncated: true });
    expect(reasonOf(all.pool)).toEqual(reasonOf(all.single));
    const stopped = await bothWays(csv, { limits: { stopAfterErrors: 15, maxListedErrors: 3 } });
    expect(reasonOf(stopped.single).message).toMatch(/^15 or more problems in \d+ rows; the first, at line/);
    expect(reasonOf(stopped.pool)).toEqual(reasonOf(stopped.single));
  });

  it('gives the same reason for a quote never closed late in the file, after bad rows or after stopping', async () => {
    const csv = `${players(3000, '\n', (i) => i === 40 || i === 2100)}P-x;"01/01/2026 08:00:00;x\n`;
    const late = await bothWays(csv);
    expect(reasonOf(late.single)).toMatchObject({ code: 'INVALID_CSV', errorCount: 3 });
    expect(reasonOf(late.pool)).toEqual(reasonOf(late.single));
    const stopped = await bothWays(csv, { limits: { stopAfterErrors: 2 } });
    expect(reasonOf(stopped.single)).toMatchObject({ code: 'INVALID_VALUE', errorCount: 2, truncated: true });
    expect(reasonOf(stopped.pool)).toEqual(reasonOf(stopped.single));
    // Stopped in the bytes read with a syntax error (a stray quote): the one-thread reader still reports it.
    const near = `${players(3000, '\n', (i) => i === 40 || i === 2990)}P-x;01/0"1/2026 08:00:00;x\n`;
    const stoppedNear = await bothWays(near, { limits: { stopAfterErrors: 2 } });
    expect(reasonOf(stoppedNear.single)).toMatchObject({ code: 'INVALID_CSV', errorCount: 3 });
    expect(reasonOf(stoppedNear.pool)).toEqual(reasonOf(stoppedNear.single));
  });

  it('gives the same reason for a record over the size limit late in the file, and for short rows', async () => {
    const long = `${players(3000, '\n', (i) => i === 10)}P-long;"${'x'.repeat(300)}";01/02/2026 10:00:00;AT;EUR;Active\n`;
    const tooLong = await bothWays(long, { limits: { maxRecordBytes: 200 } });
    expect(reasonOf(tooLong.single)).toMatchObject({ code: 'LINE_TOO_LONG', errorCount: 2 });
    expect(reasonOf(tooLong.pool)).toEqual(reasonOf(tooLong.single));
    const short = players(3000, '\n').replace(/\nP-(1201|2500);[^\n]*/g, '\nP-short;01/01/2026 08:00:00');
    const fields = await bothWays(short);
    expect(reasonOf(fields.single)).toMatchObject({ code: 'FIELD_COUNT', errorCount: 2 });
    expect(reasonOf(fields.pool)).toEqual(reasonOf(fields.single));
  });

  it('lands a header alone, and refuses a header that does not match, as one thread does', async () => {
    const empty = await bothWays(`${HEADER}\n\n`);
    expect(empty.single).toMatchObject({ status: 'landed', rows: 0 });
    expect(empty.pool).toMatchObject({ status: 'landed', rows: 0 });
    const wrong = await bothWays(players(3000).replace('Currency', 'Curr'));
    expect(reasonOf(wrong.single)).toMatchObject({ code: 'MISSING_COLUMN' });
    expect(reasonOf(wrong.pool)).toEqual(reasonOf(wrong.single));
  });

  it('gives the same reason for an invalid byte late in a UTF-8 file', async () => {
    const csv = Buffer.concat([
      Buffer.from(
        players(2000, '\n', (i) => i === 500),
        'utf8',
      ),
      Buffer.from([0xff, 0x0a]),
    ]);
    const { single, pool } = await bothWays(csv, { config: utf8 });
    expect(reasonOf(single)).toMatchObject({ code: 'INVALID_ENCODING', errorCount: 2 });
    expect(reasonOf(pool)).toEqual(reasonOf(single));
  });

  it('refuses a file with too many rows as one thread does, unless a row before was bad', async () => {
    const many = await bothWays(players(2000), { limits: { maxRows: 1000 } });
    expect(reasonOf(many.single)).toMatchObject({ code: 'TOO_MANY_ROWS', errors: [{ row: 1001 }] });
    expect(reasonOf(many.pool)).toEqual(reasonOf(many.single));
    // A bad row inside the batch that crosses the limit: the file is read to its end for its problems.
    const bad = await bothWays(
      players(2000, '\n', (i) => i === 1010),
      { limits: { maxRows: 1000 }, batchRows: 200 },
    );
    expect(reasonOf(bad.single)).toMatchObject({ code: 'INVALID_VALUE', errorCount: 1 });
    expect(reasonOf(bad.pool)).toEqual(reasonOf(bad.single));
  });
});

/**
 * A payments JSON Lines file of `n` lines over alternating dates: a blank line every 97th, CRLF
 * every 5th, `bad(i)` lines with an amount that needs rounding, `line(i)` replacing a line.
 */
function payments(
  n: number,
  bad: (i: number) => boolean = () => false,
  line: (i: number) => string | undefined = () => undefined,
): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const day = 1 + (Math.floor(i / 40) % 2);
    const amount = bad(i) ? '10.005' : `${(i % 900) + 1}.${String(i % 100).padStart(2, '0')}`;
    out.push(
      line(i) ??
        `{"payment_id": "pay-${i}", "player_id": "p-${i % 50}", "direction": "${i % 2 ? 'deposit' : 'withdrawal'}", "amount": ${amount}, "currency": "EUR", "status": "approved", "created_at": "2024-05-0${day}T09:00:00Z", "updated_at": "2024-05-0${day}T10:${String(i % 60).padStart(2, '0')}:00Z"}${i % 5 === 0 ? '\r' : ''}`,
    );
    if (i % 97 === 0) out.push('  ');
  }
  return out.join('\n');
}

describe('JSON Lines file drops on the worker pool', () => {
  const opts = { config: undefined, stream: 'payments' as const };

  it('lands every row as one thread does (blank lines, CRLF, last line without a line break)', async () => {
    const { single, pool } = await bothWays(payments(6000), opts);
    const want = await landedRows(single);
    expect(want).toHaveLength(6000);
    expect(await landedRows(pool)).toEqual(want);
  });

  it('gives the same reason for bad lines in many chunks, all counted or stopped early', async () => {
    const text = payments(
      4000,
      (i) => i % 301 === 7,
      (i) => (i % 433 === 9 ? '{"payment_id": ' : undefined),
    );
    const all = await bothWays(text, opts);
    expect(reasonOf(all.single).errorCount).toBeGreaterThan(20);
    expect(reasonOf(all.pool)).toEqual(reasonOf(all.single));
    const stopped = await bothWays(text, { ...opts, limits: { stopAfterErrors: 9, maxListedErrors: 4 } });
    expect(reasonOf(stopped.single).truncated).toBe(true);
    expect(reasonOf(stopped.pool)).toEqual(reasonOf(stopped.single));
  });

  it('gives the same reason for an unmapped key, a line too long or a key on no line, late in the file', async () => {
    const extra = payments(
      4000,
      (i) => i === 100,
      (i) => (i === 3500 ? '{"payment_id": "x", "iban": "y"}' : undefined),
    );
    const unexpected = await bothWays(extra, opts);
    expect(reasonOf(unexpected.single)).toMatchObject({ code: 'UNEXPECTED_COLUMN', errorCount: 2 });
    expect(reasonOf(unexpected.pool)).toEqual(reasonOf(unexpected.single));
    const long = payments(
      4000,
      (i) => i === 100,
      (i) => (i === 3500 ? `{"payment_id": "${'x'.repeat(500)}"}` : undefined),
    );
    const tooLong = await bothWays(long, { ...opts, limits: { maxRecordBytes: 400 } });
    expect(reasonOf(tooLong.single)).toMatchObject({ code: 'LINE_TOO_LONG', errorCount: 2 });
    expect(reasonOf(tooLong.pool)).toEqual(reasonOf(tooLong.single));
    const noCreated = payments(3000).replace(/"created_at": "[^"]*", /g, '');
    const missing = await bothWays(noCreated, opts);
    expect(reasonOf(missing.single)).toMatchObject({ code: 'MISSING_COLUMN' });
    expect(reasonOf(missing.pool)).toEqual(reasonOf(missing.single));
  });

  it('refuses too many rows as one thread does', async () => {
    const many = await bothWays(payments(3000), { ...opts, limits: { maxRows: 1000 } });
    expect(reasonOf(many.single)).toMatchObject({ code: 'TOO_MANY_ROWS' });
    expect(reasonOf(many.pool)).toEqual(reasonOf(many.single));
  });
});
