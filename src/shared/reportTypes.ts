/**
 * The report: a plain, versioned JSON document that every view reads (the CLI's summaries,
 * the report panel, the sidebar, CodeLens, the static HTML export). Its schema is
 * docs/report.schema.json; bump SCHEMA_VERSION on any breaking change. Types only, and the
 * version: the analysis that fills them lives in src/core.
 */
export const SCHEMA_VERSION = 1;

/** A dimension is a number when fixed, a name (e.g. "batch") when symbolic, null when unknown. */
export type Dim = number | string | null;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: Dim[] | null;
}

/** Per-exit metrics of docs/metrics.md "Per-exit metrics". Label-based figures are null without labels. */
export interface ExitMetrics {
  index: number;
  accuracy: number | null;
  meanConfidence: number;
  meanEntropy: number;
  ece: number | null;
  nll: number | null;
  agreement: number;
  nonFiniteCount: number;
}

/** The exit policies of docs/metrics.md "Policies and curves". */
export type PolicyKind = 'confidence' | 'entropy' | 'margin' | 'patience';

export interface PolicyOutcome {
  accuracy: number | null;
  agreement: number;
  meanCost: number;
  speedup: number | null;
  /** 1 - meanCost / baseline. */
  saving: number | null;
  exitHistogram: number[];
}

export interface GridPolicy extends PolicyOutcome {
  kind: PolicyKind;
  threshold: number;
}

export interface CurvePoint extends PolicyOutcome {
  /** The policy's threshold; null for the point where nothing fires (the full model). */
  threshold: number | null;
}

export interface Curve {
  kind: PolicyKind;
  /** Distinct operating points on the exact curve (before thinning for the report). */
  totalPoints: number;
  /** The points kept in the report: all of them, or evenly spaced ones when there are more than the cap. */
  points: CurvePoint[];
  thinned: boolean;
}

export interface FrontierCandidate {
  kind: PolicyKind;
  threshold: number | null;
  meanCost: number;
  /** Accuracy, or agreement for an unlabelled set. */
  quality: number;
}

/** Overthinking (Kaya et al., Shallow-Deep Networks, ICML 2019): right/wrong flow from one exit to the next. */
export interface Transition {
  from: number;
  to: number;
  rr: number;
  rw: number;
  wr: number;
  ww: number;
}

export interface Overthinking {
  oracleAccuracy: number;
  destructiveRate: number;
  wastefulRate: number;
  oracleSpeedup: number | null;
  /** Counts of f(x) = k for k = 0..E-1, then the count of `never` last. */
  firstCorrectHistogram: number[];
  transitions: Transition[];
  /** Counts of the settling exit s(x) = min{k : pred_j = pred_{E-1} for every j ≥ k}, k = 0..E-1 (absent in older reports). */
  settlingHistogram?: number[];
  meanSettlingExit?: number;
}

/** Suggested thresholds (docs/metrics.md "Suggested thresholds"). */
export type SuggestionPolicy = PolicyKind | 'per-exit';

export interface SplitFigures extends PolicyOutcome {
  sampleCount: number;
}

export interface Suggestion {
  policy: SuggestionPolicy;
  /** A number, null when no early exit meets the target (run the full model), or one per exit 0..E-2 for `per-exit` (null = never exit there). */
  threshold: number | null | (number | null)[];
  /** What the target was read on. */
  targetMetric: 'accuracy' | 'agreement';
  target: number;
  calibration: SplitFigures;
  test: SplitFigures;
  /** True for the best of all policies on the calibration split. */
  best: boolean;
}

/** The loss of a risk-controlled threshold (docs/metrics.md "Thresholds with a guarantee"). */
export type RiskLoss = 'consistency' | 'gap';

/**
 * A threshold with a guarantee (docs/metrics.md "Thresholds with a guarantee"): with
 * probability at least 1 − delta over the calibration draw, the risk at `threshold` is at most
 * `epsilon`. Fitted on the calibration split (n samples), reported on the test split.
 */
export interface Guarantee {
  policy: PolicyKind;
  /** `consistency`: the exit's prediction differs from the final exit's; `gap`: a wrong answer the final exit gets right. */
  loss: RiskLoss;
  epsilon: number;
  delta: number;
  /** Calibration samples. */
  n: number;
  /** The certified threshold λ̂ (the most aggressive one certified), null when none is: run the full model. */
  threshold: number | null;
  /** The binomial p-value at λ̂ (null when none is certified). */
  pValue: number | null;
  /** How many points of the fixed grid were certified, and the grid's size. */
  certifiedCount: number;
  gridSize: number;
  /** k(λ̂) and k(λ̂)/n on the calibration split (0 when none is certified: the full model). */
  calibration: { losses: number; risk: number };
  /** On the test split at λ̂ (the full model when none is certified); risk null when the loss needs labels the test split lacks. */
  test: SplitFigures & { risk: number | null };
}

