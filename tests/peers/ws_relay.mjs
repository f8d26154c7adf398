// A plain WebSocket relay on Node `ws` (the benchmark's "node relay" column): every client
// connection to 127.0.0.1:PORT is relayed message by message to UPSTREAM + the client's path,
// text as text and binary as binary, records nothing. Prints {"event":"listening","port":N}.
//   node ws_relay.mjs --upstream ws://127.0.0.1:9000 [--port 0]
import { WebSocketServer, WebSocket } from 'ws';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const upstream = arg('upstream');
if (!upstream) {
  console.error('usage: node ws_relay.mjs --upstream ws://HOST:PORT [--port N]');
  process.exit(2);
}
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(arg('port', '0')),
  perMessageDeflate: false,
  maxPayload: 64 << 20,
});

wss.on('connection', (client, req) => {
  const up = new WebSocket(upstream.replace(/\/$/, '') + req.url, {
    perMessageDeflate: false,
    maxPayload: 64 << 20,
  });
  const early = [];
  up.on('open', () => {
    for (const [data, isBinary] of early) up.send(data, { binary: isBinary });
    early.length = 0;
  });
  client.on('message', (data, isBinary) => {
    if (up.readyState === WebSocket.OPEN) up.send(data, { binary: isBinary });
    else early.push([data, isBinary]);
  });
  up.on('message', (data, isBinary) => client.send(data, { binary: isBinary }));
  const closeBoth = (code, reason) => {
    const c = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000;
    if (client.readyState === WebSocket.OPEN) client.close(c, reason);
    if (up.readyState === WebSocket.OPEN) up.close(c, reason);
  };
  client.on('close', closeBoth);
  up.on('close', closeBoth);
  client.on('error', () => up.terminate());
  up.on('error', () => client.terminate());
});

wss.on('listening', () => {
  console.log(JSON.stringify({ event: 'listening', port: wss.address().port }));
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
