/**
 * ingestObject and the batch handler against s3rver and dynalite with real files of the lucky-files
 * example operator: landing, quarantine, idempotency per object version, partial batch failures.
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import { type QuarantineReason, quarantineReasonSchema } from '#shared/files/index';
import {
  createIngestBatchHandler,
  FILE_WINDOW_ID,
  FileLedger,
  fileRunId,
  type IngestOutcome,
  ingestObject,
  parseObjectCreatedEvent,
} from '#shared/ingest/index';
import type { WindowManifest } from '#shared/landing/window';
import { committedListKey, manifestWindowPrefix } from '#shared/layout';
import { parquetSource } from '../helpers/duckdb.ts';
import {
  getBytes,
  getJson,
  type IngestEnv,
  ingestDeps,
  luckyConfig,
  objectCreatedEventBody,
  PSEUDONYM_KEY,
  readLanded,
  sqsEvent,
  startIngestEnv,
  upload,
  versionTolerantClient,
} from './fixtures.ts';

const HEADER = 'PlayerID;Registered;LastModified;Country;Currency;Status';
const pseudonym = (id: string) => createHmac('sha256', PSEUDONYM_KEY).update(id, 'utf8').digest('hex');

let env: IngestEnv;
let config: OperatorConfig;

beforeAll(async () => {
  env = await startIngestEnv();
  config = luckyConfig();
});
afterAll(async () => {
  await env?.stop();
});

function landed(outcome: IngestOutcome): Extract<IngestOutcome, { status: 'landed' }> {
  if (outcome.status !== 'landed') throw new Error(`expected landed, got ${JSON.stringify(outcome)}`);
  return outcome;
}
function quarantined(outcome: IngestOutcome): Extract<IngestOutcome, { status: 'quarantined' }> {
  if (outcome.status !== 'quarantined') throw new Error(`expected quarantined, got ${JSON.stringify(outcome)}`);
  return outcome;
}

const ingest = async (fields: Awaited<ReturnType<typeof upload>> & { versionId?: string }, s3 = env.s3.client) =>
  ingestObject(ingestDeps(env, config, s3), parseObjectCreatedEvent(objectCreatedEventBody(fields)));

describe('ingestObject', () => {
  it('lands a good CSV as Parquet equal to the file and archives the original', async () => {
    // Winter dates: London local time equals UTC. "Österreich" checks the latin1 decoding.
    const csv = [
      HEADER,
      'P-1;15/01/2026 10:00:00;20/01/2026 08:30:00;AT;EUR;Active',
      'P-2;16/01/2026 11:00:00;21/01/2026 09:45:10;GB;GBP;Suspended',
      'P-3;17/01/2026 12:00:00;21/01/2026 23:59:59;MT;EUR;Excluded',
      '',
    ].join('\n');
    const key = 'inbound/players/2026-01-22 export.csv';
    const fields = await upload(env, key, csv);
    const outcome = landed(await ingest(fields));

    expect(outcome.rows).toBe(3);
    expect(outcome.runId).toBe(fileRunId(key, `ETAG#${fields.etag}`));
    expect(outcome.manifestKey).toMatch(
      new RegExp(`^${manifestWindowPrefix('players', outcome.runId, FILE_WINDOW_ID)}[^/]+\\.json$`),
    );
    const manifest = (await getJson<WindowManifest>(env, outcome.manifestKey))!;
    expect(manifest.rowCount).toBe(3);
    const rows = await readLanded(
      env,
      manifest,
      `player_id, strftime(registered_at, '%Y-%m-%d %H:%M:%S') AS registered_at,
       strftime(updated_at, '%Y-%m-%d %H:%M:%S') AS updated_at, country, currency, status,
       strftime(_cursor, '%Y-%m-%d %H:%M:%S') AS cursor, _run_id`,
      'registered_at',
    );
    expect(rows).toEqual([
      row('P-1', '2026-01-15 10:00:00', '2026-01-20 08:30:00', 'AT', 'EUR', 'active'),
      row('P-2', '2026-01-16 11:00:00', '2026-01-21 09:45:10', 'GB', 'GBP', 'suspended'),
      row('P-3', '2026-01-17 12:00:00', '2026-01-21 23:59:59', 'MT', 'EUR', 'self_excluded'),
    ]);
    function row(id: string, reg: string, upd: string, country: string, currency: string, status: string) {
      return {
        player_id: pseudonym(id),
        registered_at: reg,
        updated_at: upd,
        country,
        currency,
        status,
        cursor: upd,
        _run_id: outcome.runId,
      };
    }

    // The original is moved to archive/ byte for byte, and is no longer under inbound/.
    expect(outcome.originalMovedTo).toBe('archive/players/2026-01-22 export.csv');
    expect((await getBytes(env, outcome.originalMovedTo!))?.toString('latin1')).toBe(csv);
    expect(await getBytes(env, key)).toBeUndefined();
  });

  it('quarantines a file with a bad value: original preserved, reason beside it, no part left', async () => {
    // 10,000 good rows over three dates fill the first batch and complete a part before the bad row
    // is read; 10,000 more on the last date keep the bad row chunks away from them.
    const good = Array.from({ length: 20_001 }, (_, i) => {
      const day = 10 + Math.min(2, Math.floor((i * 3) / 10_001));
      return `Q-${i};01/01/2026 00:00:00;${day}/01/2026 12:00:00;AT;EUR;Active`;
    });
    const csv = [HEADER, ...good, 'Q-bad;01/01/2026 00:00:00;31/02/2026 12:00:00;AT;EUR;Active', ''].join('\n');
    const key = 'inbound/players/bad.csv';
    const fields = await upload(env, key, csv);
    const s3 = versionTolerantClient(env.s3.endpoint);
    const rawWrites: string[] = [];
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (context.commandName === 'PutObjectCommand' && input.Key?.startsWith('raw/')) rawWrites.push(input.Key);
        return next(args);
      },
      { step: 'initialize', name: 'recordRawWrites' },
    );
    const outcome = quarantined(await ingest(fields, s3));
    s3.destroy();

    // A part was stored before the bad row was read, and was deleted again.
    expect(rawWrites.filter((k) => k.includes(outcome.runId)).length).toBeGreaterThan(0);
    expect(outcome.quarantineKey).toBe('quarantine/players/bad.csv');
    expect(outcome.reasonKey).toBe('quarantine/players/bad.csv.reason.json');
    expect((await getBytes(env, outcome.quarantineKey))?.toString('latin1')).toBe(csv);
    const reason = quarantineReasonSchema.parse(await getJson<QuarantineReason>(env, outcome.reasonKey));
    expect(reason).toMatchObject({ code: 'INVALID_VALUE', file: key, stream: 'players', errorCount: 1 });
    expect(reason.errors[0]).toMatchObject({ line: 20_003, row: 20_002, column: 'LastModified' });
    expect(await getBytes(env, key)).toBeUndefined();
    // Nothing of the run is left under raw/ and no manifest was written.
    const raw = await env.s3.listKeys(env.bucket, 'raw/players/');
    expect(raw.filter((k) => k.includes(outcome.runId))).toEqual([]);
    expect(await env.s3.listKeys(env.bucket, manifestWindowPrefix('players', outcome.runId, FILE_WINDOW_ID))).toEqual(
      [],
    );
    expect(await getBytes(env, committedListKey('players', outcome.runId, FILE_WINDOW_ID))).toBeUndefined();
  });

  it('quarantines a file of an unknown stream under quarantine/_unknown/', async () => {
    const fields = await upload(env, 'inbound/bets/2026/01.csv', 'a;b\n1;2\n');
    const outcome = quarantined(await ingest(fields));
    expect(outcome.quarantineKey).toBe('quarantine/_unknown/bets/2026/01.csv');
    const reason = await getJson<QuarantineReason>(env, outcome.reasonKey);
    expect(reason).toMatchObject({ code: 'UNKNOWN_STREAM', stream: null, file: 'inbound/bets/2026/01.csv' });
    expect((await getBytes(env, outcome.quarantineKey))?.toString()).toBe('a;b\n1;2\n');
    expect(await getBytes(env, 'inbound/bets/2026/01.csv')).toBeUndefined();
  });

  it('ignores folder markers', async () => {
    const fields = await upload(env, 'inbound/players/', '');
    expect(await ingest(fields)).toMatchObject({ status: 'ignored', key: 'inbound/players/' });
    expect(await env.s3.listKeys(env.bucket, 'inbound/players/')).toEqual(['inbound/players/']);
  });

  it('lands a duplicated event of the same object version once', async () => {
    const csv = `${HEADER}\nD-1;01/02/2026 10:00:00;02/02/2026 10:00:00;AT;EUR;Active\n`;
    const fields = await upload(env, 'inbound/players/dup.csv', csv);
    const first = landed(await ingest(fields));
    const second = await ingest(fields);
    expect(second).toEqual({ status: 'duplicate', key: fields.key, runId: first.runId, previous: 'landed' });
    // Concurrent duplicates: one lands, the other is busy or a duplicate; never two runs.
    const again = await upload(env, 'inbound/players/dup2.csv', csv);
    const results = await Promise.allSettled([ingest(again), ingest(again)]);
    const statuses = results.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as Error).name));
    expect(statuses.filter((s) => s === 'landed')).toHaveLength(1);
    expect(statuses.filter((s) => s !== 'landed')[0]).toMatch(/^(duplicate|FileBusyError)$/);
    const manifests = await env.s3.listKeys(env.bucket, `_manifests/players/${first.runId}/`);
    expect(manifests).toEqual([first.manifestKey]);
  });

  it('lands two versions of the same key as two runs, and a replayed version is still a duplicate', async () => {
    const s3 = versionTolerantClient(env.s3.endpoint);
    const key = 'inbound/players/daily.csv';
    const csv = `${HEADER}\nV-1;01/03/2026 10:00:00;02/03/2026 10:00:00;AT;EUR;Active\n`;
    const v1 = landed(await ingest({ ...(await upload(env, key, csv)), versionId: 'v1' }, s3));
    // The same bytes uploaded again are a new version: a new delivery that lands as its own run.
    const v2 = landed(await ingest({ ...(await upload(env, key, csv)), versionId: 'v2' }, s3));
    expect(v2.runId).not.toBe(v1.runId);
    expect(v1.rows + v2.rows).toBe(2);
    // A late duplicate of v1, after its original was archived: recognised from the sync-state table.
    expect(
      await ingest({ ...(await upload(env, 'inbound/players/other.csv', csv)), key, versionId: 'v1' }, s3),
    ).toEqual({ status: 'duplicate', key, runId: v1.runId, previous: 'landed' });
    s3.destroy();
  });

  it('orders versions of one key and cursor by receive second, then row, whatever order they are ingested in', async () => {
    // Two exports of the same players at the same update time, received in consecutive seconds;
    // the later one is ingested first (queues do not keep order).
    const at = '02/05/2026 10:00:00';
    const early = [
      HEADER,
      `O-1;01/05/2026 10:00:00;${at};AT;EUR;Active`,
      `O-2;01/05/2026 10:00:00;${at};AT;EUR;Active`,
      `O-2;01/05/2026 10:00:00;${at};AT;EUR;Closed`,
      '',
    ].join('\n');
    const late = [HEADER, `O-1;01/05/2026 10:00:00;${at};AT;EUR;Suspended`, ''].join('\n');
    const earlyAt = new Date('2026-05-02T09:00:00.900Z');
    const lateAt = new Date('2026-05-02T09:00:01.100Z');
    const second = landed(await ingest({ ...(await upload(env, 'inbound/players/order-b.csv', late)), time: lateAt }));
    const first = landed(await ingest({ ...(await upload(env, 'inbound/players/order-a.csv', early)), time: earlyAt }));

    const manifests = await Promise.all(
      [first, second].map(async (o) => (await getJson<WindowManifest>(env, o.manifestKey))!),
    );
    const paths = await env.s3.download(
      env.bucket,
      manifests.flatMap((m) => m.parts.map((p) => p.key)),
      join(env.dir, 'order'),
    );
    const source = `${parquetSource(paths)} WHERE player_id IN ('${pseudonym('O-1')}', '${pseudonym('O-2')}')`;
    const versions = await env.duck.query(
      `SELECT player_id, status, _run_id, CAST(_cursor_us AS VARCHAR) AS us, CAST(_source_seq AS VARCHAR) AS seq
         FROM ${source} ORDER BY _source_seq`,
    );
    const cursorUs = String(BigInt(Date.parse('2026-05-02T09:00:00Z')) * 1000n); // London summer time
    const earlySeq = 1_777_712_400n * 1_000_000_000n;
    expect(versions).toEqual([
      { player_id: pseudonym('O-1'), status: 'active', _run_id: first.runId, us: cursorUs, seq: String(earlySeq) },
      { player_id: pseudonym('O-2'), status: 'active', _run_id: first.runId, us: cursorUs, seq: String(earlySeq + 1n) },
      { player_id: pseudonym('O-2'), status: 'closed', _run_id: first.runId, us: cursorUs, seq: String(earlySeq + 2n) },
      {
        player_id: pseudonym('O-1'),
        status: 'suspended',
        _run_id: second.runId,
        us: cursorUs,
        seq: String(earlySeq + 1_000_000_000n),
      },
    ]);
    const current = (order: string) =>
      env.duck.query(
        `SELECT player_id, status FROM ${source}
          QUALIFY row_number() OVER (PARTITION BY player_id ORDER BY ${order}) = 1 ORDER BY player_id`,
      );
    const byPlayer = (rows: Awaited<ReturnType<typeof current>>) =>
      Object.fromEntries(rows.map((r) => [r.player_id === pseudonym('O-1') ? 'O-1' : 'O-2', r.status]));
    // The documented order: the later upload wins, and within a file the later row.
    expect(byPlayer(await current('_cursor_us DESC, _source_seq DESC'))).toEqual({
      'O-1': 'suspended',
      'O-2': 'closed',
    });
    // When the connector read them is no version order: it would pick the earlier upload, read last.
    expect(byPlayer(await current('_cursor DESC, _extracted_at DESC'))['O-1']).toBe('active');
  });

  it('quarantines a file with more rows than one delivery may hold (TOO_MANY_ROWS)', async () => {
    const rows = ['T-1', 'T-2', 'T-3'].map((id) => `${id};01/05/2026 10:00:00;02/05/2026 10:00:00;AT;EUR;Active`);
    const fields = await upload(env, 'inbound/players/many.csv', [HEADER, ...rows, ''].join('\n'));
    const deps = { ...ingestDeps(env, config), limits: { maxRows: 2 } };
    const outcome = quarantined(await ingestObject(deps, parseObjectCreatedEvent(objectCreatedEventBody(fields))));
    expect(outcome.reason).toMatchObject({ code: 'TOO_MANY_ROWS', errors: [{ row: 3, code: 'TOO_MANY_ROWS' }] });
    expect(outcome.reason.message).toContain('more than 2 rows');
    expect(quarantineReasonSchema.safeParse(outcome.reason).success).toBe(true);
    const parts = await env.s3.client.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: 'raw/players/' }));
    expect((parts.Contents ?? []).filter((o) => o.Key?.includes(outcome.runId))).toEqual([]);
  });

  it('moves the original only, without reading it again, when an earlier attempt had committed', async () => {
    const csv = `${HEADER}\nR-1;01/04/2026 10:00:00;02/04/2026 10:00:00;AT;EUR;Active\n`;
    const fields = await upload(env, 'inbound/players/resume.csv', csv);
    const first = landed(await ingest(fields));
    // Simulate an attempt that died after committing, before moving the original and recording it.
    await upload(env, 'inbound/players/resume.csv', csv);
    const ledger = new FileLedger({ doc: env.dynamo.doc, tableName: env.table });
    const { DeleteCommand } = await import('@aws-sdk/lib-dynamodb');
    await env.dynamo.doc.send(
      new DeleteCommand({ TableName: env.table, Key: { pk: `FILE#${fields.key}`, sk: `ETAG#${fields.etag}` } }),
    );
    expect(await ledger.get(fields.key, `ETAG#${fields.etag}`)).toBeUndefined();
    const second = landed(await ingest(fields));
    expect(second).toMatchObject({ runId: first.runId, resumed: true, rows: 1 });
    expect(await getBytes(env, fields.key)).toBeUndefined();
  });
});

describe('batch handler', () => {
  it('reports a record that failed for an infrastructure reason; lands the others and keeps its original', async () => {
    const s3 = versionTolerantClient(env.s3.endpoint);
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (context.commandName === 'GetObjectCommand' && input.Key?.includes('flaky')) {
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $retryable: {} });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failFlakyReads' },
    );
    const csv = `${HEADER}\nB-1;01/05/2026 10:00:00;02/05/2026 10:00:00;AT;EUR;Active\n`;
    const good = await upload(env, 'inbound/players/batch-good.csv', csv);
    const flaky = await upload(env, 'inbound/players/flaky.csv', csv);
    const outcomes: IngestOutcome[] = [];
    const handle = createIngestBatchHandler(ingestDeps(env, config, s3), (o) => outcomes.push(o));
    const event = sqsEvent([objectCreatedEventBody(good), objectCreatedEventBody(flaky)]);
    const response = await handle(event);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[1]!.messageId }]);
    expect(outcomes.map((o) => [o.status, o.key])).toEqual([['landed', good.key]]);
    // The failed file is untouched and its claim released, so the redelivery processes it at once.
    expect((await getBytes(env, flaky.key))?.toString('latin1')).toBe(csv);
    const ledger = new FileLedger({ doc: env.dynamo.doc, tableName: env.table });
    expect(await ledger.get(flaky.key, `ETAG#${flaky.etag}`)).toBeUndefined();
    const retry = await createIngestBatchHandler(ingestDeps(env, config))(sqsEvent([objectCreatedEventBody(flaky)]));
    expect(retry.batchItemFailures).toEqual([]);
    expect(await getBytes(env, flaky.key)).toBeUndefined();
    s3.destroy();
  });

  it('sends a message that is not an S3 event back (to end in the dead-letter queue)', async () => {
    const handle = createIngestBatchHandler(ingestDeps(env, config));
    const event = sqsEvent(['{"source":"aws.s3","detail-type":"Object Deleted"}', 'not json']);
    await expect(handle(event)).rejects.toThrow(/All records failed/);
    const listed = await env.s3.client.send(new ListObjectsV2Command({ Bucket: env.bucket, Prefix: 'quarantine/' }));
    expect((listed.Contents ?? []).every((o) => !o.Key?.includes('Deleted'))).toBe(true);
  });
});
