/** The alarms of the landing sweep: its schedule could not start it, and its function. */
import type { AlarmFactory } from './alarm-factory.ts';
import type { MonitoredLanding } from './props.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** Every alarm of the landing sweep, in the order the health alarm lists them. */
export function landingAlarms(alarms: AlarmFactory, landing: MonitoredLanding): void {
  alarms.queueNotEmpty(
    'SweepDeadLetters',
    landing.scheduleDeadLetterQueue,
    'landing sweep',
    RUNBOOK_ANCHORS.sweepDeadLetters,
    'landing sweep not started',
    'The scheduler could not invoke the daily landing sweep after its retries: attempts that never committed are not being removed (they stay invisible, but accumulate).',
    [
      'aws sqs receive-message on the sweep schedule dead-letter queue (the error the scheduler got)',
      `aws lambda get-function --function-name <sweep-landing function> (does it exist, is it throttled)`,
    ],
  );
  alarms.functionAlarms(landing.sweep, 'sweep-landing');
}
