//! A sans-IO WebSocket frame parser (RFC 6455 §5.2) for observing a byte stream.
//!
//! The capture relay forwards bytes unchanged and feeds a copy here. The parser never fails on
//! what a peer sends: every header is parsed and reported as it is, with its oddities left for
//! the [`crate::observer`] to flag. Payloads are unmasked and kept up to a cap; the rest of a
//! larger frame is counted and skipped, never buffered.

use crate::Opcode;
use bytes::{Bytes, BytesMut};

/// The fixed part of a frame, as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: Opcode,
    pub masked: bool,
    pub mask: [u8; 4],
    /// Declared payload length.
    pub len: u64,
    /// Bytes of header on the wire (2 to 14).
    pub header_len: usize,
}

/// One complete frame seen in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFrame {
    pub header: FrameHeader,
    /// Unmasked payload, at most the parser's cap.
    pub payload: Bytes,
    /// The payload was longer than the cap; only its start is in `payload`.
    pub truncated: bool,
    /// Offset just past this frame's last byte in the chunk that completed it.
    pub end: usize,
}

/// The bytes of a header seen so far (at most 14), kept inline: no allocation per frame.
#[derive(Default)]
struct HeaderBytes {
    bytes: [u8; 14],
    len: usize,
}

impl HeaderBytes {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

enum State {
    Header(HeaderBytes),
    Payload {
        header: FrameHeader,
        remaining: u64,
        seen: u64,
        buf: BytesMut,
    },
}

/// Parses frames out of the bytes of one direction of a connection.
pub struct FrameParser {
    state: State,
    cap: usize,
    /// What is left of the block small payloads are cut from (see [`SMALL_PAYLOAD`]).
    block: BytesMut,
}

/// A payload of at most this many kept bytes is cut from a shared block of [`BLOCK`] bytes
/// instead of having an allocation of its own. A capture relay's frames are freed on the
/// store's drop thread, so every per-frame allocation was a `malloc` on the relay and a
/// cross-thread `free` there: on `pipelined` (1 KiB frames) about 7 % of the machine's CPU
/// (issue 7, fourteenth pass in docs/benchmarks.md). A block is freed when the last payload cut
/// from it is; a payload kept long keeps at most its block alive.
pub const SMALL_PAYLOAD: usize = 4 << 10;
/// Bytes of one block small payloads are cut from.
const BLOCK: usize = 16 << 10;

/// How many payload bytes a parser keeps per frame by default (16 MiB).
pub const DEFAULT_PAYLOAD_CAP: usize = 16 << 20;

impl FrameParser {
    pub fn new(cap: usize) -> FrameParser {
        FrameParser {
            state: State::Header(HeaderBytes::default()),
            cap,
            block: BytesMut::new(),
        }
    }

    /// An empty buffer with room for `cap` payload bytes: cut from the block when `cap` is
    /// small (a new block when what is left is too short), else one of its own that grows as
    /// bytes arrive (a declared length is peer input: it reserves at most 64 KiB up front).
    fn payload_buffer(&mut self, cap: usize) -> BytesMut {
        if cap == 0 {
            return BytesMut::new();
        }
        if cap > SMALL_PAYLOAD {
            return BytesMut::with_capacity(cap.min(64 << 10));
        }
        if self.block.capacity() < cap {
            self.block = BytesMut::with_capacity(BLOCK);
        }
        // The block holds no bytes itself (len 0): its first `cap` bytes of room become the
        // payload's, the rest stays the block.
        let rest = self.block.split_off(cap);
        std::mem::replace(&mut self.block, rest)
    }

    /// True when the stream is between frames.
    pub fn at_frame_boundary(&self) -> bool {
        matches!(&self.state, State::Header(b) if b.len == 0)
    }

