// cargo-fuzz target (libFuzzer): the CAMT.053 import must not panic on any input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(statements) = services::camt::parse(data) {
        for entry in statements.iter().flat_map(|s| &s.entries) {
            let _ = services::camt::find_reference(entry, services::epc::valid_creditor_reference);
        }
    }
});
