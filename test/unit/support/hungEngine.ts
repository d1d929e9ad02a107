/**
 * An engine that never answers: on a profile request it blocks its event loop (as a long native
 * call inside ONNX Runtime would), so it cannot even read a cancel message.
 */
process.on('message', (m: { type?: string; id?: string }) => {
  if (m?.type !== 'profile') return;
  const progress = {
    type: 'progress',
    id: m.id,
    phase: 'inference',
    done: 0,
    total: 1,
    samplesPerSecond: null,
    etaSeconds: null,
  };
  process.send?.(progress, () => {
    const until = Date.now() + 120_000;
    while (Date.now() < until) {
      // stuck
    }
  });
});
process.on('disconnect', () => process.exit(0));
