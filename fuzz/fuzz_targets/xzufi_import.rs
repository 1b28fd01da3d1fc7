// cargo-fuzz target (libFuzzer): the XZuFi import must not panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = services::xzufi::parse(data);
});
