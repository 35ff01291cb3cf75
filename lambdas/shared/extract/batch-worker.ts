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
import { type CsvHeader, type ReadContext, readCsvChunk } from '../files/csv.ts';
import { JsonLineRows, readJsonLinesChunk } from '../files/jsonl.ts';
import { type FilePlan, ProblemCollector, planFile } from '../files/plan.ts';
import { type FileProblem, FileProblemError } from '../files/reason.ts';
import { landedColumns } from '../landed-schema.ts';
import { type EncodedBatch, forEachDayRun, RowGroupEncoder } from '../landing/batch-encoding.ts';
import { CoercionError } from '../mapping/errors.ts';
import { createRowMapper, type RowMapper } from '../mapping/mapper.ts';
import type { SourceSeq } from '../mapping/version.ts';
import type { ParquetFileOptions } from '../parquet/file-stream.ts';
import { createPseudonymizer, type Pseudonymizer } from '../pii/pseudonymizer.ts';
import { parseCopyText } from '../sources/pg-copy.ts';
import type { LandedBatch, SourceColumn } from '../types.ts';
import type { WriteContext } from '../write-context.ts';
import { type BatchJob, type BatchReply, type FileChunkResult, toWireError } from './batch-wire.ts';

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
  /** Where the rows come from (the mapper's option). @default the mapper's default */
  readonly origin?: 'database' | 'fileDrop';
  /** A dropped file's session: how its chunks are read (`fileChunk` jobs). */
  readonly file?: FileChunkInit;
}

