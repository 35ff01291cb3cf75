/**
 * The byte stream of a dropped object: size limits, compression detected from the content (not
 * the name), streaming gunzip with decompression-bomb limits.
 *
 * Compression is recognised by magic bytes: gzip (`1f 8b`) is decompressed, so `players.csv`
 * holding gzip is read and `players.csv.gz` holding plain text is read as it is. zip, bzip2, xz,
 * zstd and Unix compress are refused with `UNSUPPORTED_COMPRESSION` instead of being parsed as
 * garbage text. Concatenated gzip members (as `cat a.gz b.gz` or parallel gzip produce) are read
 * as one stream.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { FileProblemError } from './reason.ts';

/** Size limits of one dropped object. */
export interface InputLimits {
  /** Largest object accepted, in bytes as stored (`fileDrop.maxFileSizeMb`). */
  readonly maxBytes: number;
  /**
   * Largest content after decompression, in bytes.
   * @default maxBytes: reading time and temporary storage are spent on decompressed bytes
   */
  readonly maxDecompressedBytes?: number;
  /**
   * Largest ratio of decompressed to compressed bytes, enforced once `ratioGraceBytes` have been
   * decompressed. Real exports compress 5-20:1; a bomb of zeros, 1000:1.
   * @default 100
   */
  readonly maxRatio?: number;
  /**
   * Decompressed bytes read before the ratio is enforced (small files of repetitive data may
   * compress well beyond the ratio).
   * @default 16 MiB
   */
  readonly ratioGraceBytes?: number;
}

/** Counters of an inbound stream, updated while it is read. */
export interface InboundStats {
  /** Bytes of the object read so far (as stored, compressed or not). */
  storedBytes: number;
  /** Content bytes produced so far (after decompression). */
  bytes: number;
  /** Whether the content is gzip-compressed. */
  gzip: boolean;
}

/** The decompressed content of an object, as a stream of byte chunks. */
export interface InboundBytes extends AsyncIterable<Uint8Array> {
  readonly stats: InboundStats;
}

/** A body as the S3 SDK returns it, or any async source of bytes. */
export type InboundBody = Readable | AsyncIterable<Uint8Array | string>;

const MIB = 1024 * 1024;
export const DEFAULT_MAX_RATIO = 100;
export const DEFAULT_RATIO_GRACE_BYTES = 16 * MIB;
/** Bytes looked at to recognise a compression format. */
const SNIFF_BYTES = 10;

const mb = (bytes: number) => `${(bytes / MIB).toFixed(bytes < MIB ? 3 : 0)} MiB`;

/** Throws FILE_TOO_LARGE / EMPTY_FILE from the size of the object (before reading it). */
export function checkObjectSize(size: number | undefined | null, maxBytes: number): void {
  if (size === undefined || size === null) return;
  if (size === 0) throw new FileProblemError('EMPTY_FILE', 'the file is empty (0 bytes)');
  if (size > maxBytes) {
    throw new FileProblemError(
      'FILE_TOO_LARGE',
      `the file is ${mb(size)}, larger than the maximum of ${mb(maxBytes)} (fileDrop.maxFileSizeMb); split it into smaller files`,
    );
  }
}

type Compression = 'gzip' | 'none' | 'zip' | 'bzip2' | 'xz' | 'zstd' | 'compress';

function sniff(head: Uint8Array): Compression {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x1f && b(1) === 0x9d) return 'compress';
  if (b(0) === 0x50 && b(1) === 0x4b && (b(2) === 3 || b(2) === 5 || b(2) === 7) && b(3) === b(2) + 1) return 'zip';
  // "BZh" + block size digit + the block magic (the digits of pi): plain text rarely starts so.
  if (
    b(0) === 0x42 &&
    b(1) === 0x5a &&
    b(2) === 0x68 &&
    b(3) >= 0x31 &&
    b(3) <= 0x39 &&
    ((b(4) === 0x31 && b(5) === 0x41 && b(6) === 0x59) || (b(4) === 0x17 && b(5) === 0x72))
  ) {
    return 'bzip2';
  }
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0) return 'xz';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  return 'none';
}

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Opens the content of a dropped object: counts stored bytes against `maxBytes`, recognises
 * compression by content, and gunzips with limits on decompressed size and ratio. Errors are
 * {@link FileProblemError}s with the codes FILE_TOO_LARGE, EMPTY_FILE, CORRUPT_GZIP,
 * DECOMPRESSION_LIMIT and UNSUPPORTED_COMPRESSION. Iterate once.
 */
