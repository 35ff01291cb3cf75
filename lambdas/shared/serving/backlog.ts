/**
 * What the publication backlog records of a committed window: enough to plan its MERGE without
 * reading its manifest again (rows, and the range of the stream's partition column).
 */
import type { OperatorConfig } from '../config/schema.ts';
import type { WindowManifest } from '../landing/window.ts';
import type { PartitionRange, PendingPublication } from '../state/publications.ts';
import { boundedByTime, servingLayout } from './tables.ts';

/** The partition column's values in a window, from its manifest; undefined for a bucketed table. */
export function partitionRangeOf(config: OperatorConfig, manifest: WindowManifest): PartitionRange | undefined {
  if (!boundedByTime(config, manifest.stream)) return undefined;
  const column = servingLayout(config, manifest.stream).partition.column;
  const range = manifest.timeRanges?.[column];
  return { range: range ? { min: range.min, max: range.max } : null, hasNulls: (manifest.nullCounts[column] ?? 0) > 0 };
}

/** The backlog entry of a window about to commit. */
export function publicationOf(
  config: OperatorConfig,
  manifest: WindowManifest,
): Omit<PendingPublication, 'registeredAt'> {
  const partition = partitionRangeOf(config, manifest);
  return {
    stream: manifest.stream,
    runId: manifest.runId,
    windowId: manifest.windowId,
    rows: manifest.rowCount,
    ...(partition ? { partition } : {}),
  };
}

/** Merges the partition ranges of several windows (an unknown range makes the union unknown). */
export function unionRange(ranges: readonly (PartitionRange | undefined)[]): PartitionRange | undefined {
  let min: string | undefined;
  let max: string | undefined;
  let hasNulls = false;
  for (const r of ranges) {
    if (!r) return undefined;
    if (r.range) {
      if (min === undefined || Date.parse(r.range.min) < Date.parse(min)) min = r.range.min;
      if (max === undefined || Date.parse(r.range.max) > Date.parse(max)) max = r.range.max;
    }
    if (r.hasNulls) hasNulls = true;
  }
  return { range: min !== undefined && max !== undefined ? { min, max } : null, hasNulls };
}
