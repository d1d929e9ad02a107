import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { onBlockingCall } from '../core/io/blocking';
import {
  OutputItem,
  OutputRequest,
  checkNotInputs,
  planOutputs,
  removePendingTemps,
  writeOutputs,
} from '../core/io/outputFiles';
import { parseMemorySize } from '../core/io/limits';
import { displayName, terminalText } from '../core/io/text';
import { ExitLensError, describeError } from '../core/errors';
import { describeOutputs, detectExits, parseExitMapping } from '../core/onnx/exits';
import { formatShape, loadModelInfo } from '../core/onnx/model';
import { readWebviewAssets, staticReportHtml } from '../core/report/htmlExport';
import { Report } from '../core/analysis/analyze';
import { markdownSummary, textSummary } from '../core/report/summary';
import { handleRequest } from '../engine/handleRequest';
import { CommonOptions, EngineEvent } from '../shared/engineProtocol';
import {
  DEFAULT_BATCH,
  DEFAULT_MAX_ACCURACY_DROP,
  DEFAULT_RISK_DELTA,
  DEFAULT_RISK_EPSILON,
  TOOL_VERSION,
} from '../shared/defaults';
import { summarizeProvider } from '../shared/providerText';
import { doctorCommand, reexecForGpu, setupCudaCommand } from './gpu';
import { headsCommand } from './heads';
import { analysisOf, mergeInputs, mergeRequest, recordsCapture, shardOptions } from './shards';
import { CLI_OPTIONS } from './options';
import type { ExecutionProviderInfo } from '../core/analysis/analyze';

/** Exit codes: 0 success, 2 a problem the user can fix (input, usage), 3 an internal failure, 130 cancelled. */
export const EXIT_OK = 0;
export const EXIT_USER = 2;
export const EXIT_INTERNAL = 3;
export const EXIT_CANCELLED = 130;

const HELP = `exit-lens ${TOOL_VERSION}: profile early-exit neural networks

Usage:
  exit-lens profile <model.onnx> --samples <file.npz> [options]
  exit-lens analyze <logits.npz> [options]
  exit-lens profile <model.onnx> --samples <file.npz> --shard i/n --records-out <file> [options]
  exit-lens merge <records files...> [--calib-records <files...>] [--json/--markdown/--html]
  exit-lens inspect <model.onnx> [--exits <mapping>]
  exit-lens heads <model-code.py> [--model <model.onnx> ...] [--exits <mapping>]
  exit-lens doctor [--json <file> | --json -]
  exit-lens setup-cuda [--from <package.nupkg>] [--force]

profile runs the model with ONNX Runtime over the sample set; analyze reads exit logits
dumped elsewhere (exit_logits [E,N,C], or one [N,C] array per exit, plus labels).
heads ties each class of a Python file to the ONNX model it defines and prints, as JSON,
the line that defines each exit's head (lines 1-based); without --model it reads every
.onnx under the Python file's folder (at most 64).

Options:
  --samples <file>      sample set (.npz / .npy): one array per model input, plus labels
  --calib <file>        calibration set for the suggested thresholds (else a seeded 50/50
                        split of the sample set, used for the suggestions only)
  --labels <name>       label array name (default: label, labels or y)
  --exits <mapping>     exit outputs in order, e.g. exit_0,exit_1,logits; or a stacked
                        output: logits:NEC ([N,E,C]) or logits:ENC ([E,N,C])
  --batch <N>           batch size (default ${DEFAULT_BATCH}; a model with a fixed batch uses that)
  --ep <list>           execution providers in order of preference: cuda, webgpu, tensorrt,
                        cpu (default cuda,webgpu,cpu; cuda is tried only when installed)
  --gpu-precision <p>   fp32 (default: exact, every figure equal to the CPU's) or tf32
                        (CUDA's tensor cores: faster, figures may differ in the 3rd-4th digit)
  --vocab <file>        a decoder's vocabulary for the token view: a JSON list of token
                        strings, or a Hugging Face tokenizer.json (read as data, never run)
  --cost <c>            static (default: MACs read from the graph) or measured (each exit's
                        graph timed on the execution provider, at batch 1 and --batch;
                        speed-ups then use the measured latency, MACs stay beside it)
  --threads <N>         intra-op threads (default: all cores; more than the cores are bounded)
  --max-memory <size>   memory the run may use, e.g. 8G or 512M: a larger estimate (made from
                        the arrays' headers) is refused before anything is allocated (default:
                        the memory available at the start, at most 80% of the machine's)
  --max-drop <f>        accuracy drop the suggestions may allow, as a fraction (default ${DEFAULT_MAX_ACCURACY_DROP})
  --risk <ε>            thresholds with a guarantee: the risk allowed, as a fraction (default ${DEFAULT_RISK_EPSILON})
  --delta <δ>           the guarantee holds with probability at least 1 − δ (default ${DEFAULT_RISK_DELTA})
  --risk-loss <loss>    gap (an error the full model would not make; the default with labels)
                        or consistency (disagreement with the full model; needs no labels)
  --model <file>        heads: a model the Python file defines (repeat for several)
  --exit-costs <list>   cumulative cost per exit (overrides static MACs), e.g. 1,2,3,4
  --json <file>         write the report (JSON, schema in docs/report.schema.json)
  --markdown <file>     write a Markdown summary
  --html <file>         write the interactive report as one self-contained HTML file
  --records             include per-sample records in the JSON (for drill-down)
  --shard <i/n>         profile only shard i of n (0-based) of the sample set: samples
                        [floor(i*N/n), floor((i+1)*N/n)); needs --records-out
  --records-out <file>  write the run's per-sample records for exit-lens merge (with or
                        without a report; the calibration set is profiled into its own)
  --device-id <k>       the GPU to run on (CUDA and TensorRT; recorded in the report)
  --calib-records <f>   merge: the calibration set's records files (repeat for several)
  --force               setup-cuda: install again even when the same package is installed
  --quiet               no summary table, no progress bar (the execution provider used is still
                        printed, on stderr)
  -h, --help            this help
  -v, --version         the version

Exit codes: 0 success, 2 a problem with the input or the command line, 3 an internal error,
130 cancelled.
`;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