export function openInbound(body: InboundBody, limits: InputLimits): InboundBytes {
  const maxBytes = limits.maxBytes;
  const maxDecompressed = limits.maxDecompressedBytes ?? maxBytes;
  const maxRatio = limits.maxRatio ?? DEFAULT_MAX_RATIO;
  const grace = limits.ratioGraceBytes ?? DEFAULT_RATIO_GRACE_BYTES;
  const stats: InboundStats = { storedBytes: 0, bytes: 0, gzip: false };

  async function* stored(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
      const bytes = toBytes(chunk);
      stats.storedBytes += bytes.length;
      if (stats.storedBytes > maxBytes) {
        throw new FileProblemError(
          'FILE_TOO_LARGE',
          `the file is larger than the maximum of ${mb(maxBytes)} (fileDrop.maxFileSizeMb); split it into smaller files`,
        );
      }
      if (bytes.length > 0) yield bytes;
    }
  }

  async function* content(): AsyncGenerator<Uint8Array> {
    const source = stored();
    const head: Uint8Array[] = [];
    let headLength = 0;
    let ended = false;
    while (headLength < SNIFF_BYTES) {
      const next = await source.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      headLength += next.value.length;
    }
    if (headLength === 0) throw new FileProblemError('EMPTY_FILE', 'the file is empty (0 bytes)');
    const compression = sniff(Buffer.concat(head).subarray(0, SNIFF_BYTES));
    if (compression !== 'none' && compression !== 'gzip') {
      throw new FileProblemError(
        'UNSUPPORTED_COMPRESSION',
        `the file is a ${compression} archive; upload the plain file, or gzip it (.gz)`,
      );
    }
    async function* replay(): AsyncGenerator<Uint8Array> {
      yield* head;
      if (!ended) yield* source;
    }
    if (compression === 'none') {
      for await (const chunk of replay()) {
        stats.bytes += chunk.length;
        yield chunk;
      }
      return;
    }

    stats.gzip = true;
    const gunzip = createGunzip({ chunkSize: 64 * 1024 });
    // The pipeline's own promise is awaited below; its rejection is the same error the loop sees.
    const piping = pipeline(Readable.from(replay(), { objectMode: false }), gunzip);
    piping.catch(() => {});
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        stats.bytes += chunk.length;
        if (stats.bytes > maxDecompressed) {
          throw new FileProblemError(
            'DECOMPRESSION_LIMIT',
            `the gzip content is larger than ${mb(maxDecompressed)} once decompressed; split it into smaller files`,
          );
        }
        if (stats.bytes > grace && stats.bytes > maxRatio * stats.storedBytes) {
          throw new FileProblemError(
            'DECOMPRESSION_LIMIT',
            `the gzip content expands more than ${maxRatio}:1 (${mb(stats.bytes)} from ${mb(stats.storedBytes)}); such files are refused as decompression bombs`,
          );
        }
        yield chunk;
      }
      await piping;
    } catch (err) {
      if (err instanceof FileProblemError) throw err;
      if (isZlibError(err)) {
        throw new FileProblemError(
          'CORRUPT_GZIP',
          `the gzip data is truncated or damaged after ${stats.storedBytes} bytes (${(err as Error).message}); upload the file again`,
          { cause: err },
        );
      }
      throw err;
    } finally {
      gunzip.destroy();
    }
    if (stats.bytes === 0) throw new FileProblemError('EMPTY_FILE', 'the gzip file holds no data');
  }

  return {
    stats,
    [Symbol.asyncIterator]: () => content(),
  };
}
