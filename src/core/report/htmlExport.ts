import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Boot } from '../../shared/protocol';
import type { Report } from '../analysis/analyze';

/**
 * The self-contained HTML export of a report (CLI --html, the extension's Export Report):
 * the report app's script and styles and the report itself inlined in one file that opens
 * in any browser with no network and no extension, under a CSP that allows nothing else.
 */
export function nonce(): string {
  return crypto.randomBytes(18).toString('base64url');
}

/** JSON safe to place inside a <script> element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Colours for the exported file, outside VS Code: dark and light, from the system setting. */
const STATIC_THEME = `:root{--vscode-foreground:#cccccc;--vscode-editor-background:#1f1f1f;--vscode-descriptionForeground:#9d9d9d;--vscode-panel-border:#3c3c3c;--vscode-textLink-foreground:#4daafc;--vscode-focusBorder:#0078d4;--vscode-button-background:#0078d4;--vscode-button-foreground:#ffffff;--vscode-button-secondaryBackground:#313131;--vscode-button-secondaryForeground:#cccccc;--vscode-font-family:system-ui,-apple-system,"Segoe UI",sans-serif;--vscode-font-size:13px;--vscode-sideBar-background:#1f1f1f;--vscode-sideBarSectionHeader-background:#252526;--vscode-sideBarTitle-foreground:#cccccc;--vscode-icon-foreground:#cccccc;color-scheme:dark}
@media (prefers-color-scheme: light){:root{--vscode-foreground:#3b3b3b;--vscode-editor-background:#ffffff;--vscode-descriptionForeground:#717171;--vscode-panel-border:#e5e5e5;--vscode-textLink-foreground:#005fb8;--vscode-button-secondaryBackground:#e5e5e5;--vscode-button-secondaryForeground:#3b3b3b;--vscode-charts-green:#388a34;--vscode-charts-red:#e51400;--vscode-charts-blue:#1a85ff;--vscode-charts-orange:#d18616;--vscode-charts-purple:#652d90;--vscode-charts-yellow:#bf8803;--vscode-sideBar-background:#ffffff;--vscode-sideBarSectionHeader-background:#f3f3f3;--vscode-sideBarTitle-foreground:#3b3b3b;--vscode-icon-foreground:#424242;--vscode-badge-background:#cccccc;--vscode-badge-foreground:#3b3b3b;color-scheme:light}}`;

/**
 * The page shell every host uses: CSP, styles, the boot JSON and the app's script, all under
 * one nonce; `tail` (bulk data the first render does not need) goes after the script.
 */
export function reportPage(opts: {
  nonce: string;
  csp: string;
  title: string;
  styles: string;
  boot: Boot;
  script: string;
  mainAttrs?: string;
  tail?: string;
}): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${opts.csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${opts.styles}
<title>${escapeHtml(opts.title)}</title>
</head>
<body>
<main id="app"${opts.mainAttrs ?? ''}></main>
<script type="application/json" id="exit-lens-boot" nonce="${opts.nonce}">${scriptJson(opts.boot)}</script>
${opts.script}
${opts.tail ?? ''}</body>
</html>`;
}

/**
 * A self-contained HTML report: open it in any browser, no network, no extension.
 * The per-sample records, when the report has them, are not in the boot JSON but in their own
 * JSON element (id `exit-lens-records`) after the app: browsers read HTML at some tens of MB/s,
 * and 10^5 samples' records are tens of MB that no view draws, so the report renders while
 * they are still being read. The whole report is the boot JSON's `report` with `records` set
 * to that element's JSON. The app runs as a classic script, which the browser runs as soon as
 * it has read it (a module script waits for the parser to pause, after another chunk of
 * records); the bundle has no import or export, and the wrapper keeps it strict and out of
 * the global scope as a module would.
 */
export function staticReportHtml(report: Report, webviewJs: string, reportCss: string): string {
  const n = nonce();
  const js = webviewJs.replace(/<\/(script)/gi, '<\\/$1');
  const { records, ...rest } = report;
  return reportPage({
    nonce: n,
    csp: ["default-src 'none'", "style-src 'unsafe-inline'", 'img-src data:', `script-src 'nonce-${n}'`].join('; '),
    title: `Exit Lens report · ${(report.model?.path ?? report.logitsFile ?? '').split(/[\\/]/).pop()}`,
    styles: `<style>${STATIC_THEME}\n${reportCss.replace(/<\/(style)/gi, '<\\/$1')}</style>`,
    boot: { view: 'static', runId: 'static', report: rest },
    script: `<script nonce="${n}">(function () {\n'use strict';\n${js}\n}).call(undefined);</script>`,
    tail: records
      ? `<script type="application/json" id="exit-lens-records" nonce="${n}">${scriptJson(records)}</script>\n`
      : undefined,
  });
}

/** Reads the built report app (dist/webview.js, media/report.css) from the extension or package folder. */
export function readWebviewAssets(root: string): { js: string; css: string } {
  const js = path.join(root, 'dist', 'webview.js');
  const css = path.join(root, 'media', 'report.css');
  if (!fs.existsSync(js) || !fs.existsSync(css)) {
    throw new Error(`The report app is not built (${js}); run npm run build.`);
  }
  return { js: fs.readFileSync(js, 'utf8'), css: fs.readFileSync(css, 'utf8') };
}
