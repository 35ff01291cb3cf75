/**
 * Where landed objects go: the narrow object-store interface the Parquet part writer and the
 * window commit use. {@link S3Sink} implements it for S3 (and s3rver locally).
 */

/** A streamed upload of one object. Nothing is visible under the key until `end` resolves. */
export interface ObjectUpload {
  /** Appends bytes; resolves when the upload can take more (backpressure). Rejects if the upload failed. */
  write(chunk: Uint8Array): Promise<void>;
  /** Ends the body; resolves when the object is stored. */
  end(): Promise<void>;
  /** Abandons the upload: no object is created and uploaded multipart pieces are discarded. */
  abort(): Promise<void>;
}

/** An object listed by {@link ObjectSink.listObjects}. */
export interface ListedObject {
  readonly key: string;
  readonly lastModified: Date;
  readonly size: number;
}

export interface ObjectSink {
  /** The object's URI as other services name it (`s3://<bucket>/<key>`). */
  location(key: string): string;
  /** Starts a streamed upload to `key`; the object replaces any previous one when it completes. */
  openUpload(key: string, contentType: string): ObjectUpload;
  /** Stores a small object in one request, with optional user metadata (lower-case names). */
  putObject(
    key: string,
    body: string | Uint8Array,
    contentType: string,
    metadata?: Readonly<Record<string, string>>,
  ): Promise<void>;
  /** The object's bytes, or undefined when there is no object under `key`. */
  getObject(key: string): Promise<Uint8Array | undefined>;
  /** The object's bytes and user metadata, or undefined when there is no object under `key`. */
  getObjectWithMetadata(
    key: string,
  ): Promise<{ readonly body: Uint8Array; readonly metadata: Readonly<Record<string, string>> } | undefined>;
  /** All keys that start with `prefix`, in lexicographic order. */
  listKeys(prefix: string): Promise<string[]>;
  /** All objects whose key starts with `prefix`, with their last-modified time and size, in key order. */
  listObjects(prefix: string): Promise<ListedObject[]>;
  /** Deletes the keys (missing keys are not an error). */
  deleteKeys(keys: readonly string[]): Promise<void>;
}
