/**
 * The source columns a stream's config names: the one reading of a field mapping (a column name,
 * or `{ column, … }`) and of the cursor, shared by validation, the source plan, the mapper and
 * file drops.
 */
import { CANONICAL_STREAMS, type StreamName } from '../canonical.ts';
import type { FieldMapping, StreamConfig } from './schema.ts';

/** The source column of a field mapping. */
export function mappedColumn(mapping: FieldMapping): string;
export function mappedColumn(mapping: FieldMapping | undefined): string | undefined;
export function mappedColumn(mapping: FieldMapping | undefined): string | undefined {
  if (mapping === undefined) return undefined;
  return typeof mapping === 'string' ? mapping : mapping.column;
}

/** The cursor source column of a stream: `cursor` if set, else the column mapped to the canonical cursor. */
export function cursorColumnOf(stream: StreamName, streamConfig: StreamConfig): string | undefined {
  return streamConfig.cursor ?? mappedColumn(streamConfig.columns[CANONICAL_STREAMS[stream].cursor]);
}
