import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import rules of the layout (CONTRIBUTING.md, "Layout"). Each one is a fence a contributor
// would otherwise only learn about in review.
const NODE = [...builtinModules, 'vscode', 'onnxruntime-node'];
const nodeBuiltins = {
  regex: '^node:',
  message: 'Node built-ins run only in the engine, the CLI and the extension host.',
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'examples/**', 'media/**', 'src/**/*.generated.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // The core is pure: no editor, no DOM, no native runtime, and none of the hosts.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['vscode', 'onnxruntime-node'],
          patterns: [
            {
              regex: '^(\\.\\./)+(engine|extension|cli)(/|$)|^(\\.\\./)+\\.\\./webview(/|$)',
              message: 'src/core is imported by the hosts, never the other way round; contracts go in src/shared.',
            },
          ],
        },
      ],
    },
  },
  {
    // Every contract once, imported by all: it imports nothing of the project but package.json.
    files: ['src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE,
          patterns: [
            nodeBuiltins,
            {
              regex: '^\\.\\./(?!\\.\\./package\\.json$)',
              message: 'src/shared imports only src/shared (and package.json).',
            },
          ],
        },
      ],
    },
  },
  {
    // The report app runs in a browser: its own files, src/shared and its npm packages (d3, UI elements).
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE,
          patterns: [
            nodeBuiltins,
            { regex: '^\\.\\./(?!src/shared/)', message: 'The webview imports only its own files and src/shared.' },
          ],
        },
      ],
    },
  },
  {
    // The same fence one folder down (webview/report/: one file per card).
    files: ['webview/*/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE,
          patterns: [
            nodeBuiltins,
            {
              regex: '^\\.\\./\\.\\./(?!src/shared/)',
              message: 'The webview imports only its own files and src/shared.',
            },
          ],
        },
      ],
    },
  },
  {
    // The extension is VS Code glue: it reaches the engine through its process and typed messages
    // (src/extension/engineClient.ts, src/shared/engineProtocol.ts), never by importing its code.
    files: ['src/extension/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+engine(/|$)',
              message: 'src/extension never imports src/engine: the engine runs in its own process (engineClient.ts).',
            },
          ],
        },
      ],
    },
  },
);
