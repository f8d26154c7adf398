// Real Socket.IO peers for the decoder tests: socket.io 4 (Engine.IO v4) or socket.io 2
// (Engine.IO v3), WebSocket transport only, so a capture proxy in between records every packet.
//
//   node socketio_peers.mjs server v4|v2        prints "listening PORT", serves until killed
//   node socketio_peers.mjs client v4|v2 URL    emits a binary event, waits for the binary ack,
//                                               prints "ack <hex>", exits 0 (1 after 10 s)
//
// The client emits `upload` with {name: "a.bin", data: <de ad be ef 3c 62 3e>} and an ack
// callback: a BINARY_EVENT with one attachment. The server answers the ack with the bytes
// 01 02 03 (a BINARY_ACK with one attachment) and, on each connection, emits `hello` (text).
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [, , role, version, url] = process.argv;
if (!['server', 'client'].includes(role) || !['v4', 'v2'].includes(version)) {
  console.error('usage: socketio_peers.mjs server|client v4|v2 [URL]');
  process.exit(2);
}
const suffix = version === 'v2' ? '-v2' : '';
export const UPLOAD = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x3c, 0x62, 0x3e]);
export const REPLY = Buffer.from([0x01, 0x02, 0x03]);

if (role === 'server') {
  const http = createServer();
  const { Server } = require(`socket.io${suffix}`);
  const io = version === 'v2' ? require(`socket.io${suffix}`)(http, { transports: ['websocket'] }) : new Server(http, { transports: ['websocket'] });
  void Server;
  io.on('connection', (socket) => {
    socket.emit('hello', { server: version });
    socket.on('upload', (msg, ack) => {
      const ok = msg && msg.name === 'a.bin' && Buffer.isBuffer(msg.data) && msg.data.equals(UPLOAD);
      if (typeof ack === 'function') ack(ok ? REPLY : Buffer.alloc(0));
    });
  });
  http.listen(0, '127.0.0.1', () => {
    console.log(`listening ${http.address().port}`);
  });
  const stop = () => {
    io.close();
    http.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const client = require(`socket.io-client${suffix}`);
  const connectFn = client.io ?? client;
  const socket = connectFn(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  const timer = setTimeout(() => {
    console.error('timed out');
    process.exit(1);
  }, 10_000);
  socket.on('connect_error', (e) => {
    console.error(`connect_error ${e?.message ?? e}`);
    process.exit(1);
  });
  socket.on('hello', () => {
    socket.emit('upload', { name: 'a.bin', data: UPLOAD }, (reply) => {
      const b = Buffer.from(reply);
      console.log(`ack ${b.toString('hex')}`);
      clearTimeout(timer);
      // Let the ack's frames be recorded before the close.
      setTimeout(() => {
        socket.close();
        setTimeout(() => process.exit(0), 200);
      }, 200);
    });
  });
}
