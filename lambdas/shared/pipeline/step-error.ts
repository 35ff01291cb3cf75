/** How summaries quote what a Step Functions Catch hands the step after a failed one (`StepError`, contracts/steps.ts). */

/** The error message of a Catch's `Cause` (the Lambda runtime's JSON, or plain text), at most `max` characters. */
export function causeText(cause: string | undefined, max = 300): string {
  if (!cause) return '';
  let text = cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') text = parsed.errorMessage;
  } catch {
    // Not the Lambda runtime's JSON cause: keep the text.
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