/**
 * Drill-down: the samples that overthink destructively (right at some exit, wrong at the
 * final one), with every exit's prediction and confidence, and a preview of the input.
 */
export type InputPreview =
  | {
      kind: 'image';
      width: number;
      height: number;
      channels: 1 | 3;
      /** base64 of uint8 pixels, row-major, channels last */ pixels: string;
    }
  | { kind: 'tokens'; ids: number[]; truncated: boolean }
  | { kind: 'values'; values: number[]; truncated: boolean };

export interface DrilldownSample {
  index: number;
  label: number;
  firstCorrect: number;
  preds: number[];
  confs: number[];
  input?: InputPreview;
}

export interface Drilldown {
  /** How many samples overthink destructively in all. */
  destructiveCount: number;
  samples: DrilldownSample[];
}

export interface ReportWarning {
  code: string;
  message: string;
}

export interface ExitReport extends ExitMetrics {
  name: string;
  /** cost(k): MACs per sample of exiting at k (the heads of exits 0..k-1 ran too). */
  macs: number;
  /** macs / baselineMacs. */
  relativeCost: number | null;
  /** Share of samples right at this exit and wrong at the final exit (null without labels). */
  destructiveRate: number | null;
  /** Measured cost of exiting at k (--cost measured): the graph of exits 0..k timed on the run's provider. */
  latency?: LatencyFigures;
}

/** A measured cost (docs/metrics.md "Cost", measured cost): milliseconds per sample, medians of repeated runs. */
export interface LatencyFigures {
  /** ms per sample at batch 1. */
  batch1: number;
  /** ms per sample at the run's batch size. */
  batch: number;
  batchSize: number;
  /** Interquartile range of the repeats, ms per sample. */
  spread: { batch1: number; batch: number };
  repeats: { batch1: number; batch: number };
}

export interface ProviderAttempt {
  provider: string;
  ok: boolean;
  /** Why it could not be used, word for word from ONNX Runtime where it came from there. */
  reason?: string;
  /** What the user can do about it (a GPU provider that was skipped or failed). */
  nextStep?: string;
}

export interface ExecutionProviderInfo {
  used: string;
  requested: string[];
  /** true when the user named the providers (--ep, the setting); false for the default order. */
  explicit: boolean;
  attempts: ProviderAttempt[];
  threads: number;
  /**
   * The numeric mode of the provider's matmuls and convolutions: fp32 (exact single precision),
   * or tf32 (CUDA's tensor cores: inputs rounded to a 10-bit mantissa).
   */
  precision: 'fp32' | 'tf32';
  /** Why that precision: the provider, the setting or the environment that decided it. */
  precisionReason: string;
  /** The GPU the session ran on (--device-id; CUDA and TensorRT), when one was chosen. */
  deviceId?: number;
}

export interface InputBinding {
  input: string;
  array: string;
  arrayDtype: string;
  modelDtype: string;
  cast: boolean;
}

export interface SamplesInfo {
  path: string;
  /** N, the number of samples every figure except the suggestions is computed on. */
  N: number;
  sampleCount: number;
  labelled: boolean;
  labelArray: string | null;
  inputs: InputBinding[];
  calibration: {
    source: 'file' | 'split' | 'none';
    path: string | null;
    sampleCount: number;
    seed: number | null;
    fraction: number | null;
    testSampleCount: number;
  };
  /**
   * For a decoder (docs/metrics.md "Token-level exits"): every sample is a token position of a
   * sequence; N counts positions. Absent for a classifier.
   */
  tokens?: TokenSamples;
}

export interface TokenSamples {
  sequences: number;
  /** Tokens per sequence (T). */
  length: number;
  positions: number;
  /** Where the labels come from: the next token of the ids, or a labels array (−100 skipped). */
  labels: 'next-token' | 'labels-array';
  /** The model input read as the attention mask, or null when there is none (every position counts). */
  mask: string | null;
  /** The calibration set's sequences and positions, when it is a separate file. */
  calibration: { sequences: number; positions: number } | null;
}

