//! Message-level observation of one direction of a WebSocket stream: fragments, control
//! frames, permessage-deflate inflation (RFC 7692) and everything a peer did wrong, flagged.
//! Nothing here changes the stream: it only describes it.

use crate::parser::{FrameParser, ParsedFrame};
use crate::{parse_close_payload, Direction, Opcode};
use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

/// permessage-deflate as negotiated in the handshake response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deflate {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
}

/// Reads `Sec-WebSocket-Extensions` of a 101 response. `None` when permessage-deflate was not
/// accepted.
pub fn negotiated_deflate(extensions: &str) -> Option<Deflate> {
    for ext in extensions.split(',') {
        let mut parts = ext.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let mut d = Deflate::default();
        for p in parts {
            let name = p.split('=').next().unwrap_or("").trim();
            match name {
                "server_no_context_takeover" => d.server_no_context_takeover = true,
                "client_no_context_takeover" => d.client_no_context_takeover = true,
                _ => {}
            }
        }
        return Some(d);
    }
    None
}

/// One frame, described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFrame {
    pub frame: ParsedFrame,
    /// The whole message's inflated payload, on the frame that completes a compressed message.
    pub inflated: Option<Bytes>,
    /// What is wrong with this frame or the message it completes (empty when legal).
    pub issues: Vec<String>,
    /// After this frame the stream is between messages (a safe place to inject).
    pub at_message_boundary: bool,
}

struct Message {
    opcode: Opcode,
    compressed: bool,
    /// Compressed bytes (for inflation) or the text so far (for UTF-8 checks), capped.
    data: Vec<u8>,
    overflow: bool,
}

/// Observes one direction.
pub struct Observer {
    dir: Direction,
    parser: FrameParser,
    deflate: Option<Deflate>,
    inflater: Option<Decompress>,
    inflate_broken: bool,
    message: Option<Message>,
    /// Largest message (compressed input or inflated output) examined per message.
    message_cap: usize,
}

/// Default cap of a message examined by the observer (16 MiB).
pub const DEFAULT_MESSAGE_CAP: usize = 16 << 20;

impl Observer {
    pub fn new(
        dir: Direction,
        deflate: Option<Deflate>,
        frame_cap: usize,
        message_cap: usize,
    ) -> Observer {
        Observer {
            dir,
            parser: FrameParser::new(frame_cap),
            inflater: deflate.map(|_| Decompress::new(false)),
            deflate,
            inflate_broken: false,
            message: None,
            message_cap,
        }
    }

    /// True when no frame or fragmented message is in progress.
    pub fn at_message_boundary(&self) -> bool {
        self.parser.at_frame_boundary() && self.message.is_none()
    }

    /// True when no frame is half read (a fragmented message may be in progress).
    pub fn at_frame_boundary(&self) -> bool {
        self.parser.at_frame_boundary()
    }

