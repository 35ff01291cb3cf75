/**
 * Ingesting one dropped object: the whole file-drop path after the event, as a plain module that
 * takes its clients and config (the `ingest-file` handler only adds the queue and metrics).
 *
 * **One pass.** The object is streamed from S3 through `readInboundFile` (validation), the row
 * mapper (types, enumeration values, PII) and the Parquet part writer: the same writer, mapper and
 * pseudonymizer as the database path. Parts are written under the file's own run while it is
 * read; nobody sees them until the manifest names them. If the file had no problem at all, the
 * manifest is written (the file has landed) and the original is moved to `archive/<stream>/` or
 * deleted (`fileDrop.afterIngest`). If it had any problem, the parts written are deleted and the
 * original is moved to `quarantine/<stream>/<name>` with `<name>.reason.json` beside it. The
 * original is removed only after it has landed or been quarantined, so nothing is lost.
 *
 * **Idempotent per object version.** The run id is derived from key and version
 * (`file-<sha256(key, version)>`), so a retried or duplicated event writes the same part keys and
 * manifest. Each version is claimed in the sync-state table first ({@link FileLedger}); a version
 * already finished is a duplicate and is skipped, and a version whose manifest already exists is
 * not read again (only the original is moved). A re-upload of the same key is a new version, and
 * lands again as its own run: the connector does not compare contents. Its rows carry a later
 * `_source_seq` (receive second × 10⁹ + row number, mapping/version.ts), so by the version order
 * a re-upload wins over an earlier upload of the same key and cursor.
 *
 * **Errors.** Everything wrong with the file itself ends in quarantine. Anything else (S3,
 * DynamoDB, KMS, network, a Lambda timeout) is rethrown after the claim is released, so the queue
 * retries the message and finally moves it to the dead-letter queue.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { STREAM_NAMES, type StreamName } from '../canonical.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { parseInboundKey } from '../files/key.ts';
import { checkInboundObject, type FileLimits } from '../files/reader.ts';
import { FileRejectedError, type QuarantineReason } from '../files/reason.ts';
import { landedColumns } from '../landed-schema.ts';
import { PartitionedPartWriter } from '../landing/part-writer.ts';
import { commitWindow, newAttemptId, readCommittedWindow, type WindowManifest } from '../landing/window.ts';
import { archiveKey, PREFIX, quarantineKey, quarantineReasonKey, UNKNOWN_STREAM_FOLDER } from '../layout.ts';
import type { Pseudonymizer } from '../pii/pseudonymizer.ts';
import { S3Sink } from '../sink/s3.ts';
import type { ListedObject, ObjectSink, ObjectUpload } from '../sink/sink.ts';
import { type FileLedger, type FileLedgerStatus, fileVersionOf } from '../state/file-ledger.ts';
import type { InboundObjectEvent } from './event.ts';
import { landInboundFile } from './land-file.ts';
import { copyObjectVersion, deleteObjectVersion, getObjectVersion, type ObjectRef } from './objects.ts';

/** Window id of every file run (a file is one window of its own run). */
export const FILE_WINDOW_ID = 'file';

/** The event is for another bucket than the operator's landing bucket. Not retryable. */
export class ForeignBucketError extends Error {
  override readonly name = 'ForeignBucketError';
  readonly retryable = false;
}

