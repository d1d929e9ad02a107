import { Emit, ProgressPhase } from '../shared/engineProtocol';

/** A run's progress events for one phase, at most every 100 ms (and once at the end, forced). */
export class Progress {
  private start = Date.now();
  private last = 0;
  constructor(
    private readonly emit: Emit,
    private readonly id: string,
    private readonly phase: ProgressPhase,
    private readonly total: number,
  ) {}
  report(done: number, force = false): void {
    const now = Date.now();
    if (!force && now - this.last < 100 && done < this.total) return;
    this.last = now;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : null;
    this.emit({
      type: 'progress',
      id: this.id,
      phase: this.phase,
      done,
      total: this.total,
      samplesPerSecond: rate,
      etaSeconds: rate && rate > 0 ? (this.total - done) / rate : null,
    });
  }
}
