/**
 * The snapshot and incremental state machines end to end against the local MariaDB/MySQL (see pipeline-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describePipeline } from './pipeline-suite.ts';

describePipeline('mysql', await engineAvailable('mysql'));