    /// The stream ended: the frame in progress, if its header was complete, as far as it got
    /// (`truncated`, `end` 0), with how many payload bytes were seen. The parser is reset.
    pub fn finish(&mut self) -> Option<(ParsedFrame, u64)> {
        let state = std::mem::replace(&mut self.state, State::Header(HeaderBytes::default()));
        match state {
            State::Payload {
                header, seen, buf, ..
            } => Some((
                ParsedFrame {
                    header,
                    payload: buf.freeze(),
                    truncated: true,
                    end: 0,
                },
                seen,
            )),
            State::Header(_) => None,
        }
    }

    /// Feeds the next chunk of the stream; completed frames are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<ParsedFrame>) {
        let mut pos = 0;
        while pos < chunk.len() {
            match &mut self.state {
                State::Header(h) => {
                    let need = header_need(h.as_slice());
                    let take = (need - h.len).min(chunk.len() - pos);
                    h.bytes[h.len..h.len + take].copy_from_slice(&chunk[pos..pos + take]);
                    h.len += take;
                    pos += take;
                    if h.len == header_need(h.as_slice()) {
                        let header = decode_header(h.as_slice());
                        let cap = usize::try_from(header.len)
                            .unwrap_or(usize::MAX)
                            .min(self.cap);
                        let buf = self.payload_buffer(cap);
                        self.state = State::Payload {
                            header,
                            remaining: header.len,
                            seen: 0,
                            buf,
                        };
                    }
                }
                State::Payload {
                    header,
                    remaining,
                    seen,
                    buf,
                } => {
                    let avail = (chunk.len() - pos) as u64;
                    let take = (*remaining).min(avail) as usize;
                    let slice = &chunk[pos..pos + take];
                    let room = self.cap.saturating_sub(buf.len()).min(take);
                    if room > 0 {
                        let start = buf.len();
                        buf.extend_from_slice(&slice[..room]);
                        if header.masked {
                            // `seen` counts from the payload's start: the key turns with it.
                            apply_mask(&mut buf[start..], header.mask, (*seen % 4) as usize);
                        }
                    }
                    *seen += take as u64;
                    *remaining -= take as u64;
                    pos += take;
                }
            }
            // A frame with an empty (or now complete) payload ends here.
            if let State::Payload { remaining: 0, .. } = &self.state {
                let done =
                    std::mem::replace(&mut self.state, State::Header(HeaderBytes::default()));
                if let State::Payload { header, buf, .. } = done {
                    out.push(ParsedFrame {
                        truncated: (buf.len() as u64) < header.len,
                        payload: buf.freeze(),
                        header,
                        end: pos,
                    });
                }
            }
        }
    }
}

/// How many header bytes are needed, given what has arrived so far.
fn header_need(buf: &[u8]) -> usize {
    if buf.len() < 2 {
        return 2;
    }
    let masked = buf[1] & 0x80 != 0;
    let ext = match buf[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if masked { 4 } else { 0 }
}

fn decode_header(buf: &[u8]) -> FrameHeader {
    let b0 = buf[0];
    let b1 = buf[1];
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7F {
        126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(n), 10)
        }
        n => (u64::from(n), 2),
    };
    let mut mask = [0u8; 4];
    if masked {
        mask.copy_from_slice(&buf[at..at + 4]);
        at += 4;
    }
    FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: Opcode::from_u8(b0 & 0x0F),
        masked,
        mask,
        len,
        header_len: at,
    }
}

/// XORs `buf` with the masking key (RFC 6455 §5.3), eight bytes at a time. `offset` is the
/// position of `buf[0]` within the payload (only its remainder modulo 4 matters), so a payload
/// that arrives in pieces is unmasked piece by piece. Masking and unmasking are the same.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let o = offset % 4;
    let k = [
        mask[o],
        mask[(o + 1) % 4],
        mask[(o + 2) % 4],
        mask[(o + 3) % 4],
    ];
    let key = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ key).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i % 4];
    }
}

