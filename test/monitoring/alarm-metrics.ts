/**
 * Reading alarms back from a synthesized template: the metrics each one watches (single metric or
 * metric math), and a CloudWatch-like evaluation of "M out of N" with a missing-data treatment.
 */
import type { Template } from 'aws-cdk-lib/assertions';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
export type Json = any;

/** One metric an alarm reads. Dimension values are left as CloudFormation JSON (tokens stay objects). */
export interface AlarmMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, unknown>>;
  readonly stat: string;
  readonly period: number;
  /** Metric-math id, when the alarm is an expression. */
  readonly id?: string;
}

/** The alarm resources of a template, by logical id. */
export function alarmsOf(template: Template): Record<string, Json> {
  return template.findResources('AWS::CloudWatch::Alarm');
}

/** The metrics an alarm's properties read. */
export function metricsOfAlarm(properties: Json): AlarmMetric[] {
  const dims = (list: Json[] | undefined) => Object.fromEntries((list ?? []).map((d: Json) => [d.Name, d.Value]));
  if (properties.MetricName) {
    return [
      {
        namespace: properties.Namespace,
        name: properties.MetricName,
        dimensions: dims(properties.Dimensions),
        stat: properties.Statistic ?? properties.ExtendedStatistic,
        period: properties.Period,
      },
    ];
  }
  return (properties.Metrics ?? [])
    .filter((m: Json) => m.MetricStat)
    .map((m: Json) => ({
      namespace: m.MetricStat.Metric.Namespace,
      name: m.MetricStat.Metric.MetricName,
      dimensions: dims(m.MetricStat.Metric.Dimensions),
      stat: m.MetricStat.Stat,
      period: m.MetricStat.Period,
      id: m.Id,
    }));
}

/** The expression an alarm returns, when it is metric math. */
export function expressionOf(properties: Json): string | undefined {
  return (properties.Metrics ?? []).find((m: Json) => m.Expression && m.ReturnData !== false)?.Expression;
}

export type AlarmState = 'OK' | 'ALARM';

/**
 * The state CloudWatch reaches for the last `evaluationPeriods` datapoints (`undefined` = no data),
 * as documented for "M out of N" alarms: missing datapoints are replaced according to
 * TreatMissingData (breaching → a breaching datapoint, notBreaching → a good one), and the alarm
 * goes to ALARM when at least `datapointsToAlarm` of them breach. With `ignore`, an evaluation with
 * no datapoint at all keeps the `previous` state, otherwise the datapoints present decide.
 * (`missing`, which moves to INSUFFICIENT_DATA, is not used by the connector's alarms.)
 */
export function evaluate(
  properties: Json,
  datapoints: readonly (number | undefined)[],
  previous?: AlarmState,
): AlarmState {
  const n = properties.EvaluationPeriods as number;
  const m = (properties.DatapointsToAlarm as number | undefined) ?? n;
  const threshold = properties.Threshold as number;
  const treat = properties.TreatMissingData as string;
  if (treat === 'ignore') {
    const present = datapoints.slice(-n).filter((v): v is number => v !== undefined);
    if (present.length === 0) {
      if (!previous) throw new Error('an alarm that ignores missing data needs its previous state');
      return previous;
    }
    return evaluate(
      {
        ...properties,
        TreatMissingData: 'notBreaching',
        EvaluationPeriods: present.length,
        DatapointsToAlarm: Math.min(m, present.length),
      },
      present,
    );
  }
  if (treat !== 'breaching' && treat !== 'notBreaching') throw new Error(`unsupported TreatMissingData ${treat}`);
  const breaches = (v: number): boolean => {
    switch (properties.ComparisonOperator) {
      case 'GreaterThanThreshold':
        return v > threshold;
      case 'GreaterThanOrEqualToThreshold':
        return v >= threshold;
      case 'LessThanThreshold':
        return v < threshold;
      case 'LessThanOrEqualToThreshold':
        return v <= threshold;
      default:
        throw new Error(`unsupported ComparisonOperator ${properties.ComparisonOperator}`);
    }
  };
  const window = datapoints.slice(-n);
  if (window.length !== n) throw new Error(`need ${n} datapoints, got ${window.length}`);
  const breaching = window.filter((v) => (v === undefined ? treat === 'breaching' : breaches(v))).length;
  return breaching >= m ? 'ALARM' : 'OK';
}
