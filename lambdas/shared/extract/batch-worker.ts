/**
 * Entry point of a batch worker thread (see batch-pool.ts): decodes a source batch (COPY text or
 * rows), maps it (exact coercion, enumeration maps, pseudonymization with the operator's key) and
 * encodes it (checks, window statistics, Arrow IPC per date partition), and posts the result back.
 * The Lambda bundle builds this file as its own entry (`batch-worker.mjs`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { landedColumns } from '../landed-schema.ts';
import { type EncodedBatch, LandedBatchEncoder } from '../landing/batch-encoding.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import type { SourceSeq } from '../mapping/version.ts';
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
}

const port = parentPort;
if (!port) throw new Error('batch-worker runs as a worker thread');
const init = workerData as BatchWorkerInit;

let mapper: RowMapper | undefined;
let encoder: LandedBatchEncoder | undefined;

function setUp(): { mapper: RowMapper; encoder: LandedBatchEncoder } {
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
  encoder ??= new LandedBatchEncoder(landedColumns(init.config, init.stream), init.context);
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
    const rows = job.copyText ? parseCopyText(job.copyText) : job.rows!;
    encoded = tools.encoder.encode(tools.mapper.map({ columns: init.sourceColumns, rows }));
  } catch (err) {
    port.postMessage({ id: job.id, error: toWireError(err) } satisfies BatchReply);
    return;
  }
  const transfer: ArrayBuffer[] = [];
  for (const s of encoded.segments) {
    const buffer = s.ipc.buffer;
    if (buffer instanceof ArrayBuffer && s.ipc.byteOffset === 0 && s.ipc.byteLength === buffer.byteLength) {
      transfer.push(buffer);
    }
  }
  port.postMessage({ id: job.id, encoded } satisfies BatchReply, transfer);
});
