/**
 * The integrity part of the demo: anomalies injected into the source (and the lake), and what the
 * connector's detectors reported about them. The last JSON line carries the observed values; `ok`
 * holds only when each equals what the injected anomalies must produce.
 */

/** What the detectors reported over the demo's runs. A field is absent until its detector ran. */
export interface IntegrityReport {
  /** Rows committed after an earlier run had read past their cursor, caught by the lookback. */
  lateRows?: number;
  /** The largest lateness among them (from the earlier run's watermark to the row's cursor). */
  maxLatenessSeconds?: number;
  /** Keys the key audit found gone from the source, landed as tombstones. */
  deletesDetected?: number;
  /** Keys the key audit found missing from the lake and re-extracted. */
  rowsRepaired?: number;
  /** New or changed source columns, as `<stream>.<column>`. */
  schemaDrift?: string[];
  /** Breaks in the wallet ledger (balance_after chain) found by the ledger audit. */
  walletBreaks?: number;
}

/** One detector's outcome: what it reported and what the injected anomalies must produce. */
export interface IntegrityCheck<K extends keyof IntegrityReport = keyof IntegrityReport> {
  readonly field: K;
  readonly observed: IntegrityReport[K];
  readonly expected: IntegrityReport[K];
}

/** Problems (for the demo's list) where an observed value differs from the expectation. */
export function integrityProblems(checks: readonly IntegrityCheck[]): string[] {
  return checks
    .filter((c) => JSON.stringify(c.observed) !== JSON.stringify(c.expected))
    .map((c) => `integrity ${c.field}: observed ${JSON.stringify(c.observed)}, expected ${JSON.stringify(c.expected)}`);
}

/** The report the last JSON line carries: the observed values. */
export function integrityReport(checks: readonly IntegrityCheck[]): IntegrityReport {
  return Object.fromEntries(checks.map((c) => [c.field, c.observed])) as IntegrityReport;
}
