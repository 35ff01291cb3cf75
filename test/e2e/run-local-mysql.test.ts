/**
 * `connector run --local` end to end against the local MariaDB/MySQL (see run-local-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeRunLocal } from './run-local-suite.ts';

describeRunLocal('mysql', await engineAvailable('mysql'));
