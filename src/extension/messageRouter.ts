import type { FromWebview } from '../shared/protocol';

/**
 * What the report panel, the sidebar and the model viewer may ask for, dispatched by message
 * type. It exists before the views, which hand it every validated message (webviewHost.ts);
 * the command modules register the handlers. 'ready' never gets here: the view's page host
 * answers it.
 */
export type WebviewRequest = Exclude<FromWebview, { type: 'ready' }>;

type Handler<K extends WebviewRequest['type']> = (message: Extract<WebviewRequest, { type: K }>) => unknown;

export class MessageRouter {
  private readonly handlers = new Map<WebviewRequest['type'], (message: WebviewRequest) => unknown>();

  /** One handler per message type: a second registration is a wiring mistake. */
  on<K extends WebviewRequest['type']>(type: K, handler: Handler<K>): void {
    if (this.handlers.has(type)) throw new Error(`A handler for the webview message "${type}" is already registered.`);
    this.handlers.set(type, handler as (message: WebviewRequest) => unknown);
  }

  /** Runs the handler for a message that was already validated (isFromWebview); others are ignored. */
  async handle(message: FromWebview): Promise<void> {
    if (message.type === 'ready') return;
    await this.handlers.get(message.type)?.(message);
  }
}
