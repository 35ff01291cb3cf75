/**
 * The alarm factory: every individual alarm of an operator is made here, named
 * `<operator>-<stage> <severity> <title>`, described with its runbook section, notifying the
 * non-paging notification topic on ALARM and OK, and recorded (in creation order) for the health
 * alarm and the dashboard. Also the alarm shapes several components share: executions failed,
 * function errors and throttles, a dead-letter queue that is not empty.
 */
import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import type { ConnectorMetrics } from './metrics.ts';
import { describeAlarm, RUNBOOK_ANCHORS, type RunbookAnchor } from './runbook.ts';

/**
 * `critical`: data is not landing, is late or may be wrong. `warning`: a component symptom that
 * usually precedes a critical alarm (function errors and throttles, quarantined files). Both are
 * part of the health alarm; the severity orders triage and is shown in the alarm name.
 */
export type AlarmSeverity = 'critical' | 'warning';

/** One alarm of the operator and what the runbook says about it. */
export interface OperatorAlarm {
  readonly alarm: cloudwatch.Alarm | cloudwatch.CompositeAlarm;
  readonly severity: AlarmSeverity;
  /** The component it watches (`snapshot state machine`, `stream payments`, `function extract-window`). */
  readonly component: string;
  /** Runbook section. */
  readonly anchor: RunbookAnchor;
}

/** Threshold and evaluation of an alarm. */
export interface AlarmShape {
  readonly threshold: number;
  readonly comparisonOperator: cloudwatch.ComparisonOperator;
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /** @default evaluationPeriods */
  readonly datapointsToAlarm?: number;
  readonly treatMissingData: cloudwatch.TreatMissingData;
}

/** `≥ 1 in one period, missing data not breaching`: the shape of every "something failed" alarm. */
export const ANY_IN_ONE_PERIOD: AlarmShape = {
  threshold: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  evaluationPeriods: 1,
  datapointsToAlarm: 1,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
};

/** `≥ 1 in one period, missing data keeps the state`: a per-stream count reported by every run or check. */
export const ANY_KEEPING_STATE: AlarmShape = {
  ...ANY_IN_ONE_PERIOD,
  treatMissingData: cloudwatch.TreatMissingData.IGNORE,
};

/** `WalletTransactions` from `wallet_transactions`: the stream part of per-stream construct ids. */
export function pascal(stream: string): string {
  return stream.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase());
}

/** Makes and records the alarms of one operator and stage (see the module comment). */
export class AlarmFactory {
  /** Every alarm made or registered, in creation order. */
  public readonly alarms: OperatorAlarm[] = [];

  /**
   * @param scope the construct the alarms are created in (their construct ids are its children)
   * @param name `<operator>-<stage>`
   * @param period the period of the failure alarms
   * @param notify the action on ALARM and OK of every individual alarm
   */
  constructor(
    public readonly scope: Construct,
    public readonly name: string,
    public readonly config: OperatorConfig,
    public readonly period: Duration,
    public readonly metrics: ConnectorMetrics,
    private readonly notify: cloudwatch.IAlarmAction,
  ) {}

  /** An alarm named `<operator>-<stage> <severity> <title>` whose description links `anchor`. */
  public add(
    id: string,
    severity: AlarmSeverity,
    component: string,
    anchor: RunbookAnchor,
    title: string,
    meaning: string,
    checks: readonly [string, string],
    metric: cloudwatch.IMetric,
    shape: AlarmShape,
  ): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this.scope, id, {
      alarmName: `${this.name} ${severity} ${title}`,
      alarmDescription: this.describe(component, anchor, meaning, checks),
      metric,
      threshold: shape.threshold,
      comparisonOperator: shape.comparisonOperator,
      evaluationPeriods: shape.evaluationPeriods ?? 1,
      datapointsToAlarm: shape.datapointsToAlarm ?? shape.evaluationPeriods ?? 1,
      treatMissingData: shape.treatMissingData,
    });
    this.register(alarm, severity, component, anchor);
    return alarm;
  }

  /** An alarm made elsewhere (a composite alarm) joins the operator's alarms: notifications and the health alarm. */
  public register(
    alarm: cloudwatch.Alarm | cloudwatch.CompositeAlarm,
    severity: AlarmSeverity,
    component: string,
    anchor: RunbookAnchor,
  ): void {
    alarm.addAlarmAction(this.notify);
    alarm.addOkAction(this.notify);
    this.alarms.push({ alarm, severity, component, anchor });
  }

  /** The description of an alarm of this operator: component, meaning, the first two checks, the runbook section. */
  public describe(component: string, anchor: RunbookAnchor, meaning: string, checks: readonly string[]): string {
    return describeAlarm({
      operator: this.name,
      component,
      meaning,
      checks,
      anchor,
      runbookUrl: this.config.alerts.runbookUrl,
    });
  }

  /** A state machine's failed, timed-out and aborted executions per period, summed (missing as 0). */
  public executionsFailed(machine: sfn.IStateMachine, label: string): cloudwatch.MathExpression {
    const options = { period: this.period, statistic: 'Sum' };
    return new cloudwatch.MathExpression({
      expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
      usingMetrics: {
        failed: machine.metricFailed(options),
        timedOut: machine.metricTimedOut(options),
        aborted: machine.metricAborted(options),
      },
      period: this.period,
      label,
    });
  }

  /** A function's errors and throttles, each in 2 of the last 3 periods (`<Handler>Errors`, `<Handler>Throttles`). */
  public functionAlarms(fn: lambda.IFunction, handler: string): void {
    const options = { period: this.period, statistic: 'Sum' };
    const persistent = {
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    const id = handler.replace(/(^|-)(\w)/g, (_, __, c: string) => c.toUpperCase());
    this.add(
      `${id}Errors`,
      'warning',
      `function ${handler}`,
      RUNBOOK_ANCHORS.functionErrors,
      `${handler} errors`,
      `Invocations of ${handler} failed in 2 of the last 3 periods (retries did not hide a persistent error).`,
      [
        `CloudWatch Logs Insights on /connector/${this.name}/${handler}: filter level = "ERROR"`,
        'the state machine executions that invoked it (their failed windows or streams)',
      ],
      fn.metricErrors(options),
      persistent,
    );
    this.add(
      `${id}Throttles`,
      'warning',
      `function ${handler}`,
      RUNBOOK_ANCHORS.functionThrottles,
      `${handler} throttles`,
      `Invocations of ${handler} were throttled in 2 of the last 3 periods: more concurrent work than its reserved concurrency.`,
      [
        `aws lambda get-function-concurrency --function-name <${handler} function>`,
        'whether two snapshot executions or overlapping incremental runs are running',
      ],
      fn.metricThrottles(options),
      persistent,
    );
  }

  /** A critical alarm on a dead-letter queue holding any message. */
  public queueNotEmpty(
    id: string,
    queue: sqs.IQueue,
    component: string,
    anchor: RunbookAnchor,
    title: string,
    meaning: string,
    checks: readonly [string, string],
  ): void {
    this.add(
      id,
      'critical',
      component,
      anchor,
      title,
      meaning,
      checks,
      queue.metricApproximateNumberOfMessagesVisible({ period: this.period, statistic: 'Maximum' }),
      ANY_IN_ONE_PERIOD,
    );
  }
}
