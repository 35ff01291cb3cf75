/**
 * Validation of the S3 key of a dropped file: `inbound/<stream>/<name>`.
 *
 * Safe characters, everywhere in the key: Unicode letters and combining marks, decimal digits,
 * space, and `. _ - = + , ( ) @ ~` besides the `/` separator. Everything else (control and
 * format characters such as bidirectional overrides, `\ : * ? " < > | # % & ' ; $ ! ^ [ ] { }` and
 * backquote) is refused: such names break shells, URLs and spreadsheet tools downstream, and are
 * a common way to disguise a file name. `<name>` may contain sub-folders
 * (`inbound/payments/2024-05-01/part-1.csv`).
 */
import { isStreamName, STREAM_NAMES, type StreamName } from '../canonical.ts';
import { didYouMean } from '../config/did-you-mean.ts';
import type { OperatorConfig } from '../config/schema.ts';
import { PREFIX } from '../layout.ts';

/** S3's own limit on key length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

const SAFE_KEY = /^[\p{L}\p{M}\p{Nd} ._\-=+,()@~/]*$/u;
const UNSAFE_CHAR = /[^\p{L}\p{M}\p{Nd} ._\-=+,()@~/]/u;

/** A valid inbound key. */
export interface InboundKey {
  readonly ok: true;
  readonly stream: StreamName;
  /** The part after `inbound/<stream>/`, sub-folders included. */
  readonly name: string;
}

/** A key that is refused. */
export interface InboundKeyRejection {
  readonly ok: false;
  readonly code: 'INVALID_KEY' | 'UNKNOWN_STREAM';
  readonly message: string;
  /** The stream segment, when the key has one that is a canonical stream (for the quarantine prefix). */
  readonly stream: StreamName | null;
  /**
   * The key ends with `/`: a "folder" created by a console or a sync tool, not a file. The ingest
   * function ignores such objects instead of quarantining them.
   */
  readonly folderMarker: boolean;
}

function reject(
  code: InboundKeyRejection['code'],
  message: string,
  stream: StreamName | null = null,
  folderMarker = false,
): InboundKeyRejection {
  return { ok: false, code, message, stream, folderMarker };
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return /[\p{Cc}\p{Cf}\p{Z}]/u.test(ch) || ch === ' ' ? hex : `"${ch}" (${hex})`;
}

/**
 * Decodes the key of an S3 event notification (URL-encoded, spaces as `+`). Returns undefined when
 * the encoding is broken.
 */
export function decodeS3EventKey(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Checks a (decoded) object key and finds its stream. A stream must be a canonical stream that is
 * configured (`streams.<stream>`) for the operator.
 */
export function parseInboundKey(key: string, config: OperatorConfig): InboundKey | InboundKeyRejection {
  if (typeof key !== 'string' || key.length === 0) return reject('INVALID_KEY', 'the key is empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    return reject('INVALID_KEY', `the key is ${bytes} bytes long; at most ${MAX_KEY_BYTES} are allowed`);
  }
  if (key.startsWith('/')) return reject('INVALID_KEY', 'the key starts with "/"; drop files under inbound/<stream>/');
  if (!SAFE_KEY.test(key)) {
    const bad = UNSAFE_CHAR.exec(key)?.[0] ?? '?';
    return reject(
      'INVALID_KEY',
      `the key contains the character ${describeChar(bad)}; file names may use letters, digits, spaces and . _ - = + , ( ) @ ~`,
    );
  }
  if (!key.startsWith(PREFIX.inbound)) {
    return reject('INVALID_KEY', `the key is not under ${PREFIX.inbound}; drop files under inbound/<stream>/`);
  }
  const segments = key.slice(PREFIX.inbound.length).split('/');
  const streamSegment = segments[0] ?? '';
  const known = isStreamName(streamSegment) ? streamSegment : null;
  if (segments.length < 2) {
    return reject(
      'INVALID_KEY',
      `the key has no stream folder; drop files under inbound/<stream>/ (streams: ${STREAM_NAMES.join(', ')})`,
    );
  }
  const last = segments[segments.length - 1] ?? '';
  if (last === '') {
    return reject('INVALID_KEY', 'the key ends with "/": it names a folder, not a file', known, true);
  }
  for (const segment of segments) {
    if (segment === '') return reject('INVALID_KEY', 'the key has an empty path segment ("//")', known);
    if (segment.includes('..')) return reject('INVALID_KEY', 'the key contains ".."', known);
    if (segment === '.') return reject('INVALID_KEY', 'the key has a "." path segment', known);
    if (segment !== segment.trim()) {
      return reject('INVALID_KEY', 'a path segment of the key starts or ends with a space', known);
    }
  }
  if (last.startsWith('.')) {
    return reject('INVALID_KEY', `"${last}" is a hidden file (its name starts with "."); it is not read`, known);
  }

  if (known === null) {
    const configured = STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
    const suggestion = didYouMean(streamSegment, configured) ?? didYouMean(streamSegment, STREAM_NAMES);
    return reject(
      'UNKNOWN_STREAM',
      `"${streamSegment}" is not a stream${suggestion ? `; did you mean "${suggestion}"?` : ''} (streams of ${config.operatorId}: ${configured.join(', ') || 'none'})`,
    );
  }
  if (config.streams[known] === undefined) {
    const configured = STREAM_NAMES.filter((s) => config.streams[s] !== undefined);
    return reject(
      'UNKNOWN_STREAM',
      `stream ${known} is not configured for ${config.operatorId} (no streams.${known} in its config; configured: ${configured.join(', ') || 'none'})`,
      known,
    );
  }
  return { ok: true, stream: known, name: segments.slice(1).join('/') };
}