/**
 * The report files of profile and analyze: checked before the run (core/outputFiles.ts: not
 * empty, not twice, not an input, a regular file, a new path, a device or a pipe), written all or
 * nothing after it, each built only when its turn comes so that Ctrl-C meanwhile is seen.
 */
function outputRequests(v: { json?: string; markdown?: string; html?: string }): OutputRequest[] {
  const out: OutputRequest[] = [];
  if (v.json !== undefined) out.push({ label: '--json', file: v.json });
  if (v.markdown !== undefined) out.push({ label: '--markdown', file: v.markdown });
  if (v.html !== undefined) out.push({ label: '--html', file: v.html });
  return out;
}

function providerLine(info: ExecutionProviderInfo): string {
  const s = summarizeProvider(info);
  const steps = s.tone === 'fallback' ? [...new Set(s.notUsed.map((n) => n.nextStep).filter(Boolean))] : [];
  return `Execution provider: ${s.line}${steps.length ? `\n${steps.join('\n')}` : ''}`;
}

/**
 * The progress bar and the execution provider line, on stderr. With --quiet only the provider
 * line: a sharded run's log must say which provider ran (a CUDA node falling back to the CPU).
 */
function progressBar(io: Io, quiet: boolean): (e: EngineEvent) => void {
  let shown = false;
  return (e) => {
    if (e.type === 'progress' && io.isTTY && !quiet) {
      const frac = e.total > 0 ? e.done / e.total : 0;
      const width = 24;
      const filled = Math.round(frac * width);
      const rate = e.samplesPerSecond ? ` ${e.samplesPerSecond.toFixed(0)}/s` : '';
      const eta =
        e.etaSeconds !== null && e.phase !== 'analysis' && e.phase !== 'costing'
          ? ` ETA ${Math.ceil(e.etaSeconds)}s`
          : '';
      const count = e.phase === 'inference' || e.phase === 'calibration' ? ` ${e.done}/${e.total}` : '';
      io.err(
        `\r${e.phase.padEnd(11)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%${count}${rate}${eta}\x1b[K`,
      );
      shown = true;
    } else if (e.type === 'provider') {
      if (shown) io.err('\r\x1b[K');
      io.err(`${terminalText(providerLine(e.info))}\n`);
    } else if (e.type === 'result' || e.type === 'error') {
      if (shown) io.err('\r\x1b[K');
      shown = false;
    }
  };
}

function parseNumberList(v: string | undefined, what: string): number[] | undefined {
  if (v === undefined) return undefined;
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (parts.some((x) => !Number.isFinite(x)))
    throw new ExitLensError(
      'bad-argument',
      `${what} "${v}" is not a comma-separated list of numbers.`,
      'For example --exit-costs 1.2e6,2.5e6,4e6.',
    );
  return parts;
}

function numberOption(v: string | undefined, what: string, example: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new ExitLensError('bad-argument', `${what} "${v}" is not a number.`, `Give a fraction, e.g. ${example}.`);
  return n;
}

function parseIntOption(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new ExitLensError('bad-argument', `${what} "${v}" is not a positive integer.`, `For example ${what} 64.`);
  return n;
}

