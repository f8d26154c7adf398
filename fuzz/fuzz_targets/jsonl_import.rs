//! JSONL session import (every check of `sockscope import`, without the database write).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sockscope_store::fuzzing::parse_jsonl(data);
});
