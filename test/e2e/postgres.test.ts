/**
 * The snapshot and incremental state machines end to end against the local PostgreSQL (see pipeline-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describePipeline } from './pipeline-suite.ts';

describePipeline('postgres', await engineAvailable('postgres'));
