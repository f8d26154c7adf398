"""A small HTTPS server on 127.0.0.1 (port chosen by the system) for the Chromium test.

  https_server.py --cert PEM --key PEM --ws-port P
GET / serves a page whose script opens wss://localhost:P/echo (the Python websockets server of
py_server.py with the same certificate), sends a text and a binary message, checks the echoes,
closes with 4001 and writes the outcome into <pre id="result"> and the title. Other paths: 404.
Prints {"event":"listening","port":N}; each request is reported as {"event":"request",...}."""

import argparse
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pending</title></head>
<body><pre id="result">pending</pre>
<script>
(function () {
  const log = [];
  const done = (outcome) => {
    const text = outcome + ' ' + log.join(' ');
    document.getElementById('result').textContent = text;
    document.title = outcome;
  };
  let ws;
  try {
    ws = new WebSocket('wss://localhost:WS_PORT/echo');
  } catch (e) {
    return done('FAIL constructor ' + e);
  }
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    log.push('open');
    ws.send('hello from chromium');
    ws.send(new Uint8Array([1, 2, 3, 250, 251]).buffer);
    ws.send('second text from chromium');
  };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') log.push('text=' + e.data.replace(/ /g, '_'));
    else log.push('binary=' + Array.from(new Uint8Array(e.data)).join(','));
    if (log.length === 4) ws.close(4001, 'chromium done');
  };
  ws.onerror = () => log.push('error');
  ws.onclose = (e) => {
    log.push('close=' + e.code + '/' + e.reason.replace(/ /g, '_'));
    done(log.length === 5 && e.code === 4001 ? 'WS-OK' : 'WS-FAIL');
  };
})();
</script></body></html>
"""


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ws-port", type=int, required=True)
    a = p.parse_args()
    page = PAGE.replace("WS_PORT", str(a.ws_port)).encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            out({"event": "request", "path": self.path, "host": self.headers.get("Host")})
            if self.path == "/":
                body, status, ctype = page, 200, "text/html; charset=utf-8"
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    out({"event": "listening", "port": httpd.server_address[1]})
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    t.join()


if __name__ == "__main__":
    main()
