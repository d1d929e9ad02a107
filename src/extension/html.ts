import * as vscode from 'vscode';
import { Boot, escapeHtml, nonce, scriptJson } from '../core/htmlExport';

/**
 * The page that hosts the report app: in a webview (panel or sidebar) under a strict CSP
 * with a nonce, loading only the extension's own dist/ and media/ files; or as one
 * self-contained HTML file (export), with the script, styles and report inlined.
 */


export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, boot: Boot, title: string): string {
  const n = nonce();
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js'));
  const css = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'report.css'));
  const csp = [
    "default-src 'none'",
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
    `script-src 'nonce-${n}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${css}">
<title>${escapeHtml(title)}</title>
</head>
<body>
<main id="app" aria-live="polite"></main>
<script type="application/json" id="exit-lens-boot" nonce="${n}">${scriptJson(boot)}</script>
<script type="module" nonce="${n}" src="${script}"></script>
</body>
</html>`;
}

