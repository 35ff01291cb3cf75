/**
 * Checks an Amazon States Language definition against what aws-local-stepfunctions 3 runs faithfully,
 * and rewrites the few constructs it runs differently from AWS into equivalent ones.
 */

/** A definition, or the `ItemProcessor`/`Iterator` of a Map, or a branch of a Parallel. */
export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

/** One state of a definition; fields are left loose, as ASL has many. */
export interface AslState {
  Type: string;
  [field: string]: unknown;
}

/** The definition uses something aws-local-stepfunctions 3 cannot run the way AWS does. */
export class UnsupportedAslFeatureError extends Error {
  constructor(
    /** One line per finding: the state and what it uses. */
    readonly findings: readonly string[],
  ) {
    super(
      `the state machine definition uses ASL features the local engine does not run as AWS does:\n- ${findings.join('\n- ')}`,
    );
    this.name = 'UnsupportedAslFeatureError';
  }
}

/** What {@link prepareDefinition} hands to the engine. */
export interface PreparedDefinition {
  /** A rewritten copy of the definition; the input is not modified. */
  readonly definition: AslMachine;
  /** Every Task state, at any depth, by name. */
  readonly taskStates: ReadonlyMap<string, AslState>;
  /** Names of the states, at any depth, that have a `Retry` field. */
  readonly retryStates: readonly string[];
  /** Names of the Wait states, at any depth. */
  readonly waitStates: readonly string[];
}

/** Options of {@link prepareDefinition}. */
export interface PrepareOptions {
  /**
   * `TimeoutSeconds` given to Task states that set neither `TimeoutSeconds` nor `TimeoutSecondsPath`.
   * AWS has no default task timeout; the engine would otherwise apply 60 s.
   * @default 2147483 (the longest timer Node.js keeps, about 24 days)
   */
  readonly taskTimeoutSeconds?: number;
}

const MAX_TIMER_SECONDS = 2_147_483;
const TYPE_TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'] as const;

function children(state: AslState): AslMachine[] {
  if (state.Type === 'Map') {
    const processor = (state['ItemProcessor'] ?? state['Iterator']) as AslMachine | undefined;
    return processor ? [processor] : [];
  }
  if (state.Type === 'Parallel') return (state['Branches'] as AslMachine[] | undefined) ?? [];
  return [];
}

function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsIn(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringsIn(item, out);
  return out;
}

function hasKey(value: unknown, key: string): boolean {
  if (Array.isArray(value)) return value.some((item) => hasKey(item, key));
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => k === key || hasKey(v, key));
  }
  return false;
}

function isIntrinsicFunction(path: unknown): path is string {
  return typeof path === 'string' && path.startsWith('States.');
}

/**
 * Lists what a definition uses that aws-local-stepfunctions 3 does not run as AWS does (after the
 * rewrites {@link prepareDefinition} makes). An empty list means the definition runs locally.
 */
export function findUnsupportedFeatures(definition: AslMachine): string[] {
  const findings: string[] = [];
  if (definition['QueryLanguage'] === 'JSONata') findings.push('top level: QueryLanguage JSONata');

  const visit = (machine: AslMachine, nested: boolean): void => {
    for (const [name, state] of Object.entries(machine.States ?? {})) {
      const at = `state "${name}"`;
      if (state['QueryLanguage'] === 'JSONata') findings.push(`${at}: QueryLanguage JSONata`);
      for (const field of ['Arguments', 'Output', 'Assign', 'Credentials'] as const) {
        if (state[field] !== undefined) findings.push(`${at}: ${field}`);
      }
      if (state.Type === 'Map') {
        for (const field of [
          'ItemReader',
          'ItemBatcher',
          'ResultWriter',
          'ToleratedFailurePercentage',
          'ToleratedFailurePercentagePath',
          'ToleratedFailureCount',
          'ToleratedFailureCountPath',
        ] as const) {
          if (state[field] !== undefined) findings.push(`${at}: Map ${field} (distributed Map)`);
        }
      }
      if (state.Type === 'Choice' && hasKey(state['Choices'], 'Condition')) {
        findings.push(`${at}: Choice rule with a JSONata Condition`);
      }
      if (state.Type === 'Pass' && 'Result' in state && !state['Result']) {
        findings.push(
          `${at}: Pass Result ${JSON.stringify(state['Result'])} (a falsy Result is replaced by the input)`,
        );
      }
      const resource = state['Resource'];
      if (typeof resource === 'string' && resource.endsWith('.waitForTaskToken')) {
        findings.push(`${at}: ${resource} (no task tokens)`);
      }
      const own = { ...state };
      delete own['ItemProcessor'];
      delete own['Iterator'];
      delete own['Branches'];
      const texts = stringsIn(own);
      if (texts.some((t) => t.includes('$$.Task.Token'))) findings.push(`${at}: $$.Task.Token (no task tokens)`);
      if (texts.some((t) => t.includes('$$.State.'))) findings.push(`${at}: $$.State.* (not in the context object)`);
      if (nested) {
        const outsideSelector = { ...own };
        if (state.Type === 'Map') {
          delete outsideSelector['ItemSelector'];
          delete outsideSelector['Parameters'];
        }
        if (stringsIn(outsideSelector).some((t) => t.includes('$$.Map.'))) {
          findings.push(`${at}: $$.Map.* inside a Map iteration (only the Map's ItemSelector sees it)`);
        }
        if (texts.some((t) => t.includes('$$.Execution.Input') || t.includes('$$.Execution.StartTime'))) {
          findings.push(
            `${at}: $$.Execution.Input/StartTime inside a Map or Parallel (the engine gives the item/branch input)`,
          );
        }
      }
      for (const child of children(state)) visit(child, true);
    }
  };
  visit(definition, false);
  return findings;
}

