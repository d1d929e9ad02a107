/**
 * `exit-lens heads <model-code.py> [--model m.onnx ...] [--exits <mapping>]`: which class of
 * a Python file is which model, and which line each exit's head is defined on, as JSON on
 * stdout (src/core/python/headsFromGraph.ts). Without --model, every .onnx under the Python
 * file's folder is read (bounded: core/python/headsFromGraph.ts findModelFiles).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ExitLensError } from '../core/errors';
import { readRegularFile } from '../core/io/inputFiles';
import { MAX_PYTHON_SOURCE_BYTES } from '../core/io/limits';
import {
  HeadsModel,
  HeadsResult,
  MAX_MODEL_FILES,
  findModelFiles,
  headsFromGraph,
  loadHeadsModel,
} from '../core/python/headsFromGraph';
import { PARSER_WASM_FILES, createPythonParser, nodeModulesParserWasm } from '../core/python/pythonParser';

interface HeadsIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** The parser's WebAssembly: beside the bundle (dist/), else in node_modules (running from src/cli/). */
function parserWasm() {
  const here = __dirname;
  if (PARSER_WASM_FILES.every((f) => fs.existsSync(path.join(here, f)))) return here;
  const root = path.basename(here) === 'dist' ? path.join(here, '..') : path.join(here, '..', '..');
  return nodeModulesParserWasm(path.join(root, 'node_modules'));
}

export async function headsCommand(
  v: { model?: string[]; exits?: string },
  io: HeadsIo,
  target: string | undefined,
): Promise<number> {
  const usage = 'exit-lens heads model.py [--model model.onnx ...]';
  if (!target) throw new ExitLensError('bad-argument', 'heads needs a Python file.', usage);
  if (!/\.pyi?$/i.test(target))
    throw new ExitLensError(
      'bad-argument',
      `${target} is not a Python file (.py).`,
      `Give the Python file that defines the model: ${usage}`,
    );
  const bytes = readRegularFile(
    target,
    (why) => new ExitLensError('bad-argument', `Cannot read ${target}: ${why}.`, `Check the path: ${usage}`),
    MAX_PYTHON_SOURCE_BYTES,
  );
  const source = bytes.toString('utf8');
  const models: HeadsModel[] = [];
  const skipped: HeadsResult['unmapped'] = [];
  if (v.model?.length) {
    // Models named on the command line must be readable multi-exit models.
    for (const m of v.model) models.push(loadHeadsModel(m, v.exits));
  } else {
    const folder = path.dirname(target);
    const { files, capped } = await findModelFiles(folder);
    if (capped)
      io.err(
        `exit-lens: warning: more than ${MAX_MODEL_FILES} .onnx files under ${folder}; only the first ${MAX_MODEL_FILES} (in name order) were read. Name the models with --model.\n`,
      );
    for (const f of files) {
      try {
        models.push(loadHeadsModel(f, v.exits));
      } catch (err) {
        if (!(err instanceof ExitLensError) || !err.isUserError) throw err;
        skipped.push({ model: f, reason: err.message.split('\n')[0] });
      }
    }
  }
  const parser = await createPythonParser(parserWasm());
  const result = headsFromGraph(parser, source, models);
  io.out(`${JSON.stringify({ ...result, unmapped: [...result.unmapped, ...skipped] }, null, 1)}\n`);
  return 0;
}
