import { type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { OperatorConnectorStack, operatorStackName } from '../../../lib/stacks/operator-connector-stack.ts';
import { exampleConfig, testApp } from '../helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON
type Json = any;

function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId((construct.node.defaultChild ?? construct) as CfnElement);
}

/** Builds and synthesizes the stack; `missing` lists context lookups the synthesis asked for. */
function build(name: string, edits: Parameters<typeof exampleConfig>[1] = []) {
  const config = exampleConfig(name, edits);
  const app = testApp();
  const stack = new OperatorConnectorStack(app, operatorStackName(config), { config });
  const assembly = app.synth();
  return { stack, template: Template.fromStack(stack), missing: assembly.manifest.missing ?? [] };
}

describe('Network', () => {
  describe('created (mode: created)', () => {
    let created: ReturnType<typeof build>;
    beforeAll(() => {
      created = build('acme-casino');
    });

    it('synthesizes without any context lookup (availability zones resolved at deploy time)', () => {
      expect(created.missing).toEqual([]);
      const zones = Object.values(created.template.findResources('AWS::EC2::Subnet')).map(
        (s: Json) => s.Properties.AvailabilityZone,
      );
      expect(zones.length).toBeGreaterThan(0);
      for (const az of zones) expect(az).toEqual({ 'Fn::Select': [expect.any(Number), { 'Fn::GetAZs': '' }] });
    });

    it('has exactly one NAT gateway, using the explicit Elastic IP shown in the EgressIp output', () => {
      const { template, stack } = created;
      const eip = stack.network?.egressIp;
      expect(eip).toBeDefined();
      if (!eip) return;
      template.resourceCountIs('AWS::EC2::NatGateway', 1);
      template.resourceCountIs('AWS::EC2::EIP', 1);
      template.hasResourceProperties('AWS::EC2::NatGateway', {
        AllocationId: { 'Fn::GetAtt': [logicalId(eip), 'AllocationId'] },
      });
      template.hasOutput('EgressIp', { Value: { 'Fn::GetAtt': [logicalId(eip), 'PublicIp'] } });
    });

    it('keeps one NAT gateway when spread over three zones', () => {
      const three = build('acme-casino', [[['source', 'network', 'maxAzs'], 3]]);
      three.template.resourceCountIs('AWS::EC2::NatGateway', 1);
      expect(three.stack.network?.vpc.privateSubnets).toHaveLength(3);
    });

    it('uses the configured CIDR and assigns no public IPs on launch', () => {
      created.template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.40.0.0/16' });
      const subnets = Object.values(created.template.findResources('AWS::EC2::Subnet')) as Json[];
      expect(subnets).toHaveLength(4);
      for (const s of subnets) expect(s.Properties.MapPublicIpOnLaunch).toBe(false);
    });

    it('places extractors in private subnets with an egress-only security group', () => {
      const network = created.stack.network;
      expect(network?.vpc.selectSubnets(network.subnetSelection).subnets).toEqual(network?.vpc.privateSubnets);
      const [sg] = network?.securityGroups ?? [];
      expect(sg).toBeDefined();
      if (!sg) return;
      const props = created.template.toJSON().Resources[logicalId(sg)].Properties;
      expect(props.SecurityGroupIngress).toBeUndefined();
      expect(props.SecurityGroupEgress).toEqual([
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443 }),
        expect.objectContaining({ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432 }),
      ]);
      created.template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    });

    it('closes the default security group and keeps S3 and DynamoDB traffic on gateway endpoints', () => {
      created.template.resourceCountIs('Custom::VpcRestrictDefaultSG', 1);
      const endpoints = Object.values(created.template.findResources('AWS::EC2::VPCEndpoint')) as Json[];
      expect(endpoints.map((e) => e.Properties.VpcEndpointType)).toEqual(['Gateway', 'Gateway']);
      expect(JSON.stringify(endpoints)).toMatch(/\.s3"/);
      expect(JSON.stringify(endpoints)).toMatch(/\.dynamodb"/);
    });

    it('sends all flow logs to a log group encrypted with the operator key, through a role without inline policies', () => {
      const { template, stack } = created;
      const network = stack.network;
      const logGroup = network?.flowLogGroup?.logGroup;
      expect(logGroup).toBeDefined();
      if (!logGroup) return;
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: '/connector/acme-casino-sandbox/vpc-flow-logs',
        KmsKeyId: { 'Fn::GetAtt': [logicalId(stack.landingZone.key), 'Arn'] },
        RetentionInDays: 365,
      });
      template.hasResourceProperties('AWS::EC2::FlowLog', {
        ResourceType: 'VPC',
        TrafficType: 'ALL',
        LogDestinationType: 'cloud-watch-logs',
        LogGroupName: { Ref: logicalId(logGroup) },
      });
      template.resourceCountIs('AWS::IAM::Policy', 0);
      template.hasResourceProperties('AWS::IAM::ManagedPolicy', {
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: 'Allow',
              Resource: { 'Fn::GetAtt': [logicalId(logGroup), 'Arn'] },
            }),
          ],
        },
      });
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            Match.objectLike({
              Principal: { Service: 'vpc-flow-logs.amazonaws.com' },
              Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': '111111111111' } }),
            }),
          ],
        },
        Policies: Match.absent(),
      });
    });
  });

  describe('existing (mode: existing)', () => {
    let existing: ReturnType<typeof build>;
    beforeAll(() => {
      existing = build('royal-spins');
    });

    it('imports the configured VPC, subnets and security groups without any lookup', () => {
      expect(existing.missing).toEqual([]);
      const network = existing.stack.network;
      expect(network?.vpc.vpcId).toBe('vpc-0a1b2c3d4e5f60718');
      expect(network?.subnetSelection.subnets?.map((s) => s.subnetId)).toEqual([
        'subnet-0a1b2c3d4e5f60001',
        'subnet-0a1b2c3d4e5f60002',
      ]);
      expect(network?.subnetSelection.subnets?.map((s) => s.availabilityZone)).toEqual([
        'eu-central-1a',
        'eu-central-1b',
      ]);
      expect(network?.securityGroups.map((sg) => sg.securityGroupId)).toEqual(['sg-0a1b2c3d4e5f60003']);
    });

    it('creates no network resources and changes none of the operator security groups', () => {
      for (const type of [
        'AWS::EC2::VPC',
        'AWS::EC2::Subnet',
        'AWS::EC2::NatGateway',
        'AWS::EC2::EIP',
        'AWS::EC2::SecurityGroup',
        'AWS::EC2::SecurityGroupIngress',
        'AWS::EC2::SecurityGroupEgress',
        'AWS::EC2::FlowLog',
      ]) {
        existing.template.resourceCountIs(type, 0);
      }
      expect(existing.stack.network?.egressIp).toBeUndefined();
    });
  });
});
