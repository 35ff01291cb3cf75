/**
 * The S3 "Object Created" event as EventBridge delivers it to the ingest queue: each SQS message
 * body is one EventBridge event whose `detail` names the bucket and the object (key URL-encoded,
 * size, ETag and version id).
 */
import { decodeS3EventKey } from '../files/key.ts';

/** One dropped object, as its creation event describes it. */
export interface InboundObjectEvent {
  readonly bucket: string;
  /** Object key, decoded. */
  readonly key: string;
  /** Size in bytes. */
  readonly size: number | undefined;
  /** ETag without quotes. */
  readonly etag: string | undefined;
  /** Version id (the landing bucket is versioned, so S3 always sends one). */
  readonly versionId: string | undefined;
  /** When S3 created the object (the event time). */
  readonly time: Date;
}

/** A queue message is not an S3 Object Created event. Not retryable: it ends in the dead-letter queue. */
export class InvalidIngestEventError extends Error {
  override readonly name = 'InvalidIngestEventError';
  readonly retryable = false;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Parses the body of one SQS message (an EventBridge S3 Object Created event). */
export function parseObjectCreatedEvent(body: string): InboundObjectEvent {
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(body) as Record<string, unknown>;
  } catch (e) {
    throw new InvalidIngestEventError('the message body is not JSON (expected an EventBridge S3 event)', { cause: e });
  }
  if (event === null || typeof event !== 'object') {
    throw new InvalidIngestEventError('the message body is not an object (expected an EventBridge S3 event)');
  }
  const detailType = event['detail-type'];
  if (event.source !== 'aws.s3' || detailType !== 'Object Created') {
    throw new InvalidIngestEventError(
      `expected an aws.s3 "Object Created" event, got source ${JSON.stringify(event.source)} detail-type ${JSON.stringify(detailType)}`,
    );
  }
  const detail = (event.detail ?? {}) as { bucket?: { name?: unknown }; object?: Record<string, unknown> };
  const bucket = str(detail.bucket?.name);
  const rawKey = str(detail.object?.key);
  if (!bucket || !rawKey) throw new InvalidIngestEventError('the event names no bucket or object key');
  const key = decodeS3EventKey(rawKey);
  if (key === undefined) throw new InvalidIngestEventError(`the event's object key is not valid URL encoding`);
  const size = detail.object?.size;
  const time = new Date(str(event.time) ?? Number.NaN);
  return {
    bucket,
    key,
    size: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined,
    etag: str(detail.object?.etag)?.replaceAll('"', ''),
    versionId: str(detail.object?.['version-id']),
    time: Number.isNaN(time.getTime()) ? new Date() : time,
  };
}

/**
 * Builds the SQS body EventBridge would deliver for an object (tests, the demo, and replaying an
 * object by hand). `key` is encoded as S3 encodes event keys.
 */
export function objectCreatedEventBody(event: {
  readonly bucket: string;
  readonly key: string;
  readonly size?: number;
  readonly etag?: string;
  readonly versionId?: string;
  readonly time?: Date;
}): string {
  const encodedKey = encodeURIComponent(event.key).replaceAll('%20', '+').replaceAll('%2F', '/');
  return JSON.stringify({
    version: '0',
    id: `${event.key}-${event.versionId ?? event.etag ?? ''}`,
    'detail-type': 'Object Created',
    source: 'aws.s3',
    time: (event.time ?? new Date()).toISOString(),
    resources: [`arn:aws:s3:::${event.bucket}`],
    detail: {
      version: '0',
      bucket: { name: event.bucket },
      object: {
        key: encodedKey,
        ...(event.size === undefined ? {} : { size: event.size }),
        ...(event.etag === undefined ? {} : { etag: event.etag }),
        ...(event.versionId === undefined ? {} : { 'version-id': event.versionId }),
      },
      reason: 'PutObject',
    },
  });
}
