/**
 * A pool of worker threads that map and encode source batches (batch-worker.ts), so every vCPU of
 * the function works: the main thread reads the source (for PostgreSQL only finding line ends in
 * the COPY text), hands job n (consecutive source batches) to worker n mod size, which returns
 * them as Parquet row groups, and places the row groups in the parts in read order and uploads.
 *
 * Results are identical to mapping on the main thread: each worker builds the same mapper (same
 * config, columns, run, extraction time and `_source_seq`) and a pseudonymizer with the same key,
 * and batches are written in read order. Memory is bounded by the caller, which keeps at most
 * {@link BatchPool.maxInFlight} batches submitted and not yet written.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EncodedBatch } from '../landing/batch-encoding.ts';
import { MAX_UNMAPPED_SAMPLES, type UnmappedValues } from '../mapping/mapper.ts';
import type { SourceBatch } from '../types.ts';
import { type BatchJob, type BatchReply, fromWireError } from './batch-wire.ts';
import type { BatchWorkerInit } from './batch-worker.ts';

/** V8 old-space limit of each worker (its pseudonym cache, one batch and its Arrow buffers). */
const WORKER_HEAP_MB = 192;

/** Lambda memory (MB) that buys one full vCPU; CPU is allocated in proportion to memory. */
export const MB_PER_VCPU = 1769;

/**
 * The vCPUs this process may use. In Lambda the CPUs the kernel shows are not the CPU share:
 * that follows the memory size (1 vCPU at 1,769 MB, 2 at 3,538 MB, up to 6 at 10,240 MB), so it
 * is derived from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` when set.
 */
export function functionVcpus(env: NodeJS.ProcessEnv = process.env, visible: number = availableParallelism()): number {
  const memory = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (!Number.isFinite(memory) || memory <= 0) return visible;
  return Math.max(1, Math.min(visible, Math.round(memory / MB_PER_VCPU)));
}

/**
 * Worker threads for a function with this many vCPUs: one fewer than the vCPUs (the main thread
 * reads, places the encoded row groups and uploads), none on a single vCPU (a worker would only
 * add copying).
 */
export function defaultBatchWorkers(vcpus: number = functionVcpus()): number {
  return vcpus >= 2 ? vcpus - 1 : 0;
}

/**
 * Source rows per job: a worker encodes a job into whole row groups, so a row group ends at a job
 * boundary (and at a date boundary), besides at the writer's row-group limits.
 */
export const JOB_ROWS = 64 * 1024;

/** Where the worker's code is: beside this module in the bundle, or the TypeScript source (tests, tsx). */
function workerEntry(): { url: URL; execArgv?: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Resolved from here, not from the working directory (the CLI may run from anywhere).
    return { url: new URL('./batch-worker.ts', here), execArgv: ['--import', import.meta.resolve('tsx')] };
  }
  // The bundle: the workers inherit the process's options (as Node does by default).
  return { url: new URL('./batch-worker.mjs', here) };
}

interface Pending {
  resolve(reply: BatchReply): void;
  reject(err: unknown): void;
}

export class BatchPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private next = 0;
  private failure: unknown;
  private closed = false;

  constructor(init: BatchWorkerInit, size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`a batch pool needs at least one worker, got ${size}`);
    const entry = workerEntry();
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(entry.url, {
        workerData: init,
        ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
        resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
        stdout: false,
        stderr: false,
      });
      worker.on('message', (reply: BatchReply) => {
        const waiting = this.pending.get(reply.id);
        if (!waiting) return;
        this.pending.delete(reply.id);
        if ('error' in reply) waiting.reject(fromWireError(reply.error));
        else waiting.resolve(reply);
      });
      worker.on('error', (err) => this.failAll(err));
      worker.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`a batch worker thread exited with code ${code}`));
      });
      return worker;
    });
  }

  /**
   * Jobs to keep submitted and not yet written: two per worker (each up to {@link JOB_ROWS} rows,
   * ~10 MB of COPY text in and ~3 MB of Parquet out), so a worker has its next job queued when it
   * finishes one.
   */
  get maxInFlight(): number {
    return this.workers.length * 2;
  }

  /**
   * Maps and encodes one job (consecutive source batches) in the next worker into row groups.
   * Rejects with the worker's error (same class). COPY text is moved to the worker, not copied:
   * the batches' text must not be used afterwards.
   */
  async encode(batches: readonly SourceBatch[]): Promise<EncodedBatch> {
    const transfer: ArrayBuffer[] = [];
    const job: BatchJob = {
      kind: 'batch',
      id: this.nextId++,
      batches: batches.map((batch) => {
        if (!batch.copyText) return batch.rows;
        const text = batch.copyText.text;
        const buffer = text.buffer;
        // A text with its own buffer moves; one in a shared pool (small) is copied.
        if (buffer instanceof ArrayBuffer && text.byteOffset === 0 && text.byteLength === buffer.byteLength) {
          transfer.push(buffer);
        }
        return text;
      }),
    };
    const worker = this.workers[this.next]!;
    this.next = (this.next + 1) % this.workers.length;
    const reply = await this.send(worker, job, transfer);
    return (reply as { encoded: EncodedBatch }).encoded;
  }

  /** Unmapped enumeration values over every batch mapped by the pool's workers. */
  async unmapped(): Promise<Record<string, UnmappedValues>> {
    const replies = await Promise.all(this.workers.map((w) => this.send(w, { kind: 'unmapped', id: this.nextId++ })));
    const merged: Record<string, { count: number; samples: Set<string> }> = {};
    for (const reply of replies) {
      for (const [field, values] of Object.entries((reply as { unmapped: Record<string, UnmappedValues> }).unmapped)) {
        const into = merged[field] ?? { count: 0, samples: new Set<string>() };
        merged[field] = into;
        into.count += values.count;
        for (const sample of values.samples) if (into.samples.size < MAX_UNMAPPED_SAMPLES) into.samples.add(sample);
      }
    }
    return Object.fromEntries(
      Object.entries(merged).map(([field, s]) => [field, { count: s.count, samples: [...s.samples] }]),
    );
  }

  /** Stops the workers (pending work is dropped). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error('the batch pool was closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private send(worker: Worker, job: BatchJob, transfer: ArrayBuffer[] = []): Promise<BatchReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<BatchReply>((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      worker.postMessage(job, transfer);
    });
  }

  private failAll(err: unknown): void {
    this.failure ??= err;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
  }
}
