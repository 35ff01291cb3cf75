/**
 * `connector run --local` end to end against the local PostgreSQL (see run-local-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeRunLocal } from './run-local-suite.ts';

describeRunLocal('postgres', await engineAvailable('postgres'));
