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

export interface ObjectSink {
  /** Starts a streamed upload to `key`; the object replaces any previous one when it completes. */
  openUpload(key: string, contentType: string): ObjectUpload;
  /** Stores a small object in one request. */
  putObject(key: string, body: string | Uint8Array, contentType: string): Promise<void>;
  /** The object's bytes, or undefined when there is no object under `key`. */
  getObject(key: string): Promise<Uint8Array | undefined>;
  /** All keys that start with `prefix`, in lexicographic order. */
  listKeys(prefix: string): Promise<string[]>;
  /** Deletes the keys (missing keys are not an error). */
  deleteKeys(keys: readonly string[]): Promise<void>;
}