/** Log sink of the ingest module (the Powertools logger fits). */
export interface IngestLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** What {@link ingestObject} needs. */
export interface IngestDeps {
  readonly config: OperatorConfig;
  readonly s3: S3Client;
  /** The landing bucket. */
  readonly bucket: string;
  /**
   * Operator key every write is encrypted with.
   * @default no encryption headers (the bucket default applies; local engines)
   */
  readonly kmsKeyArn?: string;
  readonly ledger: FileLedger;
  /** The operator's pseudonymizer; only asked for when a file is read. */
  readonly pseudonymizer: () => Promise<Pseudonymizer>;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Size and parsing limits. @default from `fileDrop.maxFileSizeMb` and the reader's defaults */
  readonly limits?: FileLimits;
  /** Parquet part size limit. @default the writer's (128 MiB) */
  readonly partBytes?: number;
  /** Where Parquet inputs are spooled. @default os.tmpdir() */
  readonly tmpDir?: string;
  readonly logger?: IngestLogger;
  /** Called with the manifest just before a file's run commits (registers it for publishing). */
  readonly beforeCommit?: (manifest: WindowManifest) => Promise<void>;
  /**
   * Worker threads of the process's pool that read, map and encode CSV and JSON Lines files in chunks
   * (land-file.ts); 0 reads every file on this thread. Needs `pseudonymKey`. The Lambda handler
   * passes `defaultBatchWorkers()`.
   * @default 0
   */
  readonly workers?: number;
  /** The key of `pseudonymizer`: the workers make their own pseudonymizer with it. */
  readonly pseudonymKey?: () => Promise<Uint8Array>;
  /** Rows per reader batch. @default the reader's (10,000) */
  readonly batchRows?: number;
  /** Text per chunk a worker reads. @default FILE_CHUNK_BYTES (8 MiB) */
  readonly workerChunkBytes?: number;
  /** Smallest object read on the pool. @default the chunk size */
  readonly workerMinBytes?: number;
}

/** What became of one event. */
export type IngestOutcome =
  | {
      readonly status: 'landed';
      readonly key: string;
      readonly stream: StreamName;
      readonly runId: string;
      readonly manifestKey: string;
      readonly rows: number;
      readonly bytes: number;
      /** Where the original was moved, or null when it was deleted. */
      readonly originalMovedTo: string | null;
      /** True when the file had committed already (an earlier attempt landed it; only the original was moved). */
      readonly resumed: boolean;
      /** Objects of earlier attempts at the file removed by the commit. */
      readonly strayObjectsDeleted: number;
    }
  | {
      readonly status: 'quarantined';
      readonly key: string;
      readonly runId: string;
      readonly quarantineKey: string;
      readonly reasonKey: string;
      readonly reason: QuarantineReason;
    }
  | { readonly status: 'duplicate'; readonly key: string; readonly runId: string; readonly previous: FileLedgerStatus }
  | { readonly status: 'ignored'; readonly key: string; readonly why: string }
  | { readonly status: 'missing'; readonly key: string; readonly runId: string };

/** `file-<24 hex>`: the run id of an object version (deterministic). */
export function fileRunId(key: string, version: string): string {
  const hash = createHash('sha256').update(key).update('\u0000').update(version).digest('hex');
  return `file-${hash.slice(0, 24)}`;
}

const SAFE_CHAR = /[\p{L}\p{M}\p{Nd} ._\-=+,()@~]/u;

/** A key made safe to be a path under `quarantine/`: unsafe characters become `_`, odd segments go. */
function safeName(path: string): string {
  const segments = path
    .split('/')
    .map((s) => [...s].map((ch) => (SAFE_CHAR.test(ch) ? ch : '_')).join(''))
    .filter((s) => s !== '' && s !== '.' && s !== '..' && !s.includes('..'));
  return segments.length > 0 ? segments.join('/') : 'unnamed';
}

/** Where a rejected object goes: its configured stream's folder, else `_unknown` with the whole path. */
function quarantinePlace(config: OperatorConfig, key: string): { folder: string; name: string } {
  const parsed = parseInboundKey(key, config);
  if (parsed.ok) return { folder: parsed.stream, name: parsed.name };
  const rest = key.startsWith(PREFIX.inbound) ? key.slice(PREFIX.inbound.length) : key;
  const [first, ...others] = rest.split('/');
  const stream = STREAM_NAMES.find((s) => s === first && config.streams[s] !== undefined);
  if (stream && others.length > 0) return { folder: stream, name: safeName(others.join('/')) };
  return { folder: UNKNOWN_STREAM_FOLDER, name: safeName(rest) };
}

/** An {@link ObjectSink} that remembers the keys of completed uploads (to delete them on rejection). */
class RecordingSink implements ObjectSink {
  readonly written = new Set<string>();
  constructor(private readonly inner: ObjectSink) {}

