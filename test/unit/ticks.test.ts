/**
 * The report's axis labels and the trade-off chart's zoomed domain (webview/ticks.ts), worked by hand.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pct } from '../../src/shared/format';
import { domainAround, tickLabels } from '../../webview/ticks';

describe('axis tick labels', () => {
  it('a narrow accuracy domain gets enough digits that no label repeats', () => {
    // Ticks of [0.995, 1.0] by 0.002: at 0 digits they read 100%, 100%, 100% (99.6 rounds up).
    const ticks = [0.996, 0.998, 1.0];
    assert.deepEqual(
      ticks.map((v) => pct(v, 0)),
      ['100%', '100%', '100%'],
    );
    assert.deepEqual(tickLabels(ticks, pct), ['99.6%', '99.8%', '100.0%']);
  });

  it('a wide domain keeps the fewest digits', () => {
    assert.deepEqual(tickLabels([0.2, 0.4, 0.6, 0.8, 1], pct), ['20%', '40%', '60%', '80%', '100%']);
  });

  it('labels that stay alike at the most digits are left blank after the first', () => {
    assert.deepEqual(
      tickLabels([1, 1, 2], (v, d) => v.toFixed(d), 0, 1),
      ['1.0', '', '2.0'],
    );
  });
});

describe('the domain around the suggestions', () => {
  it('pads the span on both sides', () => {
    assert.deepEqual(domainAround([1, 3], 0.25), [0.5, 3.5]);
  });

  it('pads the logarithm on a log axis and skips what a log axis cannot show', () => {
    const [lo, hi] = domainAround([1, Math.E ** 2, 0, NaN], 0.5, true)!;
    assert.ok(Math.abs(lo - Math.E ** -1) < 1e-12);
    assert.ok(Math.abs(hi - Math.E ** 3) < 1e-12);
  });

  it('a single point gets a margin of its own size; nothing usable gives null', () => {
    assert.deepEqual(domainAround([2], 0.5), [1, 3]);
    assert.equal(domainAround([NaN]), null);
  });
});
