// A WebSocket server on 127.0.0.1 with a spare port, for the fakes of venues' streams: it keeps every connection, can cut
// them all as a network drop would, and serves one path (anything else is answered 404 at the upgrade).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export abstract class LocalWsServer {
  readonly http: Server = createServer();
  readonly wss = new WebSocketServer({ noServer: true });
  /** Every connection ever opened, in order; `open` those still open. */
  readonly connections: WebSocket[] = [];

  /** Takes upgrades to `path` only, handing each new connection to `accept` once it is recorded. */
  protected serve(path: string, accept: (socket: WebSocket) => void): void {
    this.http.on('upgrade', (request, socket, head) => {
      if (new URL(request.url ?? '/', 'http://x').pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        this.connections.push(ws);
        accept(ws);
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get open(): WebSocket[] {
    return this.connections.filter((c) => c.readyState === c.OPEN);
  }

  /** Cuts every connection without a close frame (a network drop). */
  dropAll(): void {
    for (const socket of this.open) socket.terminate();
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.terminate();
    await new Promise<void>((resolve) => { this.wss.close(() => resolve()); });
    await new Promise<void>((resolve) => { this.http.close(() => resolve()); });
  }
}