export async function main(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: CLI_OPTIONS,
    });
  } catch (err) {
    io.err(`exit-lens: ${(err as Error).message}\nRun exit-lens --help for usage.\n`);
    return EXIT_USER;
  }
  const { values: v, positionals } = parsed;
  if (v.version) {
    io.out(`${TOOL_VERSION}\n`);
    return EXIT_OK;
  }
  const [command, target, ...extra] = positionals;
  if (v.help || !command) {
    io.out(HELP);
    return v.help ? EXIT_OK : EXIT_USER;
  }
  try {
    if (extra.length && command !== 'merge')
      throw new ExitLensError(
        'bad-argument',
        `Unexpected arguments: ${extra.join(' ')}.`,
        'Run exit-lens --help for usage.',
      );
    if (command === 'inspect') {
      if (!target)
        throw new ExitLensError('bad-argument', 'inspect needs a model path.', 'exit-lens inspect model.onnx');
      const model = loadModelInfo(target);
      // Every name from the file is shown inert (core/text.ts): no escape sequence reaches the terminal.
      io.out(
        `Model ${displayName(model.path)}\n  producer: ${displayName(model.producer) || '–'}, opset ${model.opset}, IR ${model.irVersion}, ${model.nodeCount} nodes, ${model.parameterCount} parameters${model.usesExternalData ? ', external data' : ''}\n`,
      );
      io.out(
        `Inputs:\n${model.inputs.map((i) => `  ${displayName(i.name)}: ${displayName(i.dtype)} ${formatShape(i.shape)}`).join('\n')}\nOutputs:\n${describeOutputs(model)}\n`,
      );
      const layout = detectExits(model, v.exits ? parseExitMapping(v.exits) : undefined);
      io.out(
        layout.kind === 'per-output'
          ? `Exits (${layout.orderedBy}): ${layout.outputs.map(displayName).join(', ')}\n`
          : `Exits: stacked output ${displayName(layout.output)} (${layout.layout}), ${layout.exitCount ?? '?'} exits\n`,
      );
      return EXIT_OK;
    }
    if (command === 'doctor') return await doctorCommand(v, io, target);
    if (command === 'heads') return await headsCommand(v, io, target);
    if (command === 'setup-cuda') return await setupCudaCommand(v, io, target, signal);
    if (command !== 'profile' && command !== 'analyze' && command !== 'merge')
      throw new ExitLensError(
        'bad-argument',
        `Unknown command "${command}".`,
        'Commands: profile, analyze, merge, inspect, heads, doctor, setup-cuda. Run exit-lens --help.',
      );
    if (!target)
      throw new ExitLensError(
        'bad-argument',
        `${command} needs a ${command === 'profile' ? 'model' : command === 'merge' ? 'records file' : 'logits file'} path.`,
        'Run exit-lens --help for usage.',
      );
    const maxDrop = numberOption(v['max-drop'], '--max-drop', '--max-drop 0.01');
    const risk = numberOption(v.risk, '--risk', '--risk 0.05');
    const delta = numberOption(v.delta, '--delta', '--delta 0.1');
    if (command === 'profile' && !v.samples)
      throw new ExitLensError(
        'bad-argument',
        'profile needs --samples <file.npz>.',
        'exit-lens profile model.onnx --samples test.npz',
      );
    const maxMemory = v['max-memory'] === undefined ? undefined : parseMemorySize(v['max-memory']);
    // Every output checked before the run: a run of hours is not lost to a typo at its end.
    const inputs = [
      ...(command === 'merge' ? mergeInputs([target, ...extra], v['calib-records']) : []),
      command === 'profile'
        ? { label: 'the model', file: target }
        : { label: command === 'merge' ? 'a records file' : 'the logits file', file: target },
      ...(v.samples !== undefined && command === 'profile' ? [{ label: 'the sample set', file: v.samples }] : []),
      ...(v.calib !== undefined ? [{ label: 'the calibration set', file: v.calib }] : []),
      ...(v.vocab !== undefined ? [{ label: 'the vocabulary', file: v.vocab }] : []),
    ];
    const shards = shardOptions(v, command);
    const planned = planOutputs([...outputRequests(v), ...shards.outputs], inputs);
    const common = {
      id: 'cli',
      calibPath: v.calib,
      labelName: v.labels,
      exits: v.exits,
      maxAccuracyDrop: maxDrop,
      riskEpsilon: risk,
      riskDelta: delta,
      riskLoss: v['risk-loss'] as CommonOptions['riskLoss'],
      exitCosts: parseNumberList(v['exit-costs'], '--exit-costs'),
      includeRecords: Boolean(v.records),
      maxMemory,
    };
    const bar = progressBar(io, Boolean(v.quiet));
    let errorEvent: Extract<EngineEvent, { type: 'error' }> | null = null;
    const emit = (e: EngineEvent) => {
      bar(e);
      if (e.type === 'error') errorEvent = e;
      if (e.type === 'log' && e.level === 'error') io.err(`${terminalText(e.message)}\n`);
      if (e.type === 'log' && e.level === 'warn') io.err(`exit-lens: warning: ${terminalText(e.message)}\n`);
    };
    // The model's external data is known once the model is read: an output naming it is refused then.
    const capture = recordsCapture(analysisOf(common));
    const hooks = {
      inputFiles: (files: { label: string; file: string }[]) => checkNotInputs(planned, files),
      shardRecords: shards.outputs.length ? capture.hook : undefined,
    };
    let report: Report | null;
    if (command === 'profile') {
      report = await handleRequest(
        {
          type: 'profile',
          modelPath: target,
          samplesPath: v.samples!,
          batchSize: parseIntOption(v.batch, '--batch'),
          executionProviders: v.ep?.split(','),
          gpuPrecision: v['gpu-precision'],
          cost: v.cost as 'static' | 'measured' | undefined,
          vocabPath: v.vocab,
          threads: parseIntOption(v.threads, '--threads'),
          shard: shards.shard,
          deviceId: shards.deviceId,
          ...common,
        },
        emit,
        signal,
        hooks,
      );
    } else if (command === 'merge') {
      report = await handleRequest(mergeRequest(v, [target, ...extra], common), emit, signal, hooks);
    } else {
      report = await handleRequest({ type: 'analyze', logitsPath: target, ...common }, emit, signal, hooks);
    }
    if (!report) {
      const e = errorEvent as Extract<EngineEvent, { type: 'error' }> | null;
      if (!e) return EXIT_INTERNAL;
      io.err(`exit-lens: ${terminalText(e.message)}${e.hint ? `\n${terminalText(e.hint)}` : ''}\n`);
      return e.code === 'cancelled' ? EXIT_CANCELLED : e.userError ? EXIT_USER : EXIT_INTERNAL;
    }
    const done = report;
    const items: OutputItem[] = planned.map((target) => ({
      target,
      content: () => {
        if (target.label === '--records-out') return capture.content();
        if (target.label === '--json') return `${JSON.stringify(done, null, 1)}\n`;
        if (target.label === '--markdown') return markdownSummary(done);
        let assets: { js: string; css: string };
        try {
          // The package root: above dist/ for the bundle, above src/cli/ when run from the source.
          const root =
            path.basename(__dirname) === 'dist' ? path.join(__dirname, '..') : path.join(__dirname, '..', '..');
          assets = readWebviewAssets(root);
        } catch (err) {
          throw new ExitLensError('internal', (err as Error).message);
        }
        return staticReportHtml(done, assets.js, assets.css);
      },
    }));
    // A cancel at any point before the last rename leaves nothing (exit 130).
    await writeOutputs(items, signal);
    if (!v.quiet) io.out(`${textSummary(report)}\n`);
    for (const t of planned) io.err(`Wrote ${displayName(t.given)}\n`);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ExitLensError) {
      io.err(`exit-lens: ${terminalText(err.describe())}\n`);
      return err.code === 'cancelled' ? EXIT_CANCELLED : err.isUserError ? EXIT_USER : EXIT_INTERNAL;
    }
    io.err(`exit-lens: internal error: ${describeError(err)}\n${(err as Error)?.stack ?? ''}\n`);
    return EXIT_INTERNAL;
  }
}

