// Node `ws` server over TLS for the workbench tests (tests/tests/workbench_peers.rs).
//   node wb_tls_server.mjs --cert PEM --key PEM [--client-ca PEM]
// With --client-ca the server requires a client certificate signed by that CA.
// Prints {"event":"listening","port":N}, then {"event":"client","cn":...} for each WebSocket
// client (the client certificate's common name, or null), and echoes every message.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { args, out } from './common.mjs';

const a = args(process.argv.slice(2));
const options = { cert: readFileSync(a.cert), key: readFileSync(a.key) };
if (a['client-ca']) {
  options.ca = readFileSync(a['client-ca']);
  options.requestCert = true;
  options.rejectUnauthorized = true;
}
const server = createServer(options);
server.on('tlsClientError', (e) => out({ event: 'tls_error', error: String(e.message || e) }));
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const peer = req.socket.getPeerCertificate ? req.socket.getPeerCertificate() : null;
  out({ event: 'client', cn: peer && peer.subject ? peer.subject.CN : null, authorized: req.socket.authorized });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => out({ event: 'listening', port: server.address().port }));
