/**
 * Messages between the batch pool and its worker threads, and how an error crosses the thread
 * boundary keeping its class: a CoercionError raised in a worker is a CoercionError (same name,
 * message, fields and `retryable`) where the window fails, as if the batch had been mapped on the
 * main thread. Messages carry no row values beyond what the error messages already quote under
 * the mapper's redaction rules.
 */

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
  | { readonly kind: 'unmapped'; readonly session: number; readonly id: number }
  /** A window's session starts: what its mapper and encoder need. No reply. */
  | { readonly kind: 'open'; readonly session: number; readonly init: BatchWorkerInit }
  /** A window's session ends: its state is dropped. No reply. */
  | { readonly kind: 'close'; readonly session: number; readonly id: number };

export type BatchReply =
  | { readonly id: number; readonly encoded: EncodedBatch }
  | { readonly id: number; readonly unmapped: Record<string, UnmappedValues> }
  | { readonly id: number; readonly error: WireError };

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
