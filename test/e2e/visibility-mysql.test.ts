/**
 * Committed-only visibility end to end against the local MariaDB/MySQL (see visibility-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeVisibility } from './visibility-suite.ts';

describeVisibility('mysql', await engineAvailable('mysql'));
