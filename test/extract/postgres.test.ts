/**
 * The extraction handlers end to end against the local PostgreSQL (see handler-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeHandlers } from './handler-suite.ts';

describeHandlers('postgres', await engineAvailable('postgres'));
