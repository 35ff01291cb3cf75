/**
 * A real S3 engine for tests: s3rver, storing objects in a fresh temp directory, on a random
 * loopback port, with an S3Client configured for it (implemented in local/engines.ts, shared with
 * the demo).
 *
 * ```ts
 * const s3 = await startS3rver();
 * const bucket = await s3.createBucket();
 * const sink = new S3Sink({ client: s3.client, bucket });
 * ...
 * await s3.stop();
 * ```
 */
export { type S3rverHandle, s3rverClientConfig, startS3rver } from '../../local/engines.ts';
