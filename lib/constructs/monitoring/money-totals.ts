/**
 * The money totals alarms: MoneyTotalsMismatches is emitted by every committed window of a stream
 * with money totals (payments, game_rounds, wallet_transactions; 0 included). Missing data keeps the
 * state: in ALARM from the window whose per-currency totals differ until a window of the stream agrees.
 */
import { MONEY_TOTALS, type StreamName } from '#shared/canonical';
import { METRICS } from '#shared/contracts/metrics';
import { type AlarmFactory, ANY_KEEPING_STATE, pascal } from './alarm-factory.ts';
import { RUNBOOK_ANCHORS } from './runbook.ts';

/** One critical alarm per stream of `streams` that has money totals. */
export function moneyTotalsAlarms(alarms: AlarmFactory, streams: readonly StreamName[]): void {
  const { config, name } = alarms;
  const status = `connector status ${config.operatorId} --stage ${config.stage} (the last window whose totals differed, and its manifest)`;
  for (const stream of streams.filter((s) => MONEY_TOTALS[s] !== undefined)) {
    alarms.add(
      `MoneyTotalsDiffer${pascal(stream)}`,
      'critical',
      `stream ${stream}`,
      RUNBOOK_ANCHORS.moneyTotalsDiffer,
      `${stream} money totals differ from the source`,
      `A committed ${stream} window holds, for some currency, a different total of deposits, withdrawals, stakes or payouts than the source holds for the same rows: rows landed under another currency, direction, status or type. The window was published; the totals (source and lake) are in its manifest. In ALARM until a window of the stream agrees.`,
      [
        status,
        `Logs Insights on /connector/${name}/extract-window and incremental-sync: filter stream = "${stream}" and moneyTotalsMismatches > 0`,
      ],
      alarms.metrics.metric(METRICS.moneyTotalsMismatches, 'Maximum', alarms.period, stream),
      ANY_KEEPING_STATE,
    );
  }
}