  openUpload(key: string, contentType: string): ObjectUpload {
    const upload = this.inner.openUpload(key, contentType);
    return {
      write: (chunk) => upload.write(chunk),
      end: async () => {
        await upload.end();
        this.written.add(key);
      },
      abort: () => upload.abort(),
    };
  }
  location(key: string): string {
    return this.inner.location(key);
  }
  putObject(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    metadata?: Readonly<Record<string, string>>,
  ): Promise<void> {
    return this.inner.putObject(key, body, contentType, metadata);
  }
  getObject(key: string): Promise<Uint8Array | undefined> {
    return this.inner.getObject(key);
  }
  getObjectWithMetadata(key: string) {
    return this.inner.getObjectWithMetadata(key);
  }
  listKeys(prefix: string): Promise<string[]> {
    return this.inner.listKeys(prefix);
  }
  listObjects(prefix: string): Promise<ListedObject[]> {
    return this.inner.listObjects(prefix);
  }
  deleteKeys(keys: readonly string[]): Promise<void> {
    return this.inner.deleteKeys(keys);
  }
}

/**
 * Ingests one dropped object version (see the module documentation). Resolves with what became of
 * it; rejects only for errors that are not the file's fault (the message is then retried).
 */
export async function ingestObject(deps: IngestDeps, event: InboundObjectEvent): Promise<IngestOutcome> {
  const { config, s3, ledger } = deps;
  const now = deps.now ?? (() => new Date());
  const log = deps.logger;
  const { key } = event;
  if (event.bucket !== deps.bucket) {
    throw new ForeignBucketError(
      `${config.operatorId}: the event is for bucket ${event.bucket}, not the landing bucket ${deps.bucket}; check the event rule`,
    );
  }
  const parsed = parseInboundKey(key, config);
  if (!parsed.ok && parsed.folderMarker) return { status: 'ignored', key, why: 'folder marker (key ends with "/")' };
  if (!key.startsWith(PREFIX.inbound)) return { status: 'ignored', key, why: 'not under inbound/' };

  const version = fileVersionOf(event.versionId, event.etag);
  const runId = fileRunId(key, version);
  const ref: ObjectRef = { bucket: deps.bucket, key, versionId: event.versionId };
  const previous = await ledger.claim(key, version, runId, now());
  if (previous) {
    log?.info('duplicate event: this object version was already processed', { key, version, status: previous.status });
    return { status: 'duplicate', key, runId, previous: previous.status as FileLedgerStatus };
  }

  const baseSink = new S3Sink({
    client: s3,
    bucket: deps.bucket,
    ...(deps.kmsKeyArn ? { kmsKeyArn: deps.kmsKeyArn } : {}),
    context: { operatorId: config.operatorId, ...(parsed.ok ? { stream: parsed.stream } : {}), windowId: runId },
  });
  const sink = new RecordingSink(baseSink);
  let writer: PartitionedPartWriter | undefined;

  const finish = async (status: FileLedgerStatus, detail: Record<string, string | number>) =>
    ledger.finish(key, version, runId, status, now(), detail);

  const quarantine = async (reason: QuarantineReason): Promise<IngestOutcome> => {
    await writer?.abort();
    if (sink.written.size > 0) await baseSink.deleteKeys([...sink.written]);
    const place = quarantinePlace(config, key);
    const target = quarantineKey(place.folder, place.name);
    const reasonKey = quarantineReasonKey(place.folder, place.name);
    if (!(await copyObjectVersion(s3, ref, target, event.size, deps.kmsKeyArn))) {
      log?.warn('the rejected object no longer exists; nothing to quarantine', { key, version });
      await finish('missing', {});
      return { status: 'missing', key, runId };
    }
    await baseSink.putObject(reasonKey, `${JSON.stringify(reason, null, 2)}\n`, 'application/json');
    await deleteObjectVersion(s3, ref);
    await finish('quarantined', { quarantineKey: target, code: reason.code });
    log?.warn('file quarantined', { key, quarantineKey: target, code: reason.code, errorCount: reason.errorCount });
    return { status: 'quarantined', key, runId, quarantineKey: target, reasonKey, reason };
  };

  const moveOriginal = async (stream: StreamName, name: string): Promise<string | null> => {
    if (config.fileDrop?.afterIngest === 'delete') {
      await deleteObjectVersion(s3, ref);
      return null;
    }
    const target = archiveKey(stream, name);
    // A source already gone was moved by an earlier attempt that died before recording it.
    await copyObjectVersion(s3, ref, target, event.size, deps.kmsKeyArn);
    await deleteObjectVersion(s3, ref);
    return target;
  };

  try {
    const checked = checkInboundObject({
      config,
      key,
      receivedAt: event.time,
      ...(event.size === undefined ? {} : { size: event.size }),
      ...(deps.limits ? { limits: deps.limits } : {}),
    });
    const { stream, name } = checked;

    const committed = await readCommittedWindow(baseSink, stream, runId, FILE_WINDOW_ID);
    if (committed) {
      const movedTo = await moveOriginal(stream, name);
      await finish('landed', { manifestKey: committed.manifestKey, rows: committed.manifest.rowCount });
      log?.info('file had landed already; original moved', { key, runId });
      return {
        status: 'landed',
        key,
        stream,
        runId,
        manifestKey: committed.manifestKey,
        rows: committed.manifest.rowCount,
        bytes: committed.manifest.bytes,
        originalMovedTo: movedTo,
        resumed: true,
        strayObjectsDeleted: 0,
      };
    }

    const object = await getObjectVersion(s3, ref);
    const etag = object?.ETag?.replaceAll('"', '');
    if (!object?.Body || (!event.versionId && event.etag && etag && etag !== event.etag)) {
      (object?.Body as { destroy?: () => void } | undefined)?.destroy?.();
      log?.warn('the object version of the event no longer exists; nothing to ingest', { key, version });
      await finish('missing', {});
      return { status: 'missing', key, runId };
    }

    const columns = landedColumns(config, stream);
    const pseudonymizer = await deps.pseudonymizer();
    const workers = deps.workers ?? 0;
    const pseudonymKey = workers > 0 ? await deps.pseudonymKey?.() : undefined;
    writer = new PartitionedPartWriter({
      sink,
      stream,
      runId,
      windowId: FILE_WINDOW_ID,
      attempt: newAttemptId(now()),
      columns,
      operatorId: config.operatorId,
      ...(deps.partBytes ? { partBytes: deps.partBytes } : {}),
    });
    const { result } = await landInboundFile({
      config,
      file: event,
      body: object.Body as AsyncIterable<Uint8Array>,
      stream,
      writer,
      pseudonymizer,
      runId,
      extractedAt: now(),
      ...(deps.limits ? { limits: deps.limits } : {}),
      ...(deps.tmpDir ? { tmpDir: deps.tmpDir } : {}),
      ...(deps.batchRows ? { batchRows: deps.batchRows } : {}),
      workers,
      ...(pseudonymKey ? { pseudonymKey } : {}),
      ...(deps.workerChunkBytes ? { chunkBytes: deps.workerChunkBytes } : {}),
      ...(deps.workerMinBytes === undefined ? {} : { workerMinBytes: deps.workerMinBytes }),
    });
    if (!result.ok) return await quarantine(result.reason!);

    const progress = await writer.close();
    const fallback = event.time;
    const committedWindow = await commitWindow(baseSink, {
      operatorId: config.operatorId,
      stream,
      runId,
      windowId: FILE_WINDOW_ID,
      from: progress.minCursor ? new Date(progress.minCursor) : fallback,
      to: progress.maxCursor ? new Date(progress.maxCursor) : fallback,
      columns,
      progress,
      now: now(),
      ...(deps.beforeCommit ? { beforeCommit: deps.beforeCommit } : {}),
    });
    const movedTo = await moveOriginal(stream, name);
    await finish('landed', { manifestKey: committedWindow.manifestKey, rows: progress.rowCount });
    log?.info('file landed', { key, runId, rows: progress.rowCount, manifestKey: committedWindow.manifestKey });
    return {
      status: 'landed',
      key,
      stream,
      runId,
      manifestKey: committedWindow.manifestKey,
      rows: progress.rowCount,
      bytes: progress.bytes,
      originalMovedTo: movedTo,
      resumed: false,
      strayObjectsDeleted: committedWindow.deletedKeys.length,
    };
  } catch (error) {
    if (error instanceof FileRejectedError) {
      try {
        return await quarantine(error.reason);
      } catch (e) {
        await ledger.release(key, version);
        throw e;
      }
    }
    await writer?.abort().catch(() => undefined);
    await ledger.release(key, version);
    throw error;
  }
}