/// Encodes one frame (used for injection and by tests). `mask` masks the payload when given.
pub fn encode_frame(
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push((u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.to_u8());
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n <= 0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            let at = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[at..], k, 0);
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_in_words_matches_the_rfc_byte_by_byte_at_any_offset() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let data: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for offset in 0..8 {
            for len in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 63, 64, 65, 300] {
                let mut fast = data[..len].to_vec();
                apply_mask(&mut fast, mask, offset);
                let slow: Vec<u8> = data[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[(offset + i) % 4])
                    .collect();
                assert_eq!(fast, slow, "offset {offset}, len {len}");
            }
        }
    }

    #[test]
    fn a_masked_payload_split_anywhere_unmasks_whole() {
        let payload: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let wire = encode_frame(true, false, Opcode::Binary, Some([9, 8, 7, 6]), &payload);
        for step in [1, 2, 3, 5, 7, 13, 64, 999, 2000] {
            let got = parse_all(&wire, DEFAULT_PAYLOAD_CAP, step);
            assert_eq!(got.len(), 1, "step {step}");
            assert_eq!(&got[0].payload[..], &payload[..], "step {step}");
        }
    }

    /// Small payloads share blocks: each is exactly its own bytes (a later payload written into
    /// the same block never shows through), neighbours in a block sit side by side in memory,
    /// a payload that does not fit what is left of a block starts a new one, and payloads
    /// above the limit have their own allocation.
    #[test]
    fn small_payloads_are_cut_from_shared_blocks() {
        let sizes = [
            1000usize, 1, 0, 3000, 4096, 4097, 700, 2048, 5000, 125, 126, 65_536, 9,
        ];
        let mut wire = Vec::new();
        let mut payloads = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..n).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
            let mask = (i % 2 == 0).then_some([1, 2, 3, (i % 256) as u8]);
            wire.extend_from_slice(&encode_frame(true, false, Opcode::Binary, mask, &payload));
            payloads.push(payload);
        }
        for step in [1, 7, 1000, 1 << 20] {
            let got = parse_all(&wire, DEFAULT_PAYLOAD_CAP, step);
            assert_eq!(got.len(), sizes.len(), "step {step}");
            for (f, want) in got.iter().zip(&payloads) {
                assert_eq!(
                    &f.payload[..],
                    &want[..],
                    "step {step}, {} bytes",
                    want.len()
                );
            }
            // 1000 and 1 share the first block; 3000 and 4096 follow in it (8097 of 16384).
            let adjacent = |a: &ParsedFrame, b: &ParsedFrame| {
                a.payload.as_ptr().wrapping_add(a.payload.len()) == b.payload.as_ptr()
            };
            assert!(adjacent(&got[0], &got[1]), "step {step}");
            assert!(adjacent(&got[1], &got[3]), "step {step}");
            assert!(adjacent(&got[3], &got[4]), "step {step}");
            // 4097 is above the limit: an allocation of its own, the block goes on after it.
            assert!(!adjacent(&got[4], &got[5]), "step {step}");
            assert!(adjacent(&got[4], &got[6]), "step {step}");
            assert!(adjacent(&got[6], &got[7]), "step {step}");
            // 5000 is over too; 125 and 126 fit what is left (16384 - 10845 = 5539)…
            assert!(adjacent(&got[7], &got[9]), "step {step}");
            assert!(adjacent(&got[9], &got[10]), "step {step}");
            // …and 9 too, after the 64 KiB payload (its own allocation).
            assert!(adjacent(&got[10], &got[12]), "step {step}");
        }
        // Once the block is used up, the next small payload starts a fresh one.
        let big: Vec<u8> = vec![7; 4000];
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.extend_from_slice(&encode_frame(true, false, Opcode::Binary, None, &big));
        }
        let got = parse_all(&wire, DEFAULT_PAYLOAD_CAP, 1 << 20);
        let ends_at = |a: &ParsedFrame, b: &ParsedFrame| {
            a.payload.as_ptr().wrapping_add(a.payload.len()) == b.payload.as_ptr()
        };
        assert!(ends_at(&got[0], &got[1]) && ends_at(&got[2], &got[3]));
        assert!(
            !ends_at(&got[3], &got[4]),
            "16000 of 16384 used: 4000 more is a new block"
        );
        assert!(got.iter().all(|f| f.payload[..] == big[..]));
    }

    fn parse_all(bytes: &[u8], cap: usize, step: usize) -> Vec<ParsedFrame> {
        let mut p = FrameParser::new(cap);
        let mut out = Vec::new();
        for chunk in bytes.chunks(step.max(1)) {
            p.feed(chunk, &mut out);
        }
        assert!(p.at_frame_boundary());
        out
    }

    #[test]
    fn parses_every_length_form_in_any_chunking() {
        let mut wire = Vec::new();
        let sizes = [0usize, 1, 125, 126, 65535, 65536, 70000];
        for (i, n) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..*n).map(|j| (j % 251) as u8).collect();
            let mask = (i % 2 == 0).then_some([1, 2, 3, 4]);
            wire.extend(encode_frame(true, false, Opcode::Binary, mask, &payload));
        }
        for step in [1, 3, 7, 1000, usize::MAX] {
            let frames = parse_all(&wire, 1 << 20, step.min(wire.len()));
            assert_eq!(frames.len(), sizes.len(), "step {step}");
            for (f, n) in frames.iter().zip(sizes) {
                assert_eq!(f.header.len, n as u64);
                assert_eq!(f.payload.len(), n);
                assert!(f
                    .payload
                    .iter()
                    .enumerate()
                    .all(|(j, b)| *b == (j % 251) as u8));
                assert!(!f.truncated);
            }
        }
    }

    #[test]
    fn keeps_only_the_cap_of_a_large_frame() {
        let payload = vec![7u8; 10_000];
        let wire = encode_frame(true, false, Opcode::Text, Some([9, 9, 9, 9]), &payload);
        let frames = parse_all(&wire, 100, 333);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].truncated);
        assert_eq!(frames[0].payload.len(), 100);
        assert!(frames[0].payload.iter().all(|b| *b == 7));
    }

    #[test]
    fn reports_header_bits_as_sent() {
        let mut wire = encode_frame(false, true, Opcode::Text, None, b"ab");
        wire[0] |= 0x30; // rsv2 + rsv3
        wire.extend(encode_frame(true, false, Opcode::Reserved(3), None, b""));
        let frames = parse_all(&wire, 100, 1);
        let h = frames[0].header;
        assert!(!h.fin && h.rsv1 && h.rsv2 && h.rsv3 && !h.masked);
        assert_eq!(frames[1].header.opcode, Opcode::Reserved(3));
        assert_eq!(
            frames[1].end, 1,
            "end offset is within the 1-byte chunk that completed it"
        );
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate() {
        let mut wire = vec![0x82, 127];
        wire.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        wire.extend_from_slice(&[1, 2, 3]);
        let mut p = FrameParser::new(DEFAULT_PAYLOAD_CAP);
        let mut out = Vec::new();
        p.feed(&wire, &mut out);
        assert!(out.is_empty());
        assert!(!p.at_frame_boundary());
    }
}

#[cfg(test)]
mod tiny_fragment_tests {
    use super::*;

    /// 1,000,000 one-byte fragments read in 64 KiB chunks: all parsed, none left half-way.
    #[test]
    fn a_million_tiny_fragments_in_64k_chunks() {
        let n = 1_000_000;
        let mut wire = Vec::new();
        for i in 0..n {
            let op = if i == 0 {
                Opcode::Binary
            } else {
                Opcode::Continuation
            };
            wire.extend_from_slice(&encode_frame(i + 1 == n, false, op, None, b"f"));
        }
        let mut p = FrameParser::new(DEFAULT_PAYLOAD_CAP);
        let mut out = Vec::new();
        let mut count = 0;
        for chunk in wire.chunks(64 << 10) {
            p.feed(chunk, &mut out);
            count += out.len();
            out.clear();
        }
        assert_eq!(count, n);
        assert!(p.at_frame_boundary());
        assert!(p.finish().is_none());
    }
}
