/**
 * Entry point of a batch worker thread (see batch-pool.ts): decodes the source batches of a job
 * (COPY text or rows), maps them (exact coercion, enumeration maps, pseudonymization with the
 * operator's key) and encodes them (checks, window statistics, Parquet row groups per date
 * partition with the part writer's settings), and posts the result back. The Lambda bundle builds
 * this file as its own entry (`batch-worker.mjs`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { landedColumns } from '../landed-schema.ts';
import { type EncodedBatch, RowGroupEncoder } from '../landing/batch-encoding.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import type { SourceSeq } from '../mapping/version.ts';
import type { ParquetFileOptions } from '../parquet/file-stream.ts';
import { createPseudonymizer } from '../pii/pseudonymizer.ts';
import { parseCopyText } from '../sources/pg-copy.ts';
import type { SourceColumn } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { type BatchJob, type BatchReply, toWireError } from './batch-wire.ts';

/** What a worker is started with: everything `createRowMapper` and the encoder need. */
export interface BatchWorkerInit {
  readonly config: OperatorConfig;
  readonly stream: StreamName;
  readonly sourceColumns: readonly SourceColumn[];
  readonly pseudonymKey: Uint8Array;
  readonly runId: string;
  /** Epoch milliseconds. */
  readonly extractedAt: number;
  readonly sourceSeq: SourceSeq;
  readonly cursorColumn?: string;
  readonly context: WriteContext;
  /** The part writer's Parquet settings (`partFileOptions`). */
  readonly fileOptions: ParquetFileOptions;
}

const port = parentPort;
if (!port) throw new Error('batch-worker runs as a worker thread');
const init = workerData as BatchWorkerInit;

let mapper: RowMapper | undefined;
let encoder: RowGroupEncoder | undefined;

function setUp(): { mapper: RowMapper; encoder: RowGroupEncoder } {
  mapper ??= createRowMapper({
    config: init.config,
    stream: init.stream,
    sourceColumns: init.sourceColumns,
    pseudonymizer: createPseudonymizer(Buffer.from(init.pseudonymKey)),
    runId: init.runId,
    extractedAt: new Date(init.extractedAt),
    sourceSeq: init.sourceSeq,
    ...(init.cursorColumn === undefined ? {} : { cursorColumn: init.cursorColumn }),
  });
  encoder ??= new RowGroupEncoder(landedColumns(init.config, init.stream), init.context, init.fileOptions);
  return { mapper, encoder };
}

port.on('message', (job: BatchJob) => {
  if (job.kind === 'unmapped') {
    port.postMessage({ id: job.id, unmapped: mapper?.unmapped() ?? {} } satisfies BatchReply);
    return;
  }
  let encoded: EncodedBatch;
  try {
    const tools = setUp();
    // Batch by batch: the decoded rows of one source batch at a time are alive, not the job's.
    for (const batch of job.batches) {
      const rows = batch instanceof Uint8Array ? parseCopyText(batch) : batch;
      tools.encoder.add(tools.mapper.map({ columns: init.sourceColumns, rows }));
    }
    encoded = tools.encoder.finish();
  } catch (err) {
    encoder?.discard();
    port.postMessage({ id: job.id, error: toWireError(err) } satisfies BatchReply);
    return;
  }
  // Each file writeParquet returned has its own buffer; the body is a view of it.
  const transfer = [...new Set(encoded.segments.map((s) => s.groups.body.buffer as ArrayBuffer))];
  port.postMessage({ id: job.id, encoded } satisfies BatchReply, transfer);
});