/**
 * The first sequences of a decoder's sample set, for the token view: each valid position's
 * per-layer predictions and scores, so that the view can colour each predicted token by the
 * exit a policy takes there, at any threshold.
 */
export interface TokenView {
  sequences: {
    /** The sequence's index in the sample set. */
    index: number;
    /** Its tokens, up to the view's cap (the unmasked ones and the padding alike). */
    ids: number[];
    /** The mask, 1 for a real token (all 1 without a mask). */
    mask: number[];
    truncated: boolean;
    /** Valid positions: position t predicts the token at t + 1; `sample` is its index among the samples. */
    positions: {
      t: number;
      sample: number;
      label: number;
      preds: number[];
      conf: number[];
      entropy: number[];
      margin: number[];
    }[];
  }[];
  /** Display strings of the ids that appear (tokens and predictions), from --vocab; null without one. */
  vocab: Record<string, string> | null;
  /** Where the vocabulary came from (its path), or null. */
  vocabPath: string | null;
}

export interface CostInfo {
  /** What the policies' mean cost and speed-up are computed from; `measured`: ms per sample at the run's batch size. */
  source: 'static' | 'user' | 'relative' | 'measured';
  /** With --cost measured: how the latencies were taken (exits[k].latency, baselineLatency), or why they could not be. */
  measured?: {
    method: string;
    provider: string;
    precision: string;
    batchSize: number;
    /** Null when measured; else why measured cost is unavailable (static costs are used). */
    unavailable: string | null;
  };
  note: string;
  uncostedNodes: { name: string; opType: string; reason: string }[];
  uncountedOps: Record<string, number>;
}

export interface Report {
  schemaVersion: number;
  tool: { name: 'exit-lens'; version: string };
  createdAt: string;
  model: {
    path: string;
    inputs: TensorInfo[];
    outputs: TensorInfo[];
    opset: number;
    irVersion: number;
    producer: string;
    nodeCount: number;
    parameterCount: number;
    usesExternalData: boolean;
    exitLayout: {
      kind: 'per-output' | 'stacked' | 'logits-file';
      outputs: string[];
      /** NEC/ENC; for token exits NEC is [B, E, T, V] and ENC [E, B, T, V]. */
      layout?: string;
      orderedBy: string;
      /** True for a decoder's token exits (logits per position). */
      tokens?: boolean;
    };
  } | null;
  logitsFile: string | null;
  executionProvider: ExecutionProviderInfo | null;
  samples: SamplesInfo;
  exitCount: number;
  classCount: number;
  exits: ExitReport[];
  baselineMacs: number;
  /** The measured cost of the model without early exits (--cost measured). */
  baselineLatency?: LatencyFigures;
  cost: CostInfo;
  overthinking: Overthinking | null;
  policies: GridPolicy[];
  curves: {
    confidence: Curve;
    entropy: Curve;
    margin: Curve;
    patience: Curve;
    /** The Pareto frontier over every exact point, at most MAX_FRONTIER_POINTS of it (frontierForReport). */
    frontier: FrontierCandidate[];
    /** How many points the whole frontier has (absent in reports written before it was thinned). */
    frontierTotalPoints?: number;
    /**
     * With measured costs (cost.source 'measured'): the frontier by static MACs over the curves'
     * kept points (core/analysis/macsFrontier.ts), meanCost in MACs, for the MACs axis.
     */
    macsFrontier?: FrontierCandidate[];
    /** 'accuracy' or 'agreement' (unlabelled): the quality axis of the frontier. */
    quality: 'accuracy' | 'agreement';
  };
  suggestions: Suggestion[];
  /** Thresholds with a guarantee, one per policy (absent in reports written before they were added). */
  guarantees?: Guarantee[];
  /** A decoder's first sequences, token by token, for the token view (absent for a classifier). */
  tokenView?: TokenView;
  /** Samples that overthink destructively, for the drill-down view; null without labels. */
  drilldown: Drilldown | null;
  settings: {
    maxAccuracyDrop: number;
    batchSize: number | null;
    /** The risk-control settings (absent in reports written before they were added). */
    risk?: { epsilon: number; delta: number; loss: RiskLoss };
  };
  conventions: Record<string, string>;
  warnings: ReportWarning[];
  timings: Record<string, number>;
  /** Per-sample records (on request): sample-major, index n * exitCount + k. */
  records?: {
    labels: number[] | null;
    pred: number[];
    conf: number[];
  };
}
