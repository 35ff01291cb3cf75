/**
 * The functions CDK adds for its own custom resources (emptying sandbox buckets on delete,
 * closing a created VPC's default security group) are raw CloudFormation resources that no
 * compliance rule inspects. This brings them under the house rules of connector functions: their
 * own log group encrypted with the operator key and kept for the configured retention, a reserved
 * concurrency, arm64, and every permission in one customer-managed policy (no inline or
 * AWS-managed policy), with a role only this account's Lambda service may assume.
 */
import { CfnResource, CustomResourceProviderBase, Lazy, type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { OperatorConfig } from '#shared/config/schema';
import { EncryptedLogGroup } from './log-group.ts';

/**
 * Concurrency reserved for a provider function: CloudFormation invokes it once per custom
 * resource, and a stack has at most two of a kind (two buckets).
 */
export const PROVIDER_RESERVED_CONCURRENCY = 2;

export interface CustomResourceProvidersProps {
  readonly encryptionKey: kms.IKey;
  /** The landing zone's log-group prefix (the only names the key lets CloudWatch Logs use). */
  readonly logGroupNamePrefix: string;
  readonly logRetentionDays: OperatorConfig['retention']['logDays'];
  readonly removalPolicy?: RemovalPolicy;
}

/** `Custom::S3AutoDeleteObjectsCustomResourceProvider` → `s3-auto-delete-objects`. */
function shortName(providerId: string): string {
  return providerId
    .replace(/^Custom::/, '')
    .replace(/CustomResourceProvider$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();
}

/** The CloudFormation properties of a raw resource, as CDK renders them. */
function propertiesOf(resource: CfnResource): Record<string, unknown> {
  const properties = (resource as unknown as { _cfnProperties?: Record<string, unknown> })._cfnProperties;
  if (!properties) {
    throw new Error(
      `cannot read the properties of ${resource.node.path}: aws-cdk-lib changed how custom resource providers are built; review lib/constructs/custom-resource-providers.ts`,
    );
  }
  return properties;
}

/** Applies the house rules to every custom resource provider function of `stack`. */
export function hardenCustomResourceProviders(stack: Stack, props: CustomResourceProvidersProps): void {
  for (const provider of stack.node.children) {
    if (!(provider instanceof CustomResourceProviderBase)) continue;
    const handler = provider.node.tryFindChild('Handler');
    const role = provider.node.tryFindChild('Role');
    if (!(handler instanceof CfnResource) || !(role instanceof CfnResource)) {
      throw new Error(`custom resource provider ${provider.node.path} has no Handler or Role resource to harden`);
    }
    const name = shortName(provider.node.id);
    const scope = new Construct(stack, `${provider.node.id.replace(/^Custom::/, '')}Rules`);
    const logs = new EncryptedLogGroup(scope, 'Logs', {
      logGroupName: `${props.logGroupNamePrefix}custom-resource-${name}`,
      encryptionKey: props.encryptionKey,
      retentionDays: props.logRetentionDays,
      ...(props.removalPolicy ? { removalPolicy: props.removalPolicy } : {}),
    });

    // The provider's own statements (rendered late, as CDK adds them) plus writing its log group.
    const inline = propertiesOf(role).Policies;
    const policy = new iam.CfnManagedPolicy(scope, 'Policy', {
      description: `Permissions of the ${name} custom resource function`,
      roles: [role.ref],
      policyDocument: Lazy.any({
        produce: () => {
          const rendered = (stack.resolve(inline) ?? []) as { PolicyDocument: { Statement: unknown[] } }[];
          return {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
                Resource: logs.logGroup.logGroupArn,
              },
              ...rendered.flatMap((p) => p.PolicyDocument.Statement),
            ],
          };
        },
      }),
    });
    role.addPropertyDeletionOverride('Policies');
    role.addPropertyOverride('ManagedPolicyArns', []);
    role.addPropertyOverride('AssumeRolePolicyDocument.Statement.0.Condition', {
      StringEquals: { 'aws:SourceAccount': Stack.of(stack).account },
    });

    handler.addPropertyOverride('LoggingConfig', { LogGroup: logs.logGroup.logGroupName, LogFormat: 'JSON' });
    handler.addPropertyOverride('ReservedConcurrentExecutions', PROVIDER_RESERVED_CONCURRENCY);
    handler.addPropertyOverride('Architectures', ['arm64']);
    handler.addResourceDependency(policy);
  }
}