/** How a worker reads the chunks of one dropped CSV or JSON Lines file: as the main thread resolved it. */
export interface FileChunkInit {
  readonly format: 'csv' | 'jsonl';
  /** The CSV header (CSV files). */
  readonly header?: CsvHeader;
  /** The reader's limits (`ReadContext`). */
  readonly batchRows: number;
  readonly maxRecordBytes: number;
  readonly stopAfterProblems: number;
  readonly maxListedErrors: number;
  /** Rows the file may hold: a batch beyond them is not mapped (the file is refused). */
  readonly maxRows: number;
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
      ...(init.origin === undefined ? {} : { origin: init.origin }),
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
  if (job.kind === 'fileChunk') {
    let chunk: FileChunkResult;
    try {
      chunk = readChunk(session, job);
    } catch (err) {
      session.encoder.discard();
      port.postMessage({ id: job.id, error: toWireError(err) } satisfies BatchReply);
      return;
    }
    const buffers = (chunk.encoded ?? []).flatMap((e) => e.segments.map((s) => s.groups.body.buffer as ArrayBuffer));
    port.postMessage({ id: job.id, chunk } satisfies BatchReply, [...new Set(buffers)]);
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

/** Problems of one chunk, with the row of each one counted. */
class ChunkProblems extends ProblemCollector {
  readonly rows: number[] = [];
  override add(problem: FileProblem): void {
    super.add(problem);
    this.rows.push(problem.row ?? 0);
  }
}

/** File plans of the sessions (built from the config once per session). */
const filePlans = new WeakMap<Session, FilePlan>();

/**
 * Reads one chunk of a dropped CSV or JSON Lines file as the single-thread reader reads those records (same
 * checks, absolute lines and rows), and maps and encodes its batches while it is to be encoded
 * and no problem was found: each batch with a mapper whose `_source_seq` ordinals continue from
 * the rows before the chunk.
 */
function readChunk(session: Session, job: Extract<BatchJob, { kind: 'fileChunk' }>): FileChunkResult {
  const { init } = session;
  const file = init.file;
  if (!file) throw new Error('the batch pool session was not opened for a dropped file');
  if (init.sourceSeq.kind !== 'ordinal') throw new Error('a dropped file numbers its rows (_source_seq ordinals)');
  let plan = filePlans.get(session);
  if (!plan) {
    plan = planFile(init.config, init.stream);
    filePlans.set(session, plan);
  }
  const { place } = job;
  const problems = new ChunkProblems(file.maxListedErrors);
  const ctx: ReadContext = {
    plan,
    problems,
    batchRows: file.batchRows,
    maxRecordBytes: file.maxRecordBytes,
    stopAfterProblems: file.stopAfterProblems,
    rowsRead: place.firstRow,
    stoppedEarly: false,
  };
  const start = init.sourceSeq.start + BigInt(place.firstRow);
  let mapper: RowMapper | undefined;
  let encoding = job.encode;
  /**
   * One encoder per `_cursor` date of the chunk, in order of first appearance: an encoder ends a
   * row group at each date change, and a file's rows often alternate between two dates (a
   * local-time export around midnight UTC), which would make tiny row groups. The part writer
   * keeps a part per date, so the rows of each part are in file order either way.
   */
  const byDay = new Map<number, RowGroupEncoder>();
  const spare = spareEncoders(session);
  const encoderOf = (day: number): RowGroupEncoder => {
    let encoder = byDay.get(day);
    if (!encoder) {
      encoder =
        spare.pop() ?? new RowGroupEncoder(landedColumns(init.config, init.stream), init.context, init.fileOptions);
      byDay.set(day, encoder);
    }
    return encoder;
  };
  const release = (encoders: RowGroupEncoder[]) => {
    for (const encoder of encoders) encoder.discard();
    spare.push(...encoders.slice(0, Math.max(0, SPARE_ENCODERS - spare.length)));
  };
  let mappingError: FileChunkResult['mappingError'];
  let fatal: FileChunkResult['fatal'];
  const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  const jsonLines = file.format === 'jsonl' ? new JsonLineRows(ctx) : undefined;
  const read = (onBatch: (rows: (string | null)[][], batch: { readonly rows: number }) => void) => {
    if (!jsonLines) {
      if (!file.header) throw new Error('a CSV chunk needs the file header');
      readCsvChunk(bytes, place, file.header, ctx, onBatch);
      return;
    }
    try {
      readJsonLinesChunk(bytes, place, jsonLines, ctx, onBatch);
    } catch (e) {
      if (!(e instanceof FileProblemError)) throw e;
      const { code, message, line, row, column, example, listed } = e;
      fatal = { code, message, line, row, column, example, listed };
    }
  };
  try {
    read((rows, batch) => {
      if (!encoding || batch.rows > file.maxRows) {
        encoding = false;
        return;
      }
      mapper ??= createRowMapper({
        config: init.config,
        stream: init.stream,
        sourceColumns: init.sourceColumns,
        pseudonymizer: pseudonymizerFor(init.pseudonymKey),
        runId: init.runId,
        extractedAt: new Date(init.extractedAt),
        sourceSeq: { kind: 'ordinal', start, maxRows: file.maxRows - place.firstRow },
        origin: 'fileDrop',
      });
      try {
        const landed = mapper.map({ columns: init.sourceColumns, rows });
        const cursor = landed.columns[cursorIndex(mapper)] as readonly number[];
        forEachDayRun(cursor, landed.rowCount, (day, from, to) => {
          encoderOf(day).add(from === 0 && to === landed.rowCount ? landed : slice(landed, from, to));
        });
      } catch (e) {
        if (!(e instanceof CoercionError)) throw e;
        mappingError = { error: toWireError(e), throughRow: batch.rows };
        encoding = false;
      }
    });
  } catch (e) {
    release([...byDay.values()]);
    throw e;
  }
  let encoded: FileChunkResult['encoded'];
  if (encoding && problems.count === 0 && !fatal && byDay.size > 0) {
    encoded = [...byDay.values()].map((e) => e.finish());
  }
  release([...byDay.values()]);
  return {
    rows: ctx.rowsRead - place.firstRow,
    problems: problems.listed,
    problemRows: problems.rows,
    encoded,
    ...(mappingError ? { mappingError } : {}),
    ...(jsonLines ? { seen: jsonLines.seen } : {}),
    ...(fatal ? { fatal } : {}),
  };
}

/** Encoders kept per session between chunks (their Arrow buffers are reused). */
const SPARE_ENCODERS = 2;
const spares = new WeakMap<Session, RowGroupEncoder[]>();

function spareEncoders(session: Session): RowGroupEncoder[] {
  let list = spares.get(session);
  if (!list) {
    list = [session.encoder];
    spares.set(session, list);
  }
  return list;
}

const cursorIndexes = new WeakMap<RowMapper, number>();

/** Index of `_cursor` among the mapper's landed columns. */
function cursorIndex(mapper: RowMapper): number {
  let index = cursorIndexes.get(mapper);
  if (index === undefined) {
    index = mapper.columns.findIndex((c) => c.name === '_cursor');
    cursorIndexes.set(mapper, index);
  }
  return index;
}

/** Rows `[from, to)` of a landed batch. */
function slice(batch: LandedBatch, from: number, to: number): LandedBatch {
  return { rowCount: to - from, columns: batch.columns.map((values) => values.slice(from, to)) };
}
