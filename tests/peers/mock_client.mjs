// Node `ws` client for the mock tests (tests/tests/replay_mock.rs).
//   node mock_client.mjs --url URL --expect N [--steps JSON]
// --steps: a list run in order once open: {"send": "text"} sends a text message,
// {"wait": n} waits until n messages have been received in all.
// Then waits for N messages in all, closes with 1000 and prints one line
// {"event":"result","received":[{t, type, text|b64}],"sent":[{t, text}],"close":{code,reason},...}
// (t: ms since the 'open' event, on the client's clock).
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { args, outAndExit } from './common.mjs';

const a = args(process.argv.slice(2));
const steps = a.steps ? JSON.parse(a.steps) : [];
const expect = Number(a.expect ?? 0);

const received = [];
const sent = [];
let opened = null;
let error = null;
let waiter = null;

const ws = new WebSocket(a.url, { perMessageDeflate: false, handshakeTimeout: 10000 });
const since = () => performance.now() - opened;

setTimeout(() => {
  outAndExit({ event: 'result', error: 'timeout', opened: opened !== null, received, sent }, 1);
}, Number(a.timeout ?? 30) * 1000).unref();

function until(n) {
  return new Promise((resolve) => {
    const check = () => (received.length >= n ? resolve() : (waiter = check));
    check();
  });
}

ws.on('error', (e) => {
  error = String(e && e.message ? e.message : e);
});
ws.on('message', (data, isBinary) => {
  const d = { t: since(), type: isBinary ? 'binary' : 'text' };
  if (isBinary) d.b64 = Buffer.from(data).toString('base64');
  else d.text = data.toString('utf8');
  received.push(d);
  if (waiter) {
    const w = waiter;
    waiter = null;
    w();
  }
});
ws.on('close', (code, reason) => {
  outAndExit({ event: 'result', opened: opened !== null, received, sent, close: { code, reason: reason.toString('utf8') }, error }, 0);
});
ws.on('open', async () => {
  opened = performance.now();
  for (const step of steps) {
    if (step.send !== undefined) {
      sent.push({ t: since(), text: step.send });
      ws.send(step.send);
    } else if (step.wait !== undefined) {
      await until(step.wait);
    }
  }
  await until(expect);
  ws.close(1000, 'done');
});
