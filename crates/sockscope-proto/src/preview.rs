//! One-line previews of payloads for the timeline and the CLI.

/// How many characters a preview keeps at most.
pub const PREVIEW_CHARS: usize = 256;

/// A single-line preview: the text for valid UTF-8 (control characters shown as spaces or
/// escapes), otherwise hex bytes. At most [`PREVIEW_CHARS`] characters, `…` when cut.
pub fn preview(payload: &[u8], is_text_like: bool) -> String {
    // Decode only a bounded prefix: a 16 MiB payload must not cost 16 MiB here.
    let window = &payload[..payload.len().min(PREVIEW_CHARS * 4)];
    let text = match std::str::from_utf8(window) {
        Ok(s) => Some(s),
        // A prefix may cut a multi-byte character at its end: keep the valid part.
        Err(e) if e.error_len().is_none() && window.len() < payload.len() => {
            std::str::from_utf8(&window[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    match text {
        Some(s) if is_text_like || !s.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
            // Fast path (most traffic): printable ASCII is its own preview, one copy.
            let head = &s.as_bytes()[..s.len().min(PREVIEW_CHARS)];
            if head.iter().all(|b| (0x20..0x7f).contains(b)) {
                let mut out = String::with_capacity(head.len() + 3);
                out.push_str(&s[..head.len()]);
                if s.len() > PREVIEW_CHARS || window.len() < payload.len() {
                    out.push('…');
                }
                return out;
            }
            let mut out = String::with_capacity(s.len().min(PREVIEW_CHARS));
            for (n, c) in s.chars().enumerate() {
                if n == PREVIEW_CHARS {
                    out.push('…');
                    return out;
                }
                match c {
                    '\n' | '\r' | '\t' => out.push(' '),
                    c if c.is_control() => out.push('\u{FFFD}'),
                    c => out.push(c),
                }
            }
            if window.len() < payload.len() {
                out.push('…');
            }
            out
        }
        _ => hex_preview(payload),
    }
}

/// Hex bytes separated by spaces, `…` when cut.
pub fn hex_preview(payload: &[u8]) -> String {
    const BYTES: usize = PREVIEW_CHARS / 3;
    let mut out = String::with_capacity(BYTES * 3 + 3);
    for (i, b) in payload.iter().take(BYTES).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    if payload.len() > BYTES {
        out.push_str(" …");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_kept_on_one_line() {
        assert_eq!(preview(b"hello\nworld", true), "hello world");
    }

    #[test]
    fn long_text_is_cut_with_ellipsis() {
        let long = "é".repeat(2000);
        let p = preview(long.as_bytes(), true);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }

    #[test]
    fn the_ascii_fast_path_matches_the_general_one() {
        // Same results as char by char: short, exactly the limit, over it, cut window.
        for len in [0, 1, 255, 256, 257, 1023, 1024, 5000] {
            let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let p = preview(text.as_bytes(), true);
            let want: String = text.chars().take(PREVIEW_CHARS).collect();
            if len > PREVIEW_CHARS {
                assert_eq!(p, format!("{want}…"), "len {len}");
            } else {
                assert_eq!(p, want, "len {len}");
            }
        }
        // A control character anywhere in the shown part takes the general path.
        assert_eq!(preview(b"ab", true), "a\u{FFFD}b");
        assert_eq!(preview(b"ab", true), "a\u{FFFD}b");
    }

    #[test]
    fn binary_becomes_hex() {
        assert_eq!(preview(&[0xff, 0x00, 0x10], false), "ff 00 10");
        let p = preview(&[0u8; 500], false);
        assert!(p.ends_with(" …"));
    }
}
