/**
 * The CLI's Ctrl-C handling around a call that holds the thread, as ONNX Runtime's session
 * creation does (a 100,000-thread session took minutes): `announced` wraps the hold in
 * blockingCall (as the engine wraps session creation), `silent` does not. It prints "holding"
 * when the hold starts, then "survived" if the hold ran to its end.
 */
import { blockingCall } from '../../../src/core/io/blocking';
import { handleInterrupts } from '../../../src/cli/main';

const mode = process.argv[2];
const seconds = Number(process.argv[3] ?? 3);
handleInterrupts(new AbortController());

function hold(): void {
  process.stdout.write('holding\n');
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    // held, as inside a native call
  }
}

async function main(): Promise<void> {
  if (mode === 'announced') await blockingCall(async () => hold());
  else hold();
  process.stdout.write('survived\n');
}

void main();
