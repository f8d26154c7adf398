//! The small decoders: close payloads (code + UTF-8 reason), the permessage-deflate
//! extension header, and the text/hex previews shown for every frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sockscope_proto::parse_close_payload(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sockscope_proto::observer::negotiated_deflate(text);
    }
    for text_like in [true, false] {
        let p = sockscope_proto::preview(data, text_like);
        // Escapes may take several characters each; the cut is on the input window.
        assert!(p.len() <= sockscope_proto::PREVIEW_CHARS * 16 + 8);
    }
    let _ = sockscope_proto::hex_preview(data);
});
