/**
 * The window grid of snapshots. A stream's snapshot range [from, cutoff) is cut on a grid of
 * `windowHours` counted from the Unix epoch (UTC), so boundaries fall on the same UTC hours whatever
 * the range, and a window's id (`YYYYMMDDHH-YYYYMMDDHH`, its UTC bounds) is the same for the same
 * range. With `snapshot.targetRowsPerWindow`, a stream whose estimated density would put more rows
 * than that into one window gets a finer grid (a divisor of 24 hours, or a multiple of 24, at least
 * 1 hour). Pure functions.
 */

export const HOUR_MS = 3_600_000;

/** One window of a stream: [from, to), both on whole UTC hours. */
export interface WindowSpan {
  readonly windowId: string;
  readonly from: Date;
  readonly to: Date;
}

const compactHour = (d: Date): string => d.toISOString().slice(0, 13).replace(/[-T]/g, '');

/** ISO-8601 UTC without milliseconds (windows are whole hours). */
export const isoSeconds = (d: Date): string => `${d.toISOString().slice(0, 19)}Z`;

export function floorHour(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

export function ceilHour(ms: number): number {
  return Math.ceil(ms / HOUR_MS) * HOUR_MS;
}

/** `YYYYMMDDHH-YYYYMMDDHH`: the window's UTC bounds, a valid S3 key segment. */
export function windowIdOf(from: Date, to: Date): string {
  return `${compactHour(from)}-${compactHour(to)}`;
}

/**
 * Cuts [from, to) on a grid of `hours` counted from the Unix epoch; the first and last windows are
 * clipped to the range. `from` and `to` must be whole UTC hours.
 */
export function gridWindows(from: Date, to: Date, hours: number): WindowSpan[] {
  const start = from.getTime();
  const end = to.getTime();
  if (start % HOUR_MS !== 0 || end % HOUR_MS !== 0) {
    throw new RangeError(`window range ${from.toISOString()} – ${to.toISOString()} must start and end on whole hours`);
  }
  if (!Number.isInteger(hours) || hours < 1)
    throw new RangeError(`window size must be a whole number of hours, got ${hours}`);
  const step = hours * HOUR_MS;
  const windows: WindowSpan[] = [];
  for (let lo = start; lo < end; ) {
    const hi = Math.min(end, Math.floor(lo / step) * step + step);
    const f = new Date(lo);
    const t = new Date(hi);
    windows.push({ windowId: windowIdOf(f, t), from: f, to: t });
    lo = hi;
  }
  return windows;
}

/** What the source says about a stream's table, for adaptive windows. */
export interface RowEstimate {
  /** Planner estimate of the table's rows; null when unknown. */
  readonly rows: number | null;
  /** Smallest and largest cursor of the table, when known. */
  readonly minCursor?: Date | null;
  readonly maxCursor?: Date | null;
}

/** Window sizes that keep boundaries on calendar-friendly hours. */
const ALIGNED_HOURS = [1, 2, 3, 4, 6, 8, 12, 24];

/**
 * The window size (hours) of a stream: `windowHours`, or less when the estimated rows per window
 * would exceed `targetRowsPerWindow`. Rows are assumed to spread evenly between the table's
 * smallest and largest cursor (the planner cannot see skew; a window that is still too large
 * loops on its continuation in the state machine, it only takes longer).
 */
export function adaptiveWindowHours(
  range: { readonly from: Date; readonly to: Date },
  windowHours: number,
  targetRowsPerWindow: number | undefined,
  estimate: RowEstimate | undefined,
): number {
  if (!targetRowsPerWindow || !estimate?.rows || estimate.rows <= 0) return windowHours;
  const lo = range.from.getTime();
  const hi = range.to.getTime();
  const min = estimate.minCursor?.getTime();
  const max = estimate.maxCursor?.getTime();
  // Hours the table's rows spread over: its cursor span when known, else the range itself.
  let spanHours = Math.max(1, (hi - lo) / HOUR_MS);
  if (min !== undefined && max !== undefined && Number.isFinite(min) && Number.isFinite(max) && max >= min) {
    // No row falls into the range: nothing to split.
    if (Math.min(hi, max + HOUR_MS) <= Math.max(lo, min)) return windowHours;
    spanHours = Math.max(1, (max - min) / HOUR_MS);
  }
  const rowsPerHour = estimate.rows / spanHours;
  const ideal = Math.floor(targetRowsPerWindow / rowsPerHour);
  if (ideal >= windowHours) return windowHours;
  const candidates = [...ALIGNED_HOURS.filter((h) => h < windowHours), ...multiplesOf24(windowHours)];
  let best = 1;
  for (const h of candidates) if (h <= ideal && h > best) best = h;
  return best;
}

function multiplesOf24(below: number): number[] {
  const out: number[] = [];
  for (let h = 48; h < below; h += 24) out.push(h);
  return out;
}

/** The windows of one stream over [from, to): fixed `windowHours`, or adaptive (see above). */
export function planStreamWindows(input: {
  readonly from: Date;
  readonly to: Date;
  readonly windowHours: number;
  readonly targetRowsPerWindow?: number | undefined;
  readonly estimate?: RowEstimate | undefined;
}): WindowSpan[] {
  const hours = adaptiveWindowHours(input, input.windowHours, input.targetRowsPerWindow, input.estimate);
  return gridWindows(input.from, input.to, hours);
}
