/**
 * The Python parser the exit-head finder reads with: web-tree-sitter's runtime and the
 * tree-sitter-python grammar (both WebAssembly), loaded once per process, and the names of the
 * two files a host ships beside its bundle.
 *
 * Pure: no `vscode`, no DOM; it runs in Node and in VS Code's extension host.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
// Why `require`: the extension is bundled to CommonJS, and web-tree-sitter's ESM build reads
// `import.meta.url`, which is undefined there; its CommonJS build is what must be bundled.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import TreeSitter = require('web-tree-sitter');
import { ExitLensError } from '../errors';

/** A node of a parsed Python syntax tree. */
export type SyntaxNode = TreeSitter.Node;

/** web-tree-sitter's runtime (its name since web-tree-sitter 0.25; older ones shipped `tree-sitter.wasm`). */
export const TREE_SITTER_WASM = 'web-tree-sitter.wasm';
/** The Python grammar, as the tree-sitter-python npm package ships it. */
export const PYTHON_GRAMMAR_WASM = 'tree-sitter-python.wasm';
/** The two files a host ships beside its bundle (the build copies them into `dist/`). */
export const PARSER_WASM_FILES: readonly string[] = [TREE_SITTER_WASM, PYTHON_GRAMMAR_WASM];

/** Paths of the two WebAssembly files, when they are not in one folder. */
export interface PythonParserWasm {
  /** web-tree-sitter's runtime, `web-tree-sitter.wasm`. */
  runtime: string;
  /** The grammar, `tree-sitter-python.wasm`. */
  grammar: string;
}

/** Where an npm install keeps the two files (tests load them from there, the build copies them). */
export function nodeModulesParserWasm(nodeModulesDir: string): PythonParserWasm {
  return {
    runtime: path.join(nodeModulesDir, 'web-tree-sitter', TREE_SITTER_WASM),
    grammar: path.join(nodeModulesDir, 'tree-sitter-python', PYTHON_GRAMMAR_WASM),
  };
}

/** A ready Python parser; one per process is enough (parsing is synchronous). */
export interface PythonParser {
  /** Parses Python source. The caller must `delete()` the tree: it lives in WebAssembly memory. */
  parse(source: string): TreeSitter.Tree;
}

class TreeSitterPythonParser implements PythonParser {
  constructor(private readonly parser: TreeSitter.Parser) {}

  parse(source: string): TreeSitter.Tree {
    const tree = this.parser.parse(source);
    // Why: web-tree-sitter returns null only without a language or after a cancelled parse.
    if (!tree) throw new ExitLensError('internal', 'The Python parser returned no syntax tree.');
    return tree;
  }
}

// Why module-level: the runtime can be initialised once per process, and the grammar and
// parser are reused by every later call (the extension asks on every CodeLens refresh).
let runtimeReady: Promise<void> | undefined;
const parsers = new Map<string, Promise<PythonParser>>();

/**
 * Loads web-tree-sitter's runtime and the Python grammar and returns a parser. `wasm` is the
 * folder holding both files (the extension's `dist/`) or their two paths. Repeated calls return
 * the same parser.
 */
export function createPythonParser(wasm: string | PythonParserWasm): Promise<PythonParser> {
  const files =
    typeof wasm === 'string'
      ? { runtime: path.join(wasm, TREE_SITTER_WASM), grammar: path.join(wasm, PYTHON_GRAMMAR_WASM) }
      : wasm;
  const cached = parsers.get(files.grammar);
  if (cached) return cached;
  const created = loadParser(files);
  parsers.set(files.grammar, created);
  // Why: a failed load (a missing file) must not poison later attempts with a fixed path.
  created.catch(() => parsers.delete(files.grammar));
  return created;
}

async function loadParser(files: PythonParserWasm): Promise<PythonParser> {
  try {
    runtimeReady ??= readFile(files.runtime).then((wasmBinary) => TreeSitter.Parser.init({ wasmBinary }));
    await runtimeReady.catch((err: unknown) => {
      runtimeReady = undefined;
      throw err;
    });
    const language = await TreeSitter.Language.load(await readFile(files.grammar));
    const parser = new TreeSitter.Parser();
    parser.setLanguage(language);
    return new TreeSitterPythonParser(parser);
  } catch (err) {
    throw new ExitLensError(
      'internal',
      `Cannot load the Python parser (${files.runtime}, ${files.grammar}): ${err instanceof Error ? err.message : String(err)}`,
      'Reinstall the extension; its dist/ folder must hold both WebAssembly files.',
    );
  }
}
