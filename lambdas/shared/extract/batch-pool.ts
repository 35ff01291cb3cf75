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
import type { TextChunkPlace } from '../files/csv.ts';
import type { EncodedBatch } from '../landing/batch-encoding.ts';
import { MAX_UNMAPPED_SAMPLES, type UnmappedValues } from '../mapping/mapper.ts';
import type { SourceBatch } from '../types.ts';
import { type BatchJob, type BatchReply, type FileChunkResult, fromWireError } from './batch-wire.ts';
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
 * Worker threads for a function with this many vCPUs: one per vCPU, none on a single vCPU (a
 * worker would only add copying). The main thread only reads, places the encoded row groups and
 * uploads: ~2 of ~12 CPU-seconds per million rows (bench/RESULTS.md), mostly waiting, so it
 * does not need a vCPU of its own.
 */
export function defaultBatchWorkers(vcpus: number = functionVcpus()): number {
  return vcpus >= 2 ? vcpus : 0;
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
  readonly session: number;
  resolve(reply: BatchReply): void;
  reject(err: unknown): void;
}

/**
 * How long a pool with no open window keeps its workers: a warm Lambda invocation, or the next
 * window of a process, reuses them within this time instead of starting threads again.
 */
export const POOL_IDLE_MS = 60_000;

/**
 * Worker threads shared by the windows of one process. Each window opens a
 * {@link BatchPoolSession} with its own mapping context (config, columns, run, `_source_seq`);
 * the workers keep what does not depend on the window (the loaded code, parquet-wasm, the
 * pseudonymizer of the operator's key with its cache) from one window to the next.
 * While no window is open the workers do not keep the process alive, and they stop after
 * `idleMs`.
 */
export class BatchPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly sessions = new Set<number>();
  private nextId = 0;
  private nextSession = 0;
  private failure: unknown;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly idleMs: number = POOL_IDLE_MS) {}

  /** Workers started so far. */
  get size(): number {
    return this.workers.length;
  }

  /** The pool can take a new session (no worker has failed, not closed). */
  get usable(): boolean {
    return !this.closed && this.failure === undefined;
  }

  /**
   * Opens a window's session on `size` workers (started as needed, kept afterwards). Close it
   * when the window ends, failed or not.
   */
  open(init: BatchWorkerInit, size: number): BatchPoolSession {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`a batch pool needs at least one worker, got ${size}`);
    }
    if (!this.usable) throw new Error('the batch pool is closed or has failed');
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    while (this.workers.length < size) this.workers.push(this.startWorker());
    const session = this.nextSession++;
    this.sessions.add(session);
    const workers = this.workers.slice(0, size);
    for (const worker of workers) {
      worker.ref();
      worker.postMessage({ kind: 'open', session, init } satisfies BatchJob);
    }
    return new BatchPoolSession(this, session, workers);
  }

  /** Stops the workers (pending work is dropped). Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.failAll(new Error('the batch pool was closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** @internal */
  send(worker: Worker, session: number, job: BatchJob, transfer: ArrayBuffer[] = []): Promise<BatchReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the batch pool was closed'));
    const id = this.nextId++;
    return new Promise<BatchReply>((resolve, reject) => {
      this.pending.set(id, { session, resolve, reject });
      worker.postMessage({ ...job, id }, transfer);
    });
  }

  /** @internal Ends a session: its workers drop its state; replies still due are dropped. */
  release(session: number, workers: readonly Worker[]): void {
    if (!this.sessions.delete(session)) return;
    for (const [id, p] of this.pending) {
      if (p.session !== session) continue;
      this.pending.delete(id);
      p.reject(new Error('the window closed its batch pool session'));
    }
    if (this.closed) return;
    for (const worker of workers) worker.postMessage({ kind: 'close', session, id: -1 } satisfies BatchJob);
    if (this.sessions.size > 0) return;
    // Idle: the workers no longer keep the process alive, and stop if no window comes.
    for (const worker of this.workers) worker.unref();
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private startWorker(): Worker {
    const entry = workerEntry();
    const worker = new Worker(entry.url, {
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
  }

  private failAll(err: unknown): void {
    this.failure ??= err;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
  }
}

/** One window's use of a {@link BatchPool}. */
export class BatchPoolSession {
  private next = 0;
  private closed = false;

  /** @internal Opened by {@link BatchPool.open}. */
  constructor(
    private readonly pool: BatchPool,
    private readonly id: number,
    private readonly workers: readonly Worker[],
  ) {}

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
    if (this.closed) throw new Error('the batch pool session is closed');
    const transfer: ArrayBuffer[] = [];
    const job: BatchJob = {
      kind: 'batch',
      session: this.id,
      id: -1,
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
    const reply = await this.pool.send(worker, this.id, job, transfer);
    return (reply as { encoded: EncodedBatch }).encoded;
  }

  /**
   * Reads one record-aligned chunk of a dropped CSV or JSON Lines file in the next worker (a
   * session opened with `file`): checks its records, and maps and encodes them while `encode`.
   * The bytes are moved to the worker when they own their buffer (the splitters' chunks do): they
   * must not be used afterwards.
   */
  async readFileChunk(bytes: Uint8Array, place: TextChunkPlace, encode: boolean): Promise<FileChunkResult> {
    if (this.closed) throw new Error('the batch pool session is closed');
    const buffer = bytes.buffer;
    const transfer =
      buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? [buffer] : [];
    const { firstLine, firstRow, batches, final } = place;
    const job: BatchJob = {
      kind: 'fileChunk',
      session: this.id,
      id: -1,
      bytes,
      place: { firstLine, firstRow, batches, final },
      encode,
    };
    const worker = this.workers[this.next]!;
    this.next = (this.next + 1) % this.workers.length;
    const reply = await this.pool.send(worker, this.id, job, transfer);
    return (reply as { chunk: FileChunkResult }).chunk;
  }

  /** Unmapped enumeration values over every batch this session's workers mapped. */
  async unmapped(): Promise<Record<string, UnmappedValues>> {
    const replies = await Promise.all(
      this.workers.map((w) => this.pool.send(w, this.id, { kind: 'unmapped', session: this.id, id: -1 })),
    );
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

  /** Ends the session (work still due is dropped); the pool keeps its workers. Safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.release(this.id, this.workers);
  }
}

let shared: BatchPool | undefined;

/**
 * The process's pool, kept between windows (a warm Lambda invocation reuses its workers); a pool
 * whose worker failed or that stopped when idle is replaced.
 */
export function sharedBatchPool(): BatchPool {
  if (!shared?.usable) {
    void shared?.close();
    shared = new BatchPool();
  }
  return shared;
}

/** Stops the process's pool now (tests, the CLI and the benchmark before they exit). */
export async function closeSharedBatchPool(): Promise<void> {
  const pool = shared;
  shared = undefined;
  await pool?.close();
}
