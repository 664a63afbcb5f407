#![no_main]
//! The logic lives in `scimd::fuzzing::filter`, shared with tests/fuzz_regressions.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scimd::fuzzing::filter(data));
