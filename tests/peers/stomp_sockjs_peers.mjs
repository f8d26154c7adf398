// STOMP over SockJS with real SockJS peers: the `sockjs` server (sockjs-node) and the
// `sockjs-client` + `@stomp/stompjs` client, WebSocket transport (after SockJS's /info request).
//
//   node stomp_sockjs_peers.mjs server            prints "listening PORT"; SockJS prefix /stomp
//   node stomp_sockjs_peers.mjs client BASE_URL   connects to BASE_URL/stomp, subscribes to
//                                                 /topic/greetings, sends to /app/hello, prints
//                                                 "message <body>" for the reply, exits 0
//
// The server speaks just enough STOMP 1.2 for that: CONNECT/STOMP -> CONNECTED, SUBSCRIBE ->
// remembered, SEND -> a MESSAGE (JSON body, content-length) to the subscription, DISCONNECT
// with a receipt -> RECEIPT.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [, , role, base] = process.argv;

function frame(command, headers, body = '') {
  const head = Object.entries(headers).map(([k, v]) => `${k}:${v}`).join('\n');
  return `${command}\n${head}${head ? '\n' : ''}\n${body}\u0000`;
}

function parseFrames(text) {
  const out = [];
  for (const raw of text.split('\u0000')) {
    const f = raw.replace(/^[\r\n]+/, '');
    if (!f) continue;
    const [head, ...rest] = f.split('\n\n');
    const [command, ...lines] = head.split('\n');
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
    out.push({ command, headers, body: rest.join('\n\n') });
  }
  return out;
}

if (role === 'server') {
  const sockjs = require('sockjs');
  const service = sockjs.createServer({ prefix: '/stomp', log: () => {} });
  service.on('connection', (conn) => {
    const subs = new Map();
    let n = 0;
    conn.on('data', (data) => {
      for (const f of parseFrames(data)) {
        if (f.command === 'CONNECT' || f.command === 'STOMP') {
          conn.write(frame('CONNECTED', { version: '1.2', 'heart-beat': '0,0', server: 'sockscope-test/1' }));
        } else if (f.command === 'SUBSCRIBE') {
          subs.set(f.headers.destination, f.headers.id);
        } else if (f.command === 'SEND') {
          const body = JSON.stringify({ greeting: `Hello, ${JSON.parse(f.body).name}!` });
          const sub = subs.get('/topic/greetings');
          if (sub !== undefined) {
            conn.write(
              frame(
                'MESSAGE',
                {
                  destination: '/topic/greetings',
                  'content-type': 'application/json',
                  subscription: sub,
                  'message-id': `m-${++n}`,
                  'content-length': Buffer.byteLength(body),
                },
                body,
              ),
            );
          }
        } else if (f.command === 'DISCONNECT') {
          if (f.headers.receipt) conn.write(frame('RECEIPT', { 'receipt-id': f.headers.receipt }));
        }
      }
    });
  });
  const http = createServer();
  service.installHandlers(http);
  http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
  const stop = () => {
    http.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else if (role === 'client' && base) {
  const SockJS = require('sockjs-client');
  const { Client } = await import('@stomp/stompjs');
  const timer = setTimeout(() => {
    console.error('timed out');
    process.exit(1);
  }, 10_000);
  const client = new Client({
    webSocketFactory: () => new SockJS(`${base.replace(/\/$/, '')}/stomp`, null, { transports: ['websocket'] }),
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    reconnectDelay: 0,
    onStompError: (f) => {
      console.error(`stomp error ${f.headers.message}`);
      process.exit(1);
    },
    onWebSocketError: (e) => {
      console.error(`websocket error ${e?.message ?? e}`);
      process.exit(1);
    },
  });
  client.onConnect = () => {
    client.subscribe('/topic/greetings', (m) => {
      console.log(`message ${m.body}`);
      clearTimeout(timer);
      setTimeout(async () => {
        await client.deactivate();
        setTimeout(() => process.exit(0), 200);
      }, 200);
    });
    client.publish({ destination: '/app/hello', body: JSON.stringify({ name: 'Sockscope' }), headers: { 'content-type': 'application/json' } });
  };
  client.activate();
} else {
  console.error('usage: stomp_sockjs_peers.mjs server | client BASE_URL');
  process.exit(2);
}
