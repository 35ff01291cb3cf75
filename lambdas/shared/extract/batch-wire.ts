/**
 * Messages between the batch pool and its worker threads, and how an error crosses the thread
 * boundary keeping its class: a CoercionError raised in a worker is a CoercionError (same name,
 * message, fields and `retryable`) where the window fails, as if the batch had been mapped on the
 * main thread. Messages carry no row values beyond what the error messages already quote under
 * the mapper's redaction rules.
 */

import type { TextChunkPlace } from '../files/csv.ts';
import type { FileProblem } from '../files/reason.ts';
import type { EncodedBatch } from '../landing/batch-encoding.ts';
import { CoercionError, MappingError, ValueProblem } from '../mapping/errors.ts';
import type { UnmappedValues } from '../mapping/mapper.ts';
import { ParquetEncodeError, ParquetWriteError } from '../parquet/errors.ts';
import type { BatchWorkerInit } from './batch-worker.ts';

export type BatchJob =
  | {
      readonly kind: 'batch';
      readonly session: number;
      readonly id: number;
      /**
       * The job's source batches in read order: each the COPY text of its rows (PostgreSQL) or
       * the rows themselves (other sources).
       */
      readonly batches: readonly (Uint8Array | readonly (readonly (string | null)[])[])[];
    }
  | {
      /**
       * One record-aligned chunk of a dropped CSV or JSON Lines file (`splitCsv`,
       * `splitJsonLines`): check, and map and encode while `encode`.
       */
      readonly kind: 'fileChunk';
      readonly session: number;
      readonly id: number;
      /** The chunk's text (moved to the worker, not copied). */
      readonly bytes: Uint8Array;
      readonly place: TextChunkPlace;
      /** False once the file is known to have a problem: the chunk is only checked. */
      readonly encode: boolean;
    }
  | { readonly kind: 'unmapped'; readonly session: number; readonly id: number }
  /** A window's session starts: what its mapper and encoder need. No reply. */
  | { readonly kind: 'open'; readonly session: number; readonly init: BatchWorkerInit }
  /** A window's session ends: its state is dropped. No reply. */
  | { readonly kind: 'close'; readonly session: number; readonly id: number };

export type BatchReply =
  | { readonly id: number; readonly encoded: EncodedBatch }
  | { readonly id: number; readonly unmapped: Record<string, UnmappedValues> }
  | { readonly id: number; readonly chunk: FileChunkResult }
  | { readonly id: number; readonly error: WireError };

/** What a worker found in one chunk of a dropped file. */
export interface FileChunkResult {
  /** Data rows checked (fewer than the chunk's when the worker stopped early). */
  readonly rows: number;
  /** The first problems of the chunk, in order (as many as the file's reason lists). */
  readonly problems: readonly FileProblem[];
  /** The data row of every problem counted, in order (problems stop at the file's `stopAfterErrors`). */
  readonly problemRows: readonly number[];
  /**
   * The chunk's mapped rows as row groups (one batch per `_cursor` date, in order of first
   * appearance), when it was to be encoded and had no problem.
   */
  readonly encoded: readonly EncodedBatch[] | undefined;
  /**
   * The mapper refused a value the checks passed (a CoercionError): the error, and the data rows
   * through the batch it was found in. Nothing of the chunk is encoded then.
   */
  readonly mappingError?: { readonly error: WireError; readonly throughRow: number };
  /** JSON Lines: per planned then dropped column, 1 when a line of the chunk had its key. */
  readonly seen?: Uint8Array;
  /**
   * JSON Lines: a line refused the whole file (`UNEXPECTED_COLUMN`, `DUPLICATE_COLUMN`); the
   * chunk was read up to it. The `FileProblemError`'s fields.
   */
  readonly fatal?: WireFileProblem;
}

/** The fields of a `FileProblemError` (files/reason.ts), to rebuild it on the main thread. */
export interface WireFileProblem {
  readonly code: FileProblem['code'];
  readonly message: string;
  readonly line: number | null;
  readonly row: number | null;
  readonly column: string | null;
  readonly example: string | null;
  readonly listed: readonly FileProblem[] | undefined;
}

/** An error as structured-cloneable data. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
  /** Own enumerable fields of the error (its details), when cloneable. */
  readonly fields: Record<string, unknown>;
}

/** Error classes revived with their prototype (Step Functions and callers match on them). */
const CLASSES: Record<string, { prototype: Error }> = {
  CoercionError,
  MappingError,
  ParquetEncodeError,
  ParquetWriteError,
  ValueProblem,
  RangeError,
  TypeError,
};

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (key !== 'cause' && cloneable(value)) fields[key] = value;
  }
  return { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}), fields };
}

/** The error of a worker, as an instance of its original class where that class is known. */
export function fromWireError(wire: WireError): Error {
  const proto = (CLASSES[wire.name] ?? Error).prototype;
  const err = Object.create(proto) as Error;
  Object.defineProperty(err, 'message', { value: wire.message, writable: true, configurable: true });
  if (wire.stack) Object.defineProperty(err, 'stack', { value: wire.stack, writable: true, configurable: true });
  Object.assign(err, wire.fields);
  if (err.name !== wire.name) Object.defineProperty(err, 'name', { value: wire.name, configurable: true });
  return err;
}
