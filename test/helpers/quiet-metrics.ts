/**
 * Powertools Metrics writes two warnings straight to stderr when a local pipeline flushes with
 * metrics disabled ("No application metrics to publish", a dimension added twice). End-to-end
 * suites hide those two lines and let everything else through; `vi.restoreAllMocks()` undoes it.
 */
import { vi } from 'vitest';

const METRICS_NOISE = /^(No application metrics to publish|Dimension "[^"]+" has already been added)/;

export function silenceMetricsWarnings(): void {
  const stderr = process.stderr.write.bind(process.stderr);
  vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) =>
    METRICS_NOISE.test(String(chunk))
      ? true
      : (stderr as (...args: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stderr.write);
}
