// Node `ws` server for the capture-proxy tests, on 127.0.0.1, port chosen by the system.
//   node ws_server.mjs [--deflate] [--script JSON]
// Prints {"event":"listening","port":N}, then one {"event":"result","role":"server",...} line per
// connection when it has closed. What a connection does depends on its path:
//   /script  the scripted exchange: wait for the client's `client_done` text, send the `server`
//            message specs, ping with `server_ping` and wait for the pong, then close with
//            `close_code`/`close_reason` (close_by "server") or send `server_done`
//   /echo    echo every message with its type
//   /sink    answer every message with a text {"len":N,"sha256":HEX}
import { WebSocketServer } from 'ws';
import { args, build, describe, out, sendBuilt } from './common.mjs';

const a = args(process.argv.slice(2));
const script = a.script ? JSON.parse(a.script) : null;

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  perMessageDeflate: a.deflate ? { threshold: 0 } : false,
  maxPayload: 256 << 20,
});
wss.on('listening', () => out({ event: 'listening', port: wss.address().port }));

wss.on('connection', (ws, req) => {
  const path = req.url.split('?')[0];
  const received = [];
  const pings = [];
  const pongs = [];
  let error = null;
  let pongWaiter = null;
  const extensions = req.headers['sec-websocket-extensions'] ?? null;

  ws.on('error', (e) => (error = String(e && e.message ? e.message : e)));
  ws.on('ping', (d) => pings.push(d.toString('base64')));
  ws.on('pong', (d) => {
    pongs.push(d.toString('base64'));
    if (pongWaiter) {
      const w = pongWaiter;
      pongWaiter = null;
      w();
    }
  });
  ws.on('message', async (data, isBinary) => {
    const d = describe(data, isBinary);
    received.push(d);
    try {
      if (path === '/echo') {
        ws.send(data, { binary: isBinary });
      } else if (path === '/sink') {
        ws.send(JSON.stringify({ len: d.len, sha256: d.sha256 }));
      } else if (path === '/script' && script && !isBinary && data.toString('utf8') === script.client_done) {
        for (const spec of script.server) await sendBuilt(ws, build(spec));
        const pong = new Promise((resolve) => (pongWaiter = resolve));
        ws.ping(Buffer.from(script.server_ping, 'utf8'));
        await pong;
        if (script.close_by === 'server') ws.close(script.close_code, script.close_reason);
        else await sendBuilt(ws, build({ type: 'text', data: script.server_done }));
      }
    } catch (e) {
      error = String(e);
    }
  });
  ws.on('close', (code, reason) => {
    out({
      event: 'result',
      role: 'server',
      lib: 'node',
      path,
      extensions,
      negotiated: ws.extensions || '',
      received,
      pings,
      pongs,
      close: { code, reason: reason.toString('utf8') },
      error,
    });
  });
});
