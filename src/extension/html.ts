import * as vscode from 'vscode';
import type { Boot } from '../shared/protocol';
import { nonce, reportPage } from '../core/htmlExport';

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
  return reportPage({
    nonce: n,
    csp,
    title,
    styles: `<link rel="stylesheet" href="${css}">`,
    boot,
    script: `<script type="module" nonce="${n}" src="${script}"></script>`,
    mainAttrs: ' aria-live="polite"',
  });
}

