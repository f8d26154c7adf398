//! The little of RFC 6455 the load generator and the echo server need: frame headers, masking,
//! the upgrade handshake, and the deterministic payloads the load generator checks.

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest frame either tool accepts (their buffers stay bounded).
pub const MAX_FRAME: u64 = 16 << 20;
/// Largest HTTP head read during the upgrade.
const MAX_HEAD: usize = 16 << 10;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Bytes of the header (2–14).
    pub header_len: usize,
    pub payload_len: u64,
}

impl Head {
    /// Header plus payload.
    pub fn total(&self) -> u64 {
        self.header_len as u64 + self.payload_len
    }
}

/// Parses the header at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let fin = buf[0] & 0x80 != 0;
    let opcode = buf[0] & 0x0F;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7F {
        126 => {
            if buf.len() < 4 {
                return Ok(None);
            }
            (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
        }
        127 => {
            if buf.len() < 10 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME {
        return Err(format!(
            "frame of {len} bytes is over the {MAX_FRAME} limit"
        ));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    Ok(Some(Head {
        fin,
        opcode,
        mask,
        header_len: at,
        payload_len: len,
    }))
}

/// XORs `buf` with the masking key (RFC 6455 §5.3), eight bytes at a time: the same function
/// the capture relay unmasks with, for a whole payload.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    sockscope_proto::parser::apply_mask(buf, mask, 0);
}

/// Appends a frame header for a final frame of `len` bytes.
pub fn write_head(out: &mut Vec<u8>, opcode: u8, len: usize, mask: Option<[u8; 4]>) {
    out.push(0x80 | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if let Some(m) = mask {
        out.extend_from_slice(&m);
    }
}

/// Appends a whole final frame, masked when a key is given.
pub fn write_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    write_head(out, opcode, payload.len(), mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(m) = mask {
        apply_mask(&mut out[start..], m);
    }
}

/// A small, fast, deterministic generator (xorshift64*), for masks and patterns.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn mask(&mut self) -> [u8; 4] {
        let v = self.next_u64().to_le_bytes();
        [v[0], v[1], v[2], v[3]]
    }
}

// ---- payloads ---------------------------------------------------------------------------

/// Every payload starts with this many ASCII bytes: the message index and the send time (hex).
pub const STAMP_LEN: usize = 32;
/// Smallest message the load generator sends.
pub const MIN_SIZE: usize = STAMP_LEN;
/// The body of message `i` starts at `offset(i) < OFFSETS` in the pattern.
const OFFSETS: u64 = 4093;

/// Text that looks like real traffic (words, spaces, digits, a little JSON punctuation; valid
/// UTF-8), long enough for the largest message at any offset. The body of message `i` is a
/// slice of it, so a check is one `memcmp`.
#[derive(Debug, Clone)]
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    pub fn new(max_size: usize) -> Pattern {
        let len = max_size + OFFSETS as usize + 64;
        let mut rng = Rng::new(0x5EED_50C5_C09E);
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let r = rng.next_u64();
            let word_len = 2 + (r % 8) as usize;
            for k in 0..word_len {
                let c = ((r >> (8 + 5 * k)) % 26) as u8;
                bytes.push(b'a' + c);
            }
            bytes.push(match (r >> 60) % 8 {
                0 => b',',
                1 => b':',
                2 => b'0' + ((r >> 50) % 10) as u8,
                _ => b' ',
            });
        }
        bytes.truncate(len);
        Pattern { bytes }
    }

    fn body(&self, index: u64, len: usize) -> &[u8] {
        let off = (index.wrapping_mul(2_654_435_761) % OFFSETS) as usize;
        &self.bytes[off..off + len]
    }

    /// Appends the payload of message `index` (`size` bytes, `size >= MIN_SIZE`).
    pub fn fill(&self, out: &mut Vec<u8>, index: u64, send_ns: u64, size: usize) {
        push_hex(out, index);
        push_hex(out, send_ns);
        out.extend_from_slice(self.body(index, size.saturating_sub(STAMP_LEN)));
    }

    /// Checks a payload is message `expected` of `size` bytes; returns its send time.
    pub fn check(&self, payload: &[u8], expected: u64, size: usize) -> Result<u64, String> {
        if payload.len() != size {
            return Err(format!(
                "message {expected}: {} bytes, expected {size}",
                payload.len()
            ));
        }
        let index = parse_hex(&payload[..16])
            .ok_or_else(|| format!("message {expected}: unreadable index"))?;
        if index != expected {
            return Err(format!("expected message {expected}, got message {index}"));
        }
        let sent = parse_hex(&payload[16..32])
            .ok_or_else(|| format!("message {expected}: unreadable send time"))?;
        if payload[STAMP_LEN..] != *self.body(index, size - STAMP_LEN) {
            return Err(format!("message {expected}: payload bytes differ"));
        }
        Ok(sent)
    }
}

