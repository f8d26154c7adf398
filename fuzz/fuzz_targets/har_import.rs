//! HAR import (Chrome, mitmproxy, HTTP Toolkit shapes; every check, without the write).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sockscope_store::fuzzing::parse_har(data);
});
