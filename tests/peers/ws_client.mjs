// Node `ws` client for the capture-proxy tests.
//   node ws_client.mjs --url URL [--deflate] --script JSON   the scripted exchange (see ws_server.mjs)
//   node ws_client.mjs --url URL [--deflate] --send JSON     send message specs one after the other,
//                                                          wait for as many replies, close 1000
// Prints one line {"event":"result","role":"client",...} when the connection has closed.
import { WebSocket } from 'ws';
import { args, build, describe, outAndExit, sendBuilt } from './common.mjs';

const a = args(process.argv.slice(2));
const script = a.script ? JSON.parse(a.script) : null;
const sends = a.send ? JSON.parse(a.send) : [];
const replies = a.replies !== undefined ? Number(a.replies) : sends.length;

const received = [];
const pings = [];
const pongs = [];
const sent = [];
let error = null;
let opened = false;
let pongWaiter = null;

const ws = new WebSocket(a.url, {
  perMessageDeflate: a.deflate ? { threshold: 0 } : false,
  maxPayload: 256 << 20,
  handshakeTimeout: 10000,
});

setTimeout(() => {
  outAndExit({ event: 'result', role: 'client', lib: 'node', error: 'timeout', opened, received, pings, pongs }, 1);
}, Number(a.timeout ?? 30) * 1000).unref();

ws.on('unexpected-response', (req, res) => {
  error = `unexpected response: HTTP ${res.statusCode}`;
  outAndExit({ event: 'result', role: 'client', lib: 'node', error, status: res.statusCode, opened, received }, 0);
});
ws.on('error', (e) => {
  error = String(e && e.message ? e.message : e);
});
ws.on('ping', (d) => pings.push(d.toString('base64')));
ws.on('pong', (d) => {
  pongs.push(d.toString('base64'));
  if (pongWaiter) {
    const w = pongWaiter;
    pongWaiter = null;
    w();
  }
});
ws.on('message', (data, isBinary) => {
  received.push(describe(data, isBinary));
  if (script) {
    if (!isBinary && data.toString('utf8') === script.server_done && script.close_by === 'client') {
      ws.close(script.close_code, script.close_reason);
    }
  } else if (received.length === replies) {
    ws.close(1000, 'done');
  }
});
ws.on('close', (code, reason) => {
  outAndExit(
    {
      event: 'result',
      role: 'client',
      lib: 'node',
      opened,
      received,
      pings,
      pongs,
      sent,
      extensions: ws.extensions || null,
      close: { code, reason: reason.toString('utf8') },
      error,
    },
    0,
  );
});
ws.on('open', async () => {
  opened = true;
  try {
    if (script) {
      for (const spec of script.client) await sendBuilt(ws, build(spec));
      const pong = new Promise((resolve) => (pongWaiter = resolve));
      ws.ping(Buffer.from(script.client_ping, 'utf8'));
      await pong;
      await sendBuilt(ws, build({ type: 'text', data: script.client_done }));
    } else {
      for (const spec of sends) {
        const built = build(spec);
        sent.push(describe(Buffer.concat(built.parts), built.binary));
        await sendBuilt(ws, built);
      }
      if (replies === 0) ws.close(1000, 'done');
    }
  } catch (e) {
    error = String(e);
    ws.terminate();
  }
});
