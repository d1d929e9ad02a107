/**
 * 1 if a = b, else 0, without a branch (int32 values such as predictions and labels). Whether a
 * prediction is right, or agrees with another exit's, is a coin toss to the branch predictor,
 * and in the analysis' per-sample loops a mispredicted branch costs more than these few
 * integer operations.
 */
export function same(a: number, b: number): number {
  const d = a ^ b;
  return 1 - ((d | -d) >>> 31);
}
