/**
 * The guard every construct holding operator data applies to its removal policy: data is retained
 * unless a sandbox explicitly opts in to deletion.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type { OperatorConfig } from '#shared/config/schema';

/** Deployment stage of an operator stack. */
export type ConnectorStage = OperatorConfig['stage'];

/** Raised when a construct is asked to delete operator data outside the sandbox stage. */
export class DataRemovalPolicyError extends Error {
  override readonly name = 'DataRemovalPolicyError';
}

/**
 * The removal policy a data resource gets: RETAIN unless `requested` says otherwise. Throws
 * {@link DataRemovalPolicyError} when DESTROY is requested for any stage but sandbox, so a
 * production `cdk destroy` can never delete landed data, keys, credentials or sync state.
 *
 * @param what the resource, named in the error (e.g. "landing zone of royal-spins")
 */
export function dataRemovalPolicy(
  what: string,
  stage: ConnectorStage,
  requested: RemovalPolicy | undefined,
): RemovalPolicy {
  const policy = requested ?? RemovalPolicy.RETAIN;
  if (policy === RemovalPolicy.DESTROY && stage !== 'sandbox') {
    throw new DataRemovalPolicyError(
      `${what}: RemovalPolicy.DESTROY would delete operator data on \`cdk destroy\` and is only allowed for the sandbox stage (this is ${stage}); use RemovalPolicy.RETAIN (removalPolicy: retain in the operator config)`,
    );
  }
  return policy;
}
