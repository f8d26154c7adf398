//! The capture relay's frame observer (and the parser under it) on any byte stream, cut into
//! chunks of any size, in either direction, with or without permessage-deflate; then the
//! stream ends (possibly inside a frame). Must never panic; what it keeps stays under its caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockscope_proto::observer::{negotiated_deflate, Observer};
use sockscope_proto::Direction;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let dir = if mode & 1 == 0 { Direction::Client } else { Direction::Server };
    let deflate = match (mode >> 1) & 3 {
        0 => None,
        1 => negotiated_deflate("permessage-deflate"),
        2 => negotiated_deflate(
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
        ),
        _ => negotiated_deflate("permessage-deflate; server_max_window_bits=9"),
    };
    let step = usize::from(mode >> 3).max(1);
    // Small caps so that truncation and the inflation cap are reached often.
    let (frame_cap, message_cap) = (4096, 65536);
    let mut observer = Observer::new(dir, deflate, frame_cap, message_cap);
    let mut out = Vec::new();
    for chunk in rest.chunks(step) {
        observer.feed(chunk, &mut out);
        for f in out.drain(..) {
            assert!(f.frame.payload.len() <= frame_cap);
            if let Some(inflated) = &f.inflated {
                assert!(inflated.len() <= message_cap);
            }
        }
    }
    let _ = observer.end_of_stream();
    assert!(observer.at_message_boundary());
});
