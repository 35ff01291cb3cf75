/** Mapping of source batches onto the landed columns of a canonical stream. */
export { typeLabel } from './coerce.ts';
export { CoercionError, MappingError } from './errors.ts';
export {
  createRowMapper,
  type RowMapper,
  type RowMapperOptions,
  type UnmappedValues,
} from './mapper.ts';
export {
  parseDateTime,
  wallTimeToEpochMicros,
  wallTimeToEpochMs,
  ZoneConverter,
  zoneConverter,
} from './time.ts';
export { databaseSourceSeq, fileSourceSeq, MAX_FILE_ROWS, type SourceSeq } from './version.ts';
