/**
 * Schema drift across the files of a stream (s3rver, dynalite): a header with a new or a missing
 * column is quarantined and reported against the last landed file's columns; a landed file's columns
 * become the fingerprint, and a change of the agreed columns between landed files is reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorConfig } from '#shared/config/schema';
import { recordFileSchema } from '#shared/drift/files';
import { createIngestBatchHandler, type IngestOutcome } from '#shared/ingest/index';
import { SchemaLedger } from '#shared/state/schemas';
import {
  type IngestEnv,
  ingestDeps,
  luckyConfig,
  objectCreatedEventBody,
  sqsEvent,
  startIngestEnv,
  upload,
} from './fixtures.ts';

const HEADER = 'PlayerID;Registered;LastModified;Country;Currency;Status';
const ROW = 'D-1;01/05/2026 10:00:00;02/05/2026 10:00:00;AT;EUR;Active';

let env: IngestEnv;
let config: OperatorConfig;
let ledger: SchemaLedger;

beforeAll(async () => {
  env = await startIngestEnv();
  config = luckyConfig();
  ledger = new SchemaLedger(env.dynamo.doc, env.table);
});
afterAll(async () => {
  await env?.stop();
});

/** Drops one file and records its columns as the ingest function does; returns the outcome and the drift. */
async function drop(key: string, csv: string, cfg = config) {
  const object = await upload(env, key, csv);
  const seen: { outcome?: IngestOutcome; changes?: Awaited<ReturnType<typeof recordFileSchema>> } = {};
  const handle = createIngestBatchHandler(ingestDeps(env, cfg), async (outcome) => {
    seen.outcome = outcome;
    if (outcome.status === 'landed') seen.changes = await recordFileSchema({ config: cfg, ledger }, outcome);
    if (outcome.status === 'quarantined') {
      seen.changes = await recordFileSchema(
        { config: cfg, ledger },
        { ...outcome, status: 'quarantined', stream: 'players' },
      );
    }
  });
  const response = await handle(sqsEvent([objectCreatedEventBody(object)]));
  expect(response.batchItemFailures).toEqual([]);
  return seen as Required<typeof seen>;
}

describe('schema drift of file drops', () => {
  it('keeps the first landed file’s columns as the fingerprint, with nothing to report', async () => {
    const { outcome, changes } = await drop('inbound/players/day-1.csv', `${HEADER}\n${ROW}\n`);
    expect(outcome.status).toBe('landed');
    expect(changes).toEqual([]);
    const state = await ledger.get('players');
    expect(state.accepted?.columns.map((c) => c.name)).toEqual([
      'PlayerID',
      'Registered',
      'LastModified',
      'Country',
      'Currency',
      'Status',
    ]);
    expect(state.lastDrift).toBeUndefined();
  });

  it('reports a new header column of a quarantined file (the file does not land, the fingerprint stays)', async () => {
    const before = (await ledger.get('players')).accepted;
    const { outcome, changes } = await drop('inbound/players/day-2.csv', `${HEADER};Segment\n${ROW};vip\n`);
    expect(outcome.status).toBe('quarantined');
    expect(changes).toEqual([{ change: 'added', column: 'Segment' }]);
    const state = await ledger.get('players');
    expect(state.accepted).toEqual(before);
    expect(state.lastDrift).toMatchObject({
      source: 'inbound/players/day-2.csv',
      failed: true,
      changes: [{ change: 'added', column: 'Segment' }],
    });
  });

  it('reports a column missing from a quarantined file’s header', async () => {
    const header = HEADER.replace(';Country', '');
    const row = ROW.replace(';AT', '');
    const { outcome, changes } = await drop('inbound/players/day-3.csv', `${header}\n${row}\n`);
    expect(outcome.status).toBe('quarantined');
    expect(changes).toEqual([{ change: 'removed', column: 'Country' }]);
  });

  it('reports a column removed between two landed files when the agreed columns changed', async () => {
    const streams = config.streams as Record<string, { columns: Record<string, unknown> }>;
    const { country: _, ...columns } = streams.players!.columns;
    const without = {
      ...config,
      streams: { ...config.streams, players: { ...streams.players!, columns } },
    } as OperatorConfig;
    const header = HEADER.replace(';Country', '');
    const row = ROW.replace(';AT', '').replace('D-1', 'D-2');
    const { outcome, changes } = await drop('inbound/players/day-4.csv', `${header}\n${row}\n`, without);
    expect(outcome.status).toBe('landed');
    expect(changes).toEqual([expect.objectContaining({ change: 'removed', column: 'Country' })]);
    const state = await ledger.get('players');
    expect(state.accepted?.columns.map((c) => c.name)).not.toContain('Country');
    expect(state.lastDrift).toMatchObject({ source: 'inbound/players/day-4.csv', failed: false });
  });
});
