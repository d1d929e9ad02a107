import * as vscode from 'vscode';
import { nonce, reportPage } from '../core/report/htmlExport';
import { Boot, ToWebview, isFromWebview } from '../shared/protocol';
import { MessageRouter } from './messageRouter';

/**
 * What the report panel, the sidebar and the model viewer share: the webview's options, its
 * page (the report app under a strict CSP with a nonce, loading only the extension's own dist/
 * and media/ files), the receipt of the page's messages (validated, then handed to the router)
 * and the one queue for messages posted before the page said 'ready'.
 */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** The page that hosts the report app in a webview (the HTML export inlines it instead: core/htmlExport.ts). */
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

export interface WebviewHostOptions {
  extensionUri: vscode.Uri;
  router: MessageRouter;
  log: vscode.LogOutputChannel;
  /**
   * Posts the view's current state; called each time the page says 'ready' (its first load and
   * every reload). What it posts is sent first and replaces queued messages of the same type.
   */
  onReady: () => void;
}

/** One webview's page: load it, post to it (queued until it is ready), receive from it. */
export class WebviewHost implements vscode.Disposable {
  private pageReady = false;
  /** At most one message of each type: the page needs only the latest report, state or busy flag. */
  private queue: ToWebview[] = [];
  private view: Boot['view'] = 'panel';
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly webview: vscode.Webview,
    private readonly options: WebviewHostOptions,
  ) {
    this.subscription = webview.onDidReceiveMessage((m: unknown) => this.receive(m));
  }

  /** Whether the page said 'ready' since it was last loaded: until then posts wait in the queue. */
  get ready(): boolean {
    return this.pageReady;
  }

  /** Sets the options and the page; what was queued for an earlier page is dropped. */
  load(boot: Boot, title: string): void {
    this.view = boot.view;
    this.pageReady = false;
    this.queue = [];
    this.webview.options = webviewOptions(this.options.extensionUri);
    this.webview.html = webviewHtml(this.webview, this.options.extensionUri, boot, title);
  }

  post(message: ToWebview): void {
    if (this.pageReady) {
      void this.webview.postMessage(message);
      return;
    }
    this.queue = this.queue.filter((m) => m.type !== message.type);
    this.queue.push(message);
  }

  /** Checks every message from the page before acting; anything malformed is logged and dropped. */
  private receive(m: unknown): void {
    const { router, log } = this.options;
    if (!isFromWebview(m)) {
      log.warn(`Ignored a malformed message from the ${this.view} webview: ${JSON.stringify(m)?.slice(0, 200)}`);
      return;
    }
    if (m.type === 'ready') {
      this.flushOnReady();
      return;
    }
    void router.handle(m).catch((err) => log.error(`Handling ${m.type} failed: ${(err as Error).message}`));
  }

  private flushOnReady(): void {
    // A (re)loaded page starts blank: the view's current state first, so that a report rendered
    // from it does not wipe the busy notice or the exit focus queued before it.
    const earlier = this.queue;
    this.queue = [];
    this.pageReady = false;
    try {
      this.options.onReady();
    } catch (err) {
      this.options.log.error(`Handling ready failed: ${(err as Error).message}`);
    }
    const current = this.queue;
    this.queue = [];
    this.pageReady = true;
    const rest = earlier.filter((m) => !current.some((c) => c.type === m.type));
    for (const m of [...current, ...rest]) void this.webview.postMessage(m);
  }

  dispose(): void {
    this.subscription.dispose();
    this.queue = [];
  }
}
