/** Operator configs, generated files and helpers shared by the file-drop tests and bench/file-drop.ts. */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { type RecordBatch, Table, tableToIPC } from 'apache-arrow';
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm/node';
import { type OperatorConfig, type OperatorConfigInput, operatorConfigSchema } from '#shared/config/schema';
import {
  type InboundValidation,
  type QuarantineReason,
  quarantineReasonSchema,
  type ReadInboundOptions,
  validateInboundFile,
} from '#shared/files/index';

type StreamsInput = NonNullable<OperatorConfigInput['streams']>;
type FormatInput = NonNullable<NonNullable<StreamsInput['players']>['format']>;

/** A players stream mapped like an export with its own header names. */
export function playersStream(format: FormatInput = { type: 'csv' }): NonNullable<StreamsInput['players']> {
  return {
    columns: {
      player_id: 'PlayerID',
      registered_at: 'Registered',
      updated_at: 'LastModified',
      country: 'Country',
      vip_level: 'Vip',
      email: 'Email',
      status: { column: 'Status', values: { Active: 'active', Closed: 'closed' } },
    },
    format,
  };
}

export const PLAYERS_HEADER = 'PlayerID,Registered,LastModified,Country,Vip,Email,Status';

/** payments in JSON Lines with exact amounts. */
export const PAYMENTS_JSONL: NonNullable<StreamsInput['payments']> = {
  columns: {
    payment_id: 'payment_id',
    player_id: 'player_id',
    direction: 'direction',
    amount: { column: 'amount', precision: 38, scale: 10 },
    currency: 'currency',
    status: 'status',
    created_at: 'created_at',
    updated_at: 'updated_at',
  },
  format: { type: 'jsonl' },
};

/** wallet_transactions in Parquet. */
export const WALLET_PARQUET: NonNullable<StreamsInput['wallet_transactions']> = {
  columns: {
    transaction_id: 'txn_id',
    player_id: 'player_id',
    type: 'txn_type',
    amount: { column: 'amount', precision: 18, scale: 2 },
    currency: 'currency',
    created_at: 'booked_at',
  },
  format: { type: 'parquet' },
};

/** A file-drop operator with the given streams. */
export function filesConfig(
  streams: StreamsInput,
  fileDrop: Partial<NonNullable<OperatorConfigInput['fileDrop']>> = {},
): OperatorConfig {
  return operatorConfigSchema.parse({
    operatorId: 'lucky-files',
    displayName: 'Lucky Files Gaming Ltd',
    stage: 'sandbox',
    account: '333333333333',
    region: 'eu-west-1',
    source: { type: 'files' },
    fileDrop: { principals: [], timeZone: 'Europe/London', ...fileDrop },
    streams,
  });
}

/** A body that yields `data` in chunks of `chunkSize` bytes (to cross chunk boundaries everywhere). */
export function bodyOf(data: Uint8Array | string, chunkSize = 64 * 1024): Readable {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
    })(),
  );
}

export function gzip(data: string | Uint8Array): Buffer {
  return gzipSync(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
}

export interface ReadOutcome {
  readonly validation: InboundValidation;
  readonly rows: (string | null)[][];
  readonly columns: string[];
}

/** Reads a file through validateInboundFile and keeps the good rows. */
export async function readFile(
  options: Omit<ReadInboundOptions, 'body'> & { body: ReadInboundOptions['body'] | string | Uint8Array },
): Promise<ReadOutcome> {
  const rows: (string | null)[][] = [];
  let columns: string[] = [];
  const body =
    typeof options.body === 'string' || options.body instanceof Uint8Array ? bodyOf(options.body) : options.body;
  const validation = await validateInboundFile({ ...options, body }, (batch) => {
    columns = batch.columns.map((c) => c.name);
    for (const row of batch.rows) rows.push([...row]);
  });
  if (!validation.ok) quarantineReasonSchema.parse(validation.reason);
  return { validation, rows, columns };
}

/** The reason of a rejected outcome; fails the test when the file was accepted. */
export function reasonOf(outcome: ReadOutcome): QuarantineReason {
  if (outcome.validation.ok) throw new Error(`expected a rejection, but ${outcome.rows.length} rows were accepted`);
  return outcome.validation.reason;
}

/** Parquet bytes of Arrow record batches. */
export function parquetOf(batches: RecordBatch[] | Table, rowGroupRows = 1024 * 1024): Uint8Array {
  const table = batches instanceof Table ? batches : new Table(batches);
  const props = new WriterPropertiesBuilder()
    .setCompression(Compression.SNAPPY)
    .setMaxRowGroupSize(rowGroupRows)
    .build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, 'stream')), props);
}
