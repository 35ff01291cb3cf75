/**
 * The metric factory: CloudWatch metrics over the names and dimensions of `contracts/metrics`, as the
 * handlers emit them, for the alarms and the dashboard.
 */
import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { StreamName } from '#shared/canonical';
import { DIMENSIONS, METRIC_NAMESPACE, SERVICE_NAME } from '#shared/contracts/metrics';

/** The connector metrics of one operator and stage (`<operator>-<stage>`, the `Operator` dimension). */
export class ConnectorMetrics {
  constructor(private readonly operator: string) {}

  /** A connector metric with the dimensions the handlers emit (`service`, `Operator`, and `Stream` when given). */
  public metric(metricName: string, statistic: string, period: Duration, stream?: StreamName): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      statistic,
      period,
      dimensionsMap: {
        service: SERVICE_NAME,
        [DIMENSIONS.operator]: this.operator,
        ...(stream ? { [DIMENSIONS.stream]: stream } : {}),
      },
    });
  }

  /** `FILL(m, 0) + …` over the streams: the per-stream metric summed, with streams that reported nothing as 0. */
  public sumOverStreams(
    metricName: string,
    streams: readonly StreamName[],
    period: Duration,
    label: string,
  ): cloudwatch.MathExpression {
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    // Ids unique per metric name: a graph may show several of these sums.
    const prefix = metricName.charAt(0).toLowerCase() + metricName.slice(1);
    streams.forEach((stream, i) => {
      usingMetrics[`${prefix}${i}`] = this.metric(metricName, 'Sum', period, stream);
    });
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics)
        .map((id) => `FILL(${id}, 0)`)
        .join(' + '),
      usingMetrics,
      period,
      label,
    });
  }
}
