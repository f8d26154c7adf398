//! Not a real target: it panics on one input (its seed, `fuzz/seeds/selftest/planted`), so
//! that `make fuzz-smoke` can check that a crash fails the run and leaves the input where
//! the message says (`FUZZ_EXPECT_CRASH=1 scripts/fuzz.sh selftest`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"sockscope-fuzz-selftest") {
        panic!("the planted crash of the selftest target");
    }
});
