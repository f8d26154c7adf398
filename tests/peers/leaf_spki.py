"""Asks an HTTP proxy for a CONNECT tunnel, does a TLS handshake through it without verifying,
and prints the leaf certificate presented: {"event":"leaf","spki":base64(SHA-256(SPKI)),
"subject":..., "issuer":...}.

  leaf_spki.py --proxy 127.0.0.1:PORT --host localhost --port N"""

import argparse
import base64
import hashlib
import json
import socket
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--proxy", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    phost, pport = a.proxy.rsplit(":", 1)
    sock = socket.create_connection((phost, int(pport)), timeout=10)
    sock.sendall(f"CONNECT {a.host}:{a.port} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("proxy closed the connection")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode()
    if " 200 " not in status + " ":
        raise SystemExit(f"CONNECT refused: {status}")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(sock, server_hostname=a.host)
    cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    pub = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    leaf = {
        "event": "leaf",
        "spki": base64.b64encode(hashlib.sha256(pub).digest()).decode(),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
    }
    tls.close()
    print(json.dumps(leaf), flush=True)


if __name__ == "__main__":
    main()