fn push_hex(out: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(HEX[((v >> (shift * 4)) & 0xF) as usize]);
    }
}

fn parse_hex(b: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &c in b {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

// ---- the upgrade ------------------------------------------------------------------------

/// Reads an HTTP head (up to the blank line); returns it and any bytes read past it.
async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during the handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("handshake head too long"));
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Client side of the upgrade to `ws://host/path`; returns bytes read past the response.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
    path: &str,
    seed: u64,
) -> std::io::Result<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    raw[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let (head, rest) = read_head(s).await?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(std::io::Error::other(format!(
            "upgrade refused: {status:?}"
        )));
    }
    let want = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    if header(&head, "sec-websocket-accept") != Some(want.as_str()) {
        return Err(std::io::Error::other("wrong Sec-WebSocket-Accept"));
    }
    Ok(rest)
}

/// Server side of the upgrade; returns bytes read past the request.
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> std::io::Result<Vec<u8>> {
    let (head, rest) = read_head(s).await?;
    let Some(key) = header(&head, "sec-websocket-key") else {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await?;
        return Err(std::io::Error::other("not a WebSocket upgrade"));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    s.write_all(resp.as_bytes()).await?;
    Ok(rest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_every_length_form() {
        for len in [0usize, 5, 125, 126, 1000, 65535, 65536, 100_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut out = Vec::new();
            write_frame(&mut out, OP_BINARY, &payload, Some([1, 2, 3, 4]));
            let h = parse_head(&out).unwrap().unwrap();
            assert_eq!(h.payload_len, len as u64);
            assert_eq!(h.opcode, OP_BINARY);
            assert!(h.fin);
            assert_eq!(h.total(), out.len() as u64);
            let mut body = out[h.header_len..].to_vec();
            apply_mask(&mut body, h.mask.unwrap());
            assert_eq!(body, payload);
            // Any strict prefix of the header asks for more bytes.
            for cut in 0..h.header_len {
                assert_eq!(parse_head(&out[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn oversized_frames_are_refused() {
        let mut out = Vec::new();
        write_head(&mut out, OP_BINARY, (MAX_FRAME + 1) as usize, None);
        assert!(parse_head(&out).is_err());
    }

    #[test]
    fn mask_matches_the_bytewise_definition() {
        let mut a: Vec<u8> = (0..77u8).collect();
        let b = a.clone();
        let m = [0xde, 0xad, 0xbe, 0xef];
        apply_mask(&mut a, m);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(*x, y ^ m[i % 4]);
        }
    }

    #[test]
    fn payloads_check_and_tampering_is_caught() {
        let p = Pattern::new(4096);
        let mut out = Vec::new();
        p.fill(&mut out, 42, 123_456, 1024);
        assert_eq!(out.len(), 1024);
        assert!(std::str::from_utf8(&out).is_ok());
        assert_eq!(p.check(&out, 42, 1024), Ok(123_456));
        assert!(p
            .check(&out, 43, 1024)
            .unwrap_err()
            .contains("expected message 43"));
        assert!(p.check(&out[..1000], 42, 1024).is_err());
        let mut bad = out.clone();
        bad[500] ^= 1;
        assert!(p.check(&bad, 42, 1024).unwrap_err().contains("differ"));
        // Neighbouring messages differ in their bodies, not only their stamps.
        let mut next = Vec::new();
        p.fill(&mut next, 43, 123_456, 1024);
        assert_ne!(out[STAMP_LEN..], next[STAMP_LEN..]);
    }
}
