/** The state machines of the pipeline: standard workflows, X-Ray traced, logged without execution data, one managed policy each. */
import { type CfnResource, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { acknowledgeFindings } from '../../nag.ts';
import type { ConnectorFunction } from '../connector-function.ts';
import type { EncryptedLogGroup } from '../log-group.ts';
import { vendedLogDeliveryStatements } from '../step-functions.ts';

/** What {@link pipelineStateMachine} makes a state machine of. */
export interface PipelineStateMachineProps {
  readonly stateMachineName: string;
  readonly definition: sfn.IChainable;
  readonly logGroup: EncryptedLogGroup;
  /** The functions it invokes (`lambda:InvokeFunction` on exactly these). */
  readonly invokes: readonly ConnectorFunction[];
  /** The publish state machine it starts and waits for (its executions are granted by `extraStatements`). */
  readonly publishStateMachine: sfn.IStateMachine;
  readonly extraStatements: readonly iam.PolicyStatement[];
  readonly description: string;
}

/**
 * A standard state machine whose role keeps every permission in one customer-managed policy:
 * CDK would put the invoke, logging and tracing grants into an inline default policy, which the
 * NIST and PCI packs refuse, so the machine gets an immutable view of the role and the policy
 * below holds exactly those grants.
 */
export function pipelineStateMachine(scope: Construct, id: string, props: PipelineStateMachineProps): sfn.StateMachine {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('states.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    description: `Role of state machine ${props.stateMachineName}`,
  });
  const policy = new iam.ManagedPolicy(scope, `${id}Policy`, {
    roles: [role],
    description: `Permissions of state machine ${props.stateMachineName}`,
    statements: [
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: props.invokes.map((fn) => fn.function.functionArn),
      }),
      ...vendedLogDeliveryStatements(),
      ...props.extraStatements,
    ],
  });
  const publishMachine = Stack.of(scope).getLogicalId(props.publishStateMachine.node.defaultChild as CfnResource);
  acknowledgeFindings(
    policy,
    [
      'AwsSolutions-IAM5[Resource::*]',
      `AwsSolutions-IAM5[Resource::arn:${Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition}:states:${stack.region}:${stack.account}:execution:<${publishMachine}.Name>:*]`,
    ],
    'Executions of the publish state machine this one starts and waits for have names Step Functions chooses, so they are granted on the machine\'s execution ARN prefix. The CloudWatch Logs vended-delivery actions (CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and the X-Ray actions (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) do not support resource-level permissions; AWS documents "*" for Step Functions logging and tracing. Lambda invocations are limited to the functions of this pipeline.',
  );
  const machine = new sfn.StateMachine(scope, id, {
    stateMachineName: props.stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    comment: props.description,
    definitionBody: sfn.DefinitionBody.fromChainable(props.definition),
    role: role.withoutPolicyUpdates(),
    tracingEnabled: true,
    logs: { destination: props.logGroup.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  machine.node.addDependency(policy);
  return machine;
}