/** `{ IsPresent: false }` always evaluates to false in the engine; `Not { IsPresent: true }` does not. */
function rewriteTypeTests(rule: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...rule };
  if (Array.isArray(out['And'])) out['And'] = (out['And'] as Record<string, unknown>[]).map(rewriteTypeTests);
  if (Array.isArray(out['Or'])) out['Or'] = (out['Or'] as Record<string, unknown>[]).map(rewriteTypeTests);
  if (out['Not'] && typeof out['Not'] === 'object')
    out['Not'] = rewriteTypeTests(out['Not'] as Record<string, unknown>);
  for (const test of TYPE_TESTS) {
    if (out[test] === false) {
      const { Next, ...inner } = out;
      const negated: Record<string, unknown> = { Not: { ...inner, [test]: true } };
      if (Next !== undefined) negated['Next'] = Next;
      return negated;
    }
  }
  return out;
}

/**
 * Copies a definition and rewrites what aws-local-stepfunctions 3 runs differently from AWS:
 * `ResultPath: "$"` (the engine writes a key named `$`), Fail states whose `ErrorPath`/`CausePath`
 * is an intrinsic function such as `States.Format` (the engine reads them as JSONPath only: each
 * becomes a Pass that evaluates them, then the Fail), negative type tests in Choice rules, and the
 * engine's 60 s default task timeout.
 *
 * @throws UnsupportedAslFeatureError listing every feature the engine cannot run as AWS does.
 * @throws Error when two states share a name (AWS rejects that too; local overrides are by name).
 */
export function prepareDefinition(definition: AslMachine, options: PrepareOptions = {}): PreparedDefinition {
  const findings = findUnsupportedFeatures(definition);
  if (findings.length > 0) throw new UnsupportedAslFeatureError(findings);

  const copy = JSON.parse(JSON.stringify(definition)) as AslMachine;
  const taskStates = new Map<string, AslState>();
  const retryStates: string[] = [];
  const waitStates: string[] = [];
  const names = new Set<string>();
  const claim = (name: string): void => {
    if (names.has(name)) throw new Error(`state name "${name}" is used twice in the definition`);
    names.add(name);
  };

  const visit = (machine: AslMachine): void => {
    const states = machine.States;
    for (const [name, state] of Object.entries(states)) {
      claim(name);
      if (state['ResultPath'] === '$') delete state['ResultPath'];
      for (const catcher of (state['Catch'] as Record<string, unknown>[] | undefined) ?? []) {
        if (catcher['ResultPath'] === '$') delete catcher['ResultPath'];
      }
      if (Array.isArray(state['Retry']) && state['Retry'].length > 0) retryStates.push(name);
      if (state.Type === 'Wait') waitStates.push(name);
      if (state.Type === 'Choice') {
        state['Choices'] = (state['Choices'] as Record<string, unknown>[]).map(rewriteTypeTests);
      }
      if (state.Type === 'Task') {
        if (state['TimeoutSeconds'] === undefined && state['TimeoutSecondsPath'] === undefined) {
          state['TimeoutSeconds'] = Math.min(options.taskTimeoutSeconds ?? MAX_TIMER_SECONDS, MAX_TIMER_SECONDS);
        }
        taskStates.set(name, state);
      }
      if (
        state.Type === 'Fail' &&
        (isIntrinsicFunction(state['ErrorPath']) || isIntrinsicFunction(state['CausePath']))
      ) {
        const failName = `${name} (fail)`;
        claim(failName);
        const parameters: Record<string, unknown> = {};
        const fail: AslState = { Type: 'Fail' };
        for (const [pathField, field] of [
          ['ErrorPath', 'Error'],
          ['CausePath', 'Cause'],
        ] as const) {
          if (state[pathField] !== undefined) {
            parameters[`${field}.$`] = state[pathField];
            fail[pathField] = `$.${field}`;
          } else if (state[field] !== undefined) {
            fail[field] = state[field];
          }
        }
        const pass: AslState = { Type: 'Pass', Parameters: parameters, Next: failName };
        if (state['Comment'] !== undefined) pass['Comment'] = state['Comment'];
        states[name] = pass;
        states[failName] = fail;
      }
      for (const child of children(state)) visit(child);
    }
  };
  visit(copy);
  return { definition: copy, taskStates, retryStates, waitStates };
}
