/**
 * Continuation positions leave the Lambda in Step Functions payloads and execution history, and a
 * position is a row's cursor and primary key, which can be personal (a player id). They are
 * therefore sealed with AES-256-GCM under a key derived from the operator's pseudonym key: opaque
 * outside the connector, tamper-evident, and readable by any invocation of the same operator.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { KeysetPosition } from '../sources/source.ts';

/** A sealed position is not valid for this operator (tampered, truncated or from another operator). */
export class PositionSealError extends Error {
  override readonly name = 'PositionSealError';
}

function positionKey(pseudonymKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', pseudonymKey, Buffer.alloc(0), 'igaming-connector/continuation-position', 32));
}

/** `v1.<base64url(iv | tag | ciphertext)>` */
export function sealPosition(pseudonymKey: Buffer, position: KeysetPosition): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', positionKey(pseudonymKey), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify([position.cursor, position.key]), 'utf8'), cipher.final()]);
  return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function openPosition(pseudonymKey: Buffer, sealed: string): KeysetPosition {
  if (!sealed.startsWith('v1.')) throw new PositionSealError('continuation position has an unknown format');
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  if (raw.length < 29) throw new PositionSealError('continuation position is truncated');
  try {
    const decipher = createDecipheriv('aes-256-gcm', positionKey(pseudonymKey), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    const [cursor, key] = JSON.parse(text) as [string, string];
    return { cursor, key };
  } catch (e) {
    throw new PositionSealError('continuation position does not belong to this operator or was altered', { cause: e });
  }
}
