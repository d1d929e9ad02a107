/** Worker thread for parallel.ts: runs the score-policy sweeps it is given and posts their parts back. */
import { parentPort, workerData } from 'node:worker_threads';
import { ScorePolicyTask, scorePolicyPart } from './curves';

parentPort?.postMessage((workerData as ScorePolicyTask[]).map(scorePolicyPart));
