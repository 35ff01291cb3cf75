/**
 * Keys join in the lake as they join in the source, on the local PostgreSQL (see key-joins-suite.ts).
 */
import { engineAvailable } from '../helpers/databases.ts';
import { describeKeyJoins } from './key-joins-suite.ts';

describeKeyJoins('postgres', await engineAvailable('postgres'));
