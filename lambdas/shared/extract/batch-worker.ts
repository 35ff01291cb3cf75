/**
 * Entry point of a batch worker thread (see batch-pool.ts): decodes the source batches of a job
 * (COPY text or rows), maps them (exact coercion, enumeration maps, pseudonymization with the
 * operator's key) and encodes them (checks, window statistics, Parquet row groups per date
 * partition with the part writer's settings), and posts the result back. A worker serves the
 * windows of its process one after another (each a session with its own mapper and encoder) and
 * keeps its loaded code and the pseudonymizer of the operator's key between them. The Lambda
 * bundle builds this file as its own entry (`batch-worker.mjs`).
 */
import { parentPort } from 'node:worker_threads';
import type { StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { landedColumns } from '../landed-schema.ts';
import { type EncodedBatch, RowGroupEncoder } from '../landing/batch-encoding.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import type { SourceSeq } from '../mapping/version.ts';
import type { ParquetFileOptions } from '../parquet/file-stream.ts';
import { createPseudonymizer, type Pseudonymizer } from '../pii/pseudonymizer.ts';
import { parseCopyText } from '../sources/pg-copy.ts';
import type { SourceColumn } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { type BatchJob, type BatchReply, toWireError } from './batch-wire.ts';

/** What a window's session is opened with: everything `createRowMapper` and the encoder need. */
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

interface Session {
  readonly init: BatchWorkerInit;
  readonly mapper: RowMapper;
  readonly encoder: RowGroupEncoder;
}

/** Open windows (usually one) by session id. */
const sessions = new Map<number, Session>();
/** Sessions opened and not used yet: set up on their first job. */
const pending = new Map<number, BatchWorkerInit>();
/**
 * The pseudonymizer of the last key seen, kept across windows with its cache (a Lambda function
 * serves one operator, so one key); another key replaces it.
 */
let pseudonyms: { key: Buffer; pseudonymizer: Pseudonymizer } | undefined;

function pseudonymizerFor(key: Uint8Array): Pseudonymizer {
  if (!pseudonyms?.key.equals(key)) {
    pseudonyms = { key: Buffer.from(key), pseudonymizer: createPseudonymizer(Buffer.from(key)) };
  }
  return pseudonyms.pseudonymizer;
}

function openSession(init: BatchWorkerInit): Session {
  return {
    init,
    mapper: createRowMapper({
      config: init.config,
      stream: init.stream,
      sourceColumns: init.sourceColumns,
      pseudonymizer: pseudonymizerFor(init.pseudonymKey),
      runId: init.runId,
      extractedAt: new Date(init.extractedAt),
      sourceSeq: init.sourceSeq,
      ...(init.cursorColumn === undefined ? {} : { cursorColumn: init.cursorColumn }),
    }),
    encoder: new RowGroupEncoder(landedColumns(init.config, init.stream), init.context, init.fileOptions),
  };
}

port.on('message', (job: BatchJob) => {
  if (job.kind === 'open' || job.kind === 'close') {
    // Opening maps nothing yet: a bad context fails the session's first job, with its error.
    sessions.delete(job.session);
    if (job.kind === 'open') pending.set(job.session, job.init);
    else pending.delete(job.session);
    return;
  }
  let session: Session;
  try {
    session = sessionOf(job.session);
  } catch (err) {
    port.postMessage({ id: job.id, error: toWireError(err) } satisfies BatchReply);
    return;
  }
  if (job.kind === 'unmapped') {
    port.postMessage({ id: job.id, unmapped: session.mapper.unmapped() } satisfies BatchReply);
    return;
  }
  let encoded: EncodedBatch;
  try {
    // Batch by batch: the decoded rows of one source batch at a time are alive, not the job's.
    for (const batch of job.batches) {
      const rows = batch instanceof Uint8Array ? parseCopyText(batch) : batch;
      session.encoder.add(session.mapper.map({ columns: session.init.sourceColumns, rows }));
    }
    encoded = session.encoder.finish();
  } catch (err) {
    session.encoder.discard();
    port.postMessage({ id: job.id, error: toWireError(err) } satisfies BatchReply);
    return;
  }
  // Each body has a buffer of its own (the compressed pages, or the file writeParquet returned).
  const transfer = [...new Set(encoded.segments.map((s) => s.groups.body.buffer as ArrayBuffer))];
  port.postMessage({ id: job.id, encoded } satisfies BatchReply, transfer);
});

function sessionOf(id: number): Session {
  let session = sessions.get(id);
  if (!session) {
    const init = pending.get(id);
    if (!init) throw new Error(`batch pool session ${id} is not open in this worker`);
    pending.delete(id);
    session = openSession(init);
    sessions.set(id, session);
  }
  return session;
}
