"""A scripted WebSocket server on plain sockets (no library), for the capture-proxy tests.

It completes the opening handshake itself, then misbehaves on purpose, depending on the path:
  /bad-utf8  a text frame whose payload is not UTF-8; once the client's close frame has come,
             a text frame with RSV2 set, then the close answer
  /rsv2      a text frame with RSV2 set and the invalid UTF-8 one, in one write
  /normal    a valid text frame "raw hello"
Then it reads the client's frames until a close frame (answered with the same close payload)
or EOF, and prints one {"event":"result",...} line per connection; the frames it received are
reported with opcode, fin, rsv bits, mask flag and unmasked payload (base64).
Prints {"event":"listening","port":N} first; runs until killed."""

import base64
import hashlib
import json
import socket
import struct
import sys
import threading

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BAD_UTF8 = b"bad \xc3\x28 utf-8 \xff"
RSV2_TEXT = b"frame with RSV2 set"
LOCK = threading.Lock()


def out(obj):
    with LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def frame(opcode, payload, rsv2=False, fin=True):
    """An unmasked server frame (payloads under 126 bytes are all this server sends)."""
    assert len(payload) < 126
    b0 = (0x80 if fin else 0) | (0x20 if rsv2 else 0) | opcode
    return bytes([b0, len(payload)]) + payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("peer closed the connection")
        data += chunk
    return data


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", recv_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", recv_exact(sock, 8))
    mask = recv_exact(sock, 4) if b1 & 0x80 else None
    payload = recv_exact(sock, length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return {
        "opcode": b0 & 0x0F,
        "fin": bool(b0 & 0x80),
        "rsv1": bool(b0 & 0x40),
        "rsv2": bool(b0 & 0x20),
        "rsv3": bool(b0 & 0x10),
        "masked": mask is not None,
        "b64": base64.b64encode(payload).decode("ascii"),
        "payload": payload,
    }


def handshake(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("no request")
        head += chunk
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    key = headers["sec-websocket-key"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    sock.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    return path


def serve(sock):
    result = {"event": "result", "role": "server", "lib": "raw", "received": [], "error": None}
    try:
        sock.settimeout(15)
        path = handshake(sock)
        result["path"] = path
        bad = frame(0x1, BAD_UTF8)
        rsv2 = frame(0x1, RSV2_TEXT, rsv2=True)
        # What to send once the client's close frame has arrived, before answering it.
        after_close = b""
        if path == "/bad-utf8":
            # The client sees only the invalid text; the RSV2 frame follows its close frame
            # (a frame after a close is one more violation, still on the wire for the proxy).
            sock.sendall(bad)
            after_close = rsv2
        elif path == "/rsv2":
            sock.sendall(rsv2 + bad)  # one write: both frames are on the wire
        else:
            sock.sendall(frame(0x1, b"raw hello"))
        while True:
            f = read_frame(sock)
            payload = f.pop("payload")
            if f["opcode"] == 0x8 and len(payload) >= 2:
                f["close_code"] = struct.unpack("!H", payload[:2])[0]
                f["close_reason"] = payload[2:].decode("utf-8", "replace")
            result["received"].append(f)
            if f["opcode"] == 0x8:
                sock.sendall(after_close + frame(0x8, payload))
                break
    except Exception as e:  # reported to the test, which decides
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    out(result)


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    out({"event": "listening", "port": listener.getsockname()[1]})
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
