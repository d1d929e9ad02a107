/**
 * A stand-in for the extension host: an EngineClient starts a long run in a real engine process,
 * and this process prints "engine <pid>" once inference is under way. The engine-client test then
 * kills this process to check that the engine does not outlive it.
 * Usage: node --import tsx engineHost.ts <dist/engine.js> <model.onnx> <samples.npz>
 */
import { EngineClient } from '../../../src/extension/engineClient';

const [script, modelPath, samplesPath] = process.argv.slice(2);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const client = new EngineClient(script, quiet, { execArgv: [] });
let announced = false;
client
  .run({ type: 'profile', modelPath, samplesPath, executionProviders: ['cpu'], batchSize: 1 }, (e) => {
    if (!announced && e.type === 'progress' && e.phase === 'inference') {
      announced = true;
      process.stdout.write(`engine ${client.enginePid}\n`);
    }
  })
  .then(
    () => process.stdout.write('finished\n'),
    (err: Error) => process.stdout.write(`failed ${err.message}\n`),
  );
