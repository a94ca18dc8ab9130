import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of a Postgres server, standing in for the network
 * between the vault and its database: `resetOn(text)` makes the next connection whose
 * client sends `text` (a query's SQL or a prepared statement's name, as it crosses the
 * wire) receive a TCP reset, as a firewall, a load balancer's idle timeout or a failover
 * gives one. By default the server never sees that statement; with `{ afterAnswer: true }`
 * the statement reaches the server, which runs it (and commits it), and the reset comes as
 * its answer is on its way back: the client cannot know what happened. With `{ close: true }`
 * the server's side closes the connection in order (a FIN, no reset), as a server that
 * exits does; with `{ times: n }` the next n such statements get it. `stallOn(text)`
 * passes that statement and its answer, then holds everything the client sends after it:
 * to the server the client froze (a GC pause, a SIGSTOP, a hung host) with its
 * transaction open. `dropFrom(text)` drops that statement and everything after it, both
 * ways, and keeps the connection open: the network died without a word (a cable, a
 * firewall that drops instead of resetting). `silence()` makes
 * it accept new connections and never answer them, as a dead server behind a load
 * balancer does.
 */
export async function tcpProxy(target: string): Promise<{ url: string; resetOn(text: string, options?: { afterAnswer?: boolean; close?: boolean; times?: number }): Promise<void>; stallOn(text: string): Promise<void>; dropFrom(text: string): Promise<void>; silence(): void; close(): Promise<void> }> {
  const to = new URL(target);
  const sockets = new Set<Socket>();
  let armed: { text: Buffer; action: 'reset' | 'reset after answer' | 'stall after answer' | 'drop'; close: boolean; times: number; done: () => void } | undefined;
  let silent = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    if (silent) {
      client.on('error', () => {});
      return; // accepted, never answered
    }
    const upstream = connect(Number(to.port || 5432), to.hostname);
    sockets.add(client).add(upstream);
    let onAnswer: ((answer: Buffer) => void) | undefined;
    let stalled = false;
    let dropped = false;
    client.on('data', (chunk: Buffer) => {
      if (stalled || dropped) return; // held: the server never sees it
      if (armed && chunk.includes(armed.text)) {
        const { done: allDone, action, close } = armed;
        // The last of `times`: disarmed, and done once its cut has happened.
        const last = --armed.times === 0;
        if (last) armed = undefined;
        const done = last ? allDone : () => {};
        if (action === 'drop') {
          dropped = true;
          done();
          return;
        }
        const cut = () => {
          if (close) client.end();
          else client.resetAndDestroy();
          upstream.destroy();
          done();
        };
        if (action === 'reset') return cut();
        onAnswer =
          action === 'reset after answer'
            ? cut
            : (answer) => {
                client.write(answer);
                stalled = true;
                onAnswer = undefined;
                done();
              };
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => (dropped ? undefined : onAnswer ? onAnswer(chunk) : client.write(chunk)));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(target);
  url.host = `127.0.0.1:${address.port}`;
  return {
    url: url.toString(),
    silence: () => {
      silent = true;
    },
    resetOn: (text, options = {}) =>
      new Promise<void>((done) => (armed = { text: Buffer.from(text), action: options.afterAnswer === true ? 'reset after answer' : 'reset', close: options.close === true, times: options.times ?? 1, done })),
    dropFrom: (text) => new Promise<void>((done) => (armed = { text: Buffer.from(text), action: 'drop', close: false, times: 1, done })),
    stallOn: (text) => new Promise<void>((done) => (armed = { text: Buffer.from(text), action: 'stall after answer', close: false, times: 1, done })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
