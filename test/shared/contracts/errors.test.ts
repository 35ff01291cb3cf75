import { describe, expect, it } from 'vitest';
import { KeyAuditLimitError } from '#shared/audit/compare';
import { KeyAuditError } from '#shared/audit/key-audit';
import { type ConnectorErrorName, ERROR_RETRY_CLASS, RETRYABLE_ERRORS, TIMEOUT_ERRORS } from '#shared/contracts/errors';
import { WindowCommitError } from '#shared/landing/errors';
import { CoercionError, MappingError } from '#shared/mapping/errors';
import { ParquetEncodeError, ParquetWriteError } from '#shared/parquet/errors';
import { SinkError } from '#shared/sink/errors';
import {
  SchemaDriftError,
  SourceAccessError,
  SourceConnectionError,
  SourceQueryError,
  SourceTimeoutError,
} from '#shared/sources/errors';
import { SyncStateError } from '#shared/state/table';
import { type CfnTemplate, findStateMachines, resolveDefinition } from '../../../local/cfn-resolve.ts';
import { exampleConfig, synthesize } from '../../lib/helpers.ts';

/** One instance of every error class the contract names, built as the code builds it. */
const instances: Record<ConnectorErrorName, Error & { retryable?: boolean }> = {
  SourceConnectionError: new SourceConnectionError('connection reset'),
  SourceTimeoutError: new SourceTimeoutError('statement timeout'),
  SourceAccessError: new SourceAccessError('password authentication failed'),
  SourceQueryError: new SourceQueryError('relation does not exist'),
  SchemaDriftError: new SchemaDriftError('column amount retyped numeric(18,2) → text'),
  SinkError: new SinkError('upload', 'raw/x.parquet', {}, { cause: new Error('socket hang up') }),
  // A throttled call: the state machines retry SyncStateError by name.
  SyncStateError: new SyncStateError(
    'put',
    'state',
    Object.assign(new Error('slow down'), { name: 'ThrottlingException' }),
  ),
  WindowCommitError: new WindowCommitError({}, 'rows outside the window'),
  ParquetEncodeError: new ParquetEncodeError({}, 'amount', 0, 'too wide'),
  ParquetWriteError: new ParquetWriteError('no footer'),
  CoercionError: new CoercionError({
    operatorId: 'o',
    stream: 'payments',
    field: 'amount',
    column: 'amount',
    value: undefined,
    personal: false,
    problem: 'is not a number',
    hint: 'fix the source',
    rowIndex: 0,
  }),
  MappingError: new MappingError('o', 'payments', 'column missing'),
  KeyAuditError: new KeyAuditError('no completed snapshot'),
  KeyAuditLimitError: new KeyAuditLimitError('too many differences'),
};

// biome-ignore lint/suspicious/noExplicitAny: ASL JSON
type Json = any;

/** Every Retry entry of a state machine definition, at any depth (Map and Parallel states included). */
function retriers(states: Record<string, Json>): Json[] {
  return Object.values(states).flatMap((state: Json) => [
    ...(state.Retry ?? []),
    ...(state.ItemProcessor ? retriers(state.ItemProcessor.States) : []),
    ...(state.Iterator ? retriers(state.Iterator.States) : []),
    ...(state.Branches ?? []).flatMap((b: Json) => retriers(b.States)),
  ]);
}

describe('error retry contract', () => {
  it('names every error class by its contract name, with a retryable flag that matches its retry class', () => {
    for (const [name, retryClass] of Object.entries(ERROR_RETRY_CLASS)) {
      const error = instances[name as ConnectorErrorName];
      expect(error.name).toBe(name);
      expect(error.retryable, name).toBe(retryClass !== 'never');
    }
  });

  it('lists exactly the retryable and timeout errors of the table in the Retry lists', () => {
    const byClass = (c: string) =>
      Object.keys(ERROR_RETRY_CLASS).filter((n) => ERROR_RETRY_CLASS[n as ConnectorErrorName] === c);
    expect([...RETRYABLE_ERRORS].sort()).toEqual(byClass('retryable').sort());
    expect([...TIMEOUT_ERRORS].sort()).toEqual(byClass('timeout').sort());
  });

  it('retries in the synthesized state machines only errors the contract calls retryable, and all of them', () => {
    const template = synthesize(exampleConfig('acme-casino')).template.toJSON() as CfnTemplate;
    const machines = findStateMachines(template);
    expect(machines.length).toBeGreaterThanOrEqual(3);
    const retried = new Set<string>();
    for (const machine of machines) {
      const definition = resolveDefinition(template, machine.logicalId) as { States: Record<string, Json> };
      for (const retrier of retriers(definition.States)) {
        for (const name of retrier.ErrorEquals as string[]) {
          // Errors of AWS services (`Lambda.…`, `States.…`, `StepFunctions.…`) are namespaced; the connector's are not.
          if (name.includes('.')) continue;
          retried.add(name);
          expect(ERROR_RETRY_CLASS, `${machine.name} retries ${name}`).toHaveProperty(name);
          expect(ERROR_RETRY_CLASS[name as ConnectorErrorName], `${machine.name} retries ${name}`).not.toBe('never');
        }
      }
    }
    expect([...retried].sort()).toEqual([...RETRYABLE_ERRORS, ...TIMEOUT_ERRORS].sort());
  });
});
