/**
 * Compliance rule packs run on every synthesis, and the one way findings are acknowledged.
 *
 * cdk-nag v3 runs as a CDK policy-validation plugin: any finding that is not acknowledged on the
 * construct it concerns (or an ancestor) fails `cdk synth` with a report, and `app.synth()` throws.
 */
import { type App, type Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, type NagPack, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks } from 'cdk-nag';
import type { Construct, IConstruct } from 'constructs';

/**
 * Registers the AWS Solutions, PCI DSS 3.2.1, NIST 800-53 rev 5 and Serverless packs on an app.
 * Acknowledgements are also written into the templates' resource Metadata (`cdk_nag`), so an
 * auditor reading a template sees each accepted finding and its reason beside the resource.
 *
 * @returns the registered packs (tests may run `validateScope` on them directly)
 */
export function applyCompliancePacks(app: App | Stage): NagPack[] {
  const props = { verbose: true, writeSuppressionsToCloudFormation: true };
  const packs: NagPack[] = [
    new AwsSolutionsChecks(app, props),
    new PCIDSS321Checks(app, props),
    new NIST80053R5Checks(app, props),
    new ServerlessChecks(app, props),
  ];
  Validations.of(app).addPlugins(...packs);
  return packs;
}

/**
 * Acknowledges findings of one or more rules (typically the same control in several packs) on one
 * resource, with one reason an auditor can check. An L2 construct is acknowledged on its own
 * CloudFormation resource (its default child), so the acknowledgement does not spread to the
 * resources it contains (a bucket's policy, a VPC's subnets). Never call it on a stack or on a
 * construct that groups unrelated resources.
 */
export function acknowledgeFindings(resource: IConstruct, ruleIds: readonly string[], reason: string): void {
  const target = resource.node.defaultChild ?? resource;
  for (const id of ruleIds) Validations.of(target).acknowledge({ id, reason });
}

/**
 * Makes every warning annotation under `scope` fail synthesis: a warning is either fixed or
 * refused by config validation with a clear message, never shipped. (CloudFormation validation
 * findings fail synthesis through `@aws-cdk/core:validateAgainstDefaultRules` in cdk.json.)
 */
export function failSynthOnWarnings(scope: Construct): void {
  scope.node.addValidation({
    validate: () =>
      scope.node
        .findAll()
        .flatMap((c) =>
          c.node.metadata
            .filter((m) => m.type === 'aws:cdk:warning')
            .map((m) => `warning at ${c.node.path}: ${String(m.data)}`),
        ),
  });
}
