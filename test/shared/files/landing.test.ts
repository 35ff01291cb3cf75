/** Files land through the one mapper: batches of every format feed createRowMapper unchanged. */
import { randomBytes } from 'node:crypto';
import { Decimal, makeData, makeVector, Table, Timestamp, TimeUnit, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import {
  FILE_ERROR_CODE_LIST,
  FILE_ERROR_CODES,
  fileErrorCodesMarkdown,
  fileSourceColumns,
  QUARANTINE_REASON_JSON_SCHEMA,
  readInboundFile,
} from '#shared/files/index';
import { createRowMapper } from '#shared/mapping/mapper';
import { fileSourceSeq } from '#shared/mapping/version';
import { createPseudonymizer } from '#shared/pii/pseudonymizer';
import type { LandedBatch } from '#shared/types';
import { bodyOf, filesConfig, PAYMENTS_JSONL, parquetOf, playersStream, WALLET_PARQUET } from './fixtures.ts';

const extractedAt = new Date('2024-06-01T00:00:00Z');

async function land(config: ReturnType<typeof filesConfig>, key: string, body: string | Uint8Array) {
  const file = readInboundFile({ config, key, body: bodyOf(body) });
  expect(file.columns).toEqual(fileSourceColumns(config, file.stream));
  const mapper = createRowMapper({
    config,
    stream: file.stream,
    sourceColumns: file.columns,
    pseudonymizer: createPseudonymizer(randomBytes(32)),
    runId: 'run-1',
    extractedAt,
    sourceSeq: fileSourceSeq(extractedAt),
  });
  const batches: LandedBatch[] = [];
  for await (const batch of file) batches.push(mapper.map(batch));
  expect(file.result().ok).toBe(true);
  const column = (name: string) => {
    const index = mapper.columns.findIndex((c) => c.name === name);
    if (index < 0) throw new Error(`no landed column ${name}`);
    return batches.flatMap((b) => [...b.columns[index]!]);
  };
  return { column, mapper };
}

describe('landing file rows through the mapper', () => {
  it('CSV in dd/MM/yyyy local time (Europe/London), latin1, decimal commas', async () => {
    const config = filesConfig({
      players: playersStream({
        type: 'csv',
        delimiter: ';',
        encoding: 'latin1',
        decimalSeparator: ',',
        timestampFormat: 'dd/MM/yyyy HH:mm:ss',
      }),
    });
    const text =
      'PlayerID;Registered;LastModified;Country;Vip;Email;Status\np1;15/01/2024 10:00:00;15/07/2024 10:00:00;AT;3;X@Example.com;Active\n';
    const { column } = await land(config, 'inbound/players/p.csv', Buffer.from(text, 'latin1'));
    // London is UTC+0 in January and UTC+1 (BST) in July.
    expect(column('registered_at')).toEqual([Date.UTC(2024, 0, 15, 10)]);
    expect(column('updated_at')).toEqual([Date.UTC(2024, 6, 15, 9)]);
    expect(column('_cursor')).toEqual([Date.UTC(2024, 6, 15, 9)]);
    expect(column('status')).toEqual(['active']);
    expect(column('vip_level')).toEqual([3]);
    expect(column('player_id')[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('JSON Lines with offsets and exact amounts', async () => {
    const config = filesConfig({ payments: PAYMENTS_JSONL });
    const body =
      '{"payment_id":"x","player_id":"p","direction":"deposit","amount":12345678901234567890.0123456789,"currency":"EUR","status":"approved","created_at":"2024-01-05 10:00:00","updated_at":"2024-05-01T12:00:00+02:00"}\n';
    const { column } = await land(config, 'inbound/payments/p.jsonl', body);
    expect(column('amount')).toEqual([123456789012345678900123456789n]);
    expect(column('updated_at')).toEqual([Date.UTC(2024, 4, 1, 10)]);
    // No offset: read in fileDrop.timeZone (London, UTC+0 in January).
    expect(column('created_at')).toEqual([Date.UTC(2024, 0, 5, 10)]);
  });

  it('Parquet decimals and UTC timestamps', async () => {
    const config = filesConfig({ wallet_transactions: WALLET_PARQUET });
    const words = new Uint32Array([12345, 0, 0, 0]);
    const table = new Table({
      txn_id: vectorFromArray(['t1'], new Utf8()),
      player_id: vectorFromArray(['p1'], new Utf8()),
      txn_type: vectorFromArray(['bet'], new Utf8()),
      amount: makeVector(makeData({ type: new Decimal(2, 18, 128), length: 1, data: words })),
      currency: vectorFromArray(['EUR'], new Utf8()),
      booked_at: makeVector(
        makeData({
          type: new Timestamp(TimeUnit.MICROSECOND, 'UTC'),
          length: 1,
          data: BigInt64Array.from([1714557600123456n]),
        }),
      ),
    });
    const { column } = await land(config, 'inbound/wallet_transactions/w.parquet', parquetOf(table));
    expect(column('amount')).toEqual([12345n]);
    expect(column('created_at')).toEqual([1714557600123]);
    expect(column('type')).toEqual(['bet']);
  });
});

describe('quarantine reason contract', () => {
  it('documents every code in one line and publishes a JSON Schema', () => {
    expect(FILE_ERROR_CODE_LIST).toContain('INVALID_KEY');
    for (const code of FILE_ERROR_CODE_LIST) expect(FILE_ERROR_CODES[code]).toMatch(/^[A-Z].*\.$/);
    const markdown = fileErrorCodesMarkdown();
    expect(markdown.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(FILE_ERROR_CODE_LIST.length);
    const schema = QUARANTINE_REASON_JSON_SCHEMA as { required?: string[]; properties?: Record<string, unknown> };
    expect(schema.required).toEqual(
      expect.arrayContaining([
        'file',
        'stream',
        'code',
        'message',
        'size',
        'receivedAt',
        'errors',
        'errorCount',
        'truncated',
      ]),
    );
    expect(JSON.stringify(schema.properties?.code)).toContain('DECOMPRESSION_LIMIT');
  });
});