    /// Feeds the next chunk; described frames are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<ObservedFrame>) {
        let mut frames = Vec::new();
        self.parser.feed(chunk, &mut frames);
        for f in frames {
            let described = self.describe(f);
            out.push(described);
        }
    }

    /// The stream ended inside a frame: that frame as far as it got, flagged (a peer that
    /// declares a huge length and hangs up is recorded, not lost).
    pub fn end_of_stream(&mut self) -> Option<ObservedFrame> {
        // The stream is over: whatever was in progress ends here.
        let cut = self.parser.finish();
        self.message = None;
        let (frame, seen) = cut?;
        let declared = frame.header.len;
        let mut issues = vec![format!(
            "the connection ended inside this frame ({seen} of {declared} payload bytes seen)"
        )];
        if frame.payload.len() as u64 > 0 && (frame.payload.len() as u64) < seen {
            issues.push(format!("payload of {declared} bytes recorded only in part"));
        }
        Some(ObservedFrame {
            frame,
            inflated: None,
            issues,
            at_message_boundary: true,
        })
    }

    fn no_context_takeover(&self) -> bool {
        match (self.deflate, self.dir) {
            (Some(d), Direction::Client) => d.client_no_context_takeover,
            (Some(d), Direction::Server) => d.server_no_context_takeover,
            (None, _) => false,
        }
    }

    fn describe(&mut self, frame: ParsedFrame) -> ObservedFrame {
        let h = frame.header;
        let mut issues = Vec::new();
        match (self.dir, h.masked) {
            (Direction::Client, false) => issues.push("unmasked client frame".to_owned()),
            (Direction::Server, true) => issues.push("masked server frame".to_owned()),
            _ => {}
        }
        if h.rsv2 || h.rsv3 {
            issues.push("reserved bits RSV2/RSV3 set".to_owned());
        }
        if frame.truncated {
            issues.push(format!("payload of {} bytes recorded only in part", h.len));
        }
        let mut inflated = None;
        match h.opcode {
            Opcode::Reserved(n) => issues.push(format!("reserved opcode {n:#x}")),
            op if op.is_control() => {
                if !h.fin {
                    issues.push("fragmented control frame".to_owned());
                }
                if h.len > 125 {
                    issues.push(format!(
                        "control frame payload of {} bytes (max 125)",
                        h.len
                    ));
                }
                if h.rsv1 {
                    issues.push("RSV1 set on a control frame".to_owned());
                }
                if op == Opcode::Close {
                    match parse_close_payload(&frame.payload) {
                        Err(e) => issues.push(e.to_string()),
                        Ok(info) => {
                            if let Some(code) = info.code {
                                if !close_code_allowed(code) {
                                    issues.push(format!(
                                        "close code {code} is not allowed on the wire"
                                    ));
                                }
                            }
                        }
                    }
                }
            }
            Opcode::Continuation => {
                if h.rsv1 {
                    issues.push("RSV1 set on a continuation frame".to_owned());
                }
                match self.message.as_mut() {
                    None => {
                        issues.push("continuation frame outside a fragmented message".to_owned())
                    }
                    Some(m) => append_capped(m, &frame.payload, self.message_cap),
                }
                if h.fin {
                    if let Some(m) = self.message.take() {
                        inflated =
                            self.finish(m.opcode, m.compressed, &m.data, m.overflow, &mut issues);
                    }
                }
            }
            op => {
                if self.message.take().is_some() {
                    issues.push("new message started before the previous one finished".to_owned());
                }
                if h.rsv1 && self.deflate.is_none() {
                    issues.push("RSV1 set but permessage-deflate was not negotiated".to_owned());
                }
                let compressed = h.rsv1 && self.deflate.is_some();
                if h.fin {
                    // A message in one frame is examined where it is: no copy of its own
                    // (a `malloc` and a copy per frame, and a cross-thread `free`, on a
                    // capture relay).
                    let (examined, overflow) = capped(&frame.payload, self.message_cap);
                    inflated = self.finish(op, compressed, examined, overflow, &mut issues);
                } else {
                    let mut m = Message {
                        opcode: op,
                        compressed,
                        data: Vec::new(),
                        overflow: false,
                    };
                    append_capped(&mut m, &frame.payload, self.message_cap);
                    self.message = Some(m);
                }
            }
        }
        ObservedFrame {
            at_message_boundary: self.at_message_boundary(),
            frame,
            inflated,
            issues,
        }
    }

    /// A whole message has arrived (`data`, its first bytes up to the message cap; `overflow`
    /// when there were more): inflate it if compressed and check text is UTF-8.
    fn finish(
        &mut self,
        opcode: Opcode,
        compressed: bool,
        data: &[u8],
        overflow: bool,
        issues: &mut Vec<String>,
    ) -> Option<Bytes> {
        let inflated = if compressed {
            let out = self.inflate(data, !overflow, issues);
            if overflow && self.inflater.is_some() && !self.no_context_takeover() {
                // Only the message's start went through the inflater: the next messages of
                // this direction refer back into the rest, and inflating them would show
                // wrong text (a back-reference into missing bytes is no error to deflate).
                self.inflate_broken = true;
            }
            Some(out?)
        } else {
            None
        };
        let text = inflated.as_deref().unwrap_or(data);
        if overflow {
            issues.push(format!(
                "message longer than {} bytes: only its start was examined",
                self.message_cap
            ));
        } else if opcode == Opcode::Text && std::str::from_utf8(text).is_err() {
            issues.push("text message is not valid UTF-8".to_owned());
        }
        inflated
    }

    /// Inflates a message's compressed bytes (`whole`: all of them; otherwise its start, and
    /// the inflater is not told the message ended there).
    fn inflate(&mut self, input: &[u8], whole: bool, issues: &mut Vec<String>) -> Option<Bytes> {
        if self.inflate_broken {
            issues.push(
                "cannot inflate: an earlier message of this direction could not be inflated whole"
                    .to_owned(),
            );
            return None;
        }
        let reset = self.no_context_takeover();
        let cap = self.message_cap;
        let inflater = self.inflater.as_mut()?;
        let mut data = Vec::with_capacity(input.len() + 4);
        data.extend_from_slice(input);
        if whole {
            data.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        }
        let mut out: Vec<u8> = Vec::with_capacity((input.len() * 4).min(cap).max(64));
        let mut consumed = 0usize;
        let result = loop {
            if out.len() >= cap {
                break Err(format!(
                    "inflated message exceeds {cap} bytes: stopped there"
                ));
            }
            if out.capacity() == out.len() {
                out.reserve((out.len()).clamp(64, cap - out.len()));
            }
            let before_in = inflater.total_in();
            let before_out = out.len();
            let status =
                inflater.decompress_vec(&data[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (inflater.total_in() - before_in) as usize;
            match status {
                Err(e) => break Err(format!("cannot inflate: {e}")),
                Ok(Status::StreamEnd) => break Ok(()),
                Ok(_) if consumed >= data.len() && out.len() < out.capacity() => break Ok(()),
                Ok(_) if consumed >= data.len() && out.len() == before_out => break Ok(()),
                Ok(_) => {}
            }
        };
        match result {
            Ok(()) => {
                if reset {
                    inflater.reset(false);
                }
                Some(Bytes::from(out))
            }
            Err(e) => {
                issues.push(e);
                self.inflate_broken = !reset;
                inflater.reset(false);
                out.truncate(cap);
                Some(Bytes::from(out))
            }
        }
    }
}

fn append_capped(m: &mut Message, payload: &[u8], cap: usize) {
    let (kept, overflow) = capped(payload, cap.saturating_sub(m.data.len()));
    m.overflow |= overflow;
    m.data.extend_from_slice(kept);
}

/// The start of `payload` that fits in `room` bytes, and whether there was more.
fn capped(payload: &[u8], room: usize) -> (&[u8], bool) {
    (&payload[..payload.len().min(room)], payload.len() > room)
}

/// Close codes a peer may send (RFC 6455 §7.4).
pub fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::encode_frame;
    use flate2::{Compress, Compression, FlushCompress};

    fn observe(dir: Direction, deflate: Option<Deflate>, wire: &[u8]) -> Vec<ObservedFrame> {
        let mut o = Observer::new(dir, deflate, 1 << 20, 1 << 20);
        let mut out = Vec::new();
        for chunk in wire.chunks(5) {
            o.feed(chunk, &mut out);
        }
        out
    }

    fn compress(c: &mut Compress, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        c.compress_vec(data, &mut out, FlushCompress::Sync)
            .expect("compress");
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        out.truncate(out.len() - 4);
        out
    }

    #[test]
    fn legal_traffic_has_no_issues_and_fragments_complete_messages() {
        let m = Some([1, 2, 3, 4]);
        let mut wire = encode_frame(false, false, Opcode::Text, m, b"hel");
        wire.extend(encode_frame(true, false, Opcode::Ping, m, b"p"));
        wire.extend(encode_frame(true, false, Opcode::Continuation, m, b"lo"));
        let out = observe(Direction::Client, None, &wire);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|f| f.issues.is_empty()), "{out:?}");
        assert_eq!(
            out.iter()
                .map(|f| f.at_message_boundary)
                .collect::<Vec<_>>(),
            [false, false, true]
        );
    }

    #[test]
    fn illegal_traffic_is_flagged_not_fixed() {
        let mut wire = encode_frame(true, false, Opcode::Text, None, &[0xff, 0xfe]);
        wire.extend(encode_frame(true, false, Opcode::Close, None, &[3]));
        wire.extend(encode_frame(true, true, Opcode::Binary, None, b"x"));
        wire.extend(encode_frame(
            true,
            false,
            Opcode::Close,
            None,
            &1005u16.to_be_bytes(),
        ));
        let out = observe(Direction::Server, None, &wire);
        assert!(out[0].issues.iter().any(|i| i.contains("UTF-8")));
        assert_eq!(out[0].frame.payload.as_ref(), &[0xff, 0xfe]);
        assert!(out[1].issues.iter().any(|i| i.contains("1 byte")));
        assert!(out[2].issues.iter().any(|i| i.contains("not negotiated")));
        assert!(out[3].issues.iter().any(|i| i.contains("1005")));
        let unmasked = observe(
            Direction::Client,
            None,
            &encode_frame(true, false, Opcode::Text, None, b"a"),
        );
        assert!(unmasked[0].issues.iter().any(|i| i.contains("unmasked")));
    }

    /// Text is checked as a whole message, in one frame or several (a character split
    /// between fragments is fine); a message past the message cap is flagged as examined only
    /// in part, and what lies past the cap is not checked.
    #[test]
    fn messages_are_checked_whole_up_to_the_message_cap() {
        // What a case is called, its fragments' payloads, the issues its last frame has.
        type Case = (&'static str, Vec<Vec<u8>>, &'static [&'static str]);
        let cases: Vec<Case> = vec![
            ("one frame within the cap", vec![b"abcdefgh".to_vec()], &[]),
            ("one frame, bad UTF-8", vec![vec![b'a', 0xff]], &["UTF-8"]),
            (
                "one frame past the cap",
                vec![b"abcdefghi".to_vec()],
                &["examined"],
            ),
            (
                "bad byte past the cap",
                vec![[&b"abcdefgh"[..], &[0xff]].concat()],
                &["examined"],
            ),
            (
                "a character across fragments",
                vec![vec![b'a', 0xc3], vec![0xa9]],
                &[],
            ),
            (
                "half a character",
                vec![vec![b'a', 0xc3], vec![b'b']],
                &["UTF-8"],
            ),
            (
                "fragments past the cap",
                vec![b"abcd".to_vec(), b"efghi".to_vec()],
                &["examined"],
            ),
        ];
        for (case, parts, want) in cases {
            let mut wire = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let op = if i == 0 {
                    Opcode::Text
                } else {
                    Opcode::Continuation
                };
                wire.extend(encode_frame(i + 1 == parts.len(), false, op, None, part));
            }
            let mut o = Observer::new(Direction::Server, None, 1 << 20, 8);
            let mut out = Vec::new();
            o.feed(&wire, &mut out);
            assert_eq!(out.len(), parts.len(), "{case}");
            let last = out.last().map(|f| f.issues.clone()).unwrap_or_default();
            assert_eq!(last.len(), want.len(), "{case}: {last:?}");
            for w in want {
                assert!(last.iter().any(|i| i.contains(w)), "{case}: {last:?}");
            }
            assert!(
                out[..out.len() - 1].iter().all(|f| f.issues.is_empty()),
                "{case}"
            );
        }
    }

    #[test]
    fn inflates_with_context_takeover_across_messages_and_fragments() {
        let mut c = Compress::new(Compression::default(), false);
        let a = compress(&mut c, b"{\"price\": 101.5, \"symbol\": \"ABC\"}");
        let b = compress(&mut c, b"{\"price\": 101.5, \"symbol\": \"ABC\"}");
        assert!(b.len() < a.len(), "second message uses the shared window");
        let mut wire = encode_frame(true, true, Opcode::Text, None, &a);
        let (b1, b2) = b.split_at(b.len() / 2);
        wire.extend(encode_frame(false, true, Opcode::Text, None, b1));
        wire.extend(encode_frame(true, false, Opcode::Continuation, None, b2));
        let out = observe(Direction::Server, Some(Deflate::default()), &wire);
        assert!(out.iter().all(|f| f.issues.is_empty()), "{out:?}");
        let texts: Vec<_> = out.iter().filter_map(|f| f.inflated.clone()).collect();
        assert_eq!(texts.len(), 2);
        assert!(texts
            .iter()
            .all(|t| t.as_ref() == b"{\"price\": 101.5, \"symbol\": \"ABC\"}"));
    }

    /// A compressed message longer than the message cap is inflated from its start (bytes
    /// deflate cannot shrink: the start inflates to less than the cap, so the inflated size
    /// does not stop it first). With context takeover the next messages refer back into the
    /// part that was not inflated: they are said to be uninflatable rather than shown wrong;
    /// without it they inflate.
    #[test]
    fn a_compressed_message_past_the_cap_stops_inflation_only_with_context_takeover() {
        let mut x: u32 = 12345;
        let text: Vec<u8> = (0..300)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        for takeover in [true, false] {
            let mut c = Compress::new(Compression::default(), false);
            let a = compress(&mut c, &text);
            assert!(a.len() > 64, "{}", a.len());
            if !takeover {
                c.reset();
            }
            // The text's start again: with the window, a back-reference of a few bytes.
            let b = compress(&mut c, &text[..40]);
            let mut wire = encode_frame(true, true, Opcode::Binary, None, &a);
            wire.extend(encode_frame(true, true, Opcode::Binary, None, &b));
            let deflate = Deflate {
                server_no_context_takeover: !takeover,
                client_no_context_takeover: false,
            };
            let mut o = Observer::new(Direction::Server, Some(deflate), 1 << 20, 64);
            let mut out = Vec::new();
            o.feed(&wire, &mut out);
            assert_eq!(out.len(), 2);
            assert!(
                out[0].issues.iter().any(|i| i.contains("examined")),
                "{:?}",
                out[0].issues
            );
            // Its start inflated, with no error and under the cap: what stops inflation after
            // it is the compressed size alone.
            assert_eq!(out[0].issues.len(), 1, "{:?}", out[0].issues);
            let preview = out[0].inflated.clone().unwrap_or_default();
            assert!(!preview.is_empty() && text.starts_with(&preview));
            if takeover {
                assert_eq!(out[1].inflated, None);
                assert_eq!(
                    out[1].issues,
                    ["cannot inflate: an earlier message of this direction could not be inflated whole"]
                );
            } else {
                assert_eq!(out[1].inflated.as_deref(), Some(&text[..40]));
                assert!(out[1].issues.is_empty(), "{:?}", out[1].issues);
            }
        }
    }

    #[test]
    fn a_deflate_bomb_is_capped() {
        let mut c = Compress::new(Compression::best(), false);
        let zeros = vec![0u8; 8 << 20];
        let bomb = compress(&mut c, &zeros);
        assert!(bomb.len() < 64 << 10);
        let wire = encode_frame(true, true, Opcode::Binary, None, &bomb);
        let mut o = Observer::new(
            Direction::Server,
            Some(Deflate::default()),
            1 << 20,
            1 << 20,
        );
        let mut out = Vec::new();
        o.feed(&wire, &mut out);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].issues.iter().any(|i| i.contains("exceeds")),
            "{:?}",
            out[0].issues
        );
        assert!(out[0].inflated.as_ref().is_some_and(|b| b.len() <= 1 << 20));
    }

    #[test]
    fn reads_negotiated_parameters() {
        assert_eq!(negotiated_deflate("x-webkit"), None);
        let d = negotiated_deflate(
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
        );
        assert_eq!(
            d,
            Some(Deflate {
                server_no_context_takeover: false,
                client_no_context_takeover: true
            })
        );
    }
}

#[cfg(test)]
mod end_of_stream_tests {
    use super::*;
    use crate::parser::encode_frame;

    #[test]
    fn the_end_of_the_stream_resets_whatever_was_in_progress() {
        // Cut inside a header, inside a payload, and between fragments of a message.
        let first = encode_frame(false, false, Opcode::Text, None, b"abc");
        let cases: [(&[u8], bool); 3] = [
            (&[0x81], false),
            (&[0x82, 0x7e, 0x01, 0x00, b'x'], true),
            (&first, false),
        ];
        for (bytes, cut_frame) in cases {
            let mut o = Observer::new(Direction::Server, None, 1024, 1024);
            let mut out = Vec::new();
            o.feed(bytes, &mut out);
            let cut = o.end_of_stream();
            assert_eq!(cut.is_some(), cut_frame, "{bytes:?}");
            if let Some(f) = cut {
                assert!(f.frame.truncated);
                assert!(
                    f.issues[0].contains("1 of 256 payload bytes seen"),
                    "{:?}",
                    f.issues
                );
            }
            assert!(o.at_message_boundary(), "{bytes:?}");
        }
    }
}