async function start(argv: string[], signal: AbortSignal): Promise<number> {
  // CUDA libraries outside the loader's search: run again once with LD_LIBRARY_PATH set (cliGpu.ts).
  const again = reexecForGpu(argv);
  const code = again ? await again : null;
  if (code !== null && code >= 0) return code;
  return main(
    argv,
    { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), isTTY: Boolean(process.stderr.isTTY) },
    signal,
  );
}

/**
 * Ctrl-C: the first cancels the run (exit 130, nothing written), a second ends the process at
 * once. While ONNX Runtime holds the thread in native code (session creation, core/blocking.ts)
 * no handler can run, so the handler steps aside and Ctrl-C ends the process at once, as it
 * would without one (the shell sees 130; no report has been written by then). Report files
 * not renamed into place yet are removed on any exit.
 */
export function handleInterrupts(controller: AbortController): void {
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(EXIT_CANCELLED);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  onBlockingCall((blocking) => {
    if (blocking) process.removeListener('SIGINT', onSigint);
    else process.on('SIGINT', onSigint);
  });
  process.on('exit', removePendingTemps);
}

if (require.main === module) {
  const controller = new AbortController();
  handleInterrupts(controller);
  start(process.argv.slice(2), controller.signal).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`exit-lens: internal error: ${describeError(err)}\n`);
      process.exitCode = EXIT_INTERNAL;
    },
  );
}
