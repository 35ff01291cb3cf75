/**
 * The serving tables end to end against the local PostgreSQL (see serving-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeServing } from './serving-suite.ts';

describeServing('postgres', await engineAvailable('postgres'));
