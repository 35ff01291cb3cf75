/**
 * Committed-only visibility end to end against the local PostgreSQL (see visibility-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeVisibility } from './visibility-suite.ts';

describeVisibility('postgres', await engineAvailable('postgres'));
