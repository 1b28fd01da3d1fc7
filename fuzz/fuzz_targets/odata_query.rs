//! Feeds arbitrary UTF-8 to the OData query-option parser. Any panic, stack
//! overflow or time-out is a bug: every input must give `Ok` or `Err`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sensorthings::odata::{parse_expand, parse_filter, parse_orderby, parse_query, parse_select};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = parse_query(s) {
        // Printing must not panic, and the printed query must parse back to
        // the same options.
        let printed = q.to_query_string();
        match parse_query(&printed) {
            Ok(again) => assert!(
                again == q || has_nan(&printed),
                "round trip changed {s:?} -> {printed:?}"
            ),
            Err(e) => panic!("printed query {printed:?} (from {s:?}) does not parse: {e}"),
        }
    }
    if let Ok(e) = parse_filter(s) {
        let printed = e.to_string();
        match parse_filter(&printed) {
            Ok(again) => assert!(
                again == e || has_nan(&printed),
                "round trip changed {s:?} -> {printed:?}"
            ),
            Err(err) => panic!("printed filter {printed:?} (from {s:?}) does not parse: {err}"),
        }
    }
    if let Ok(items) = parse_expand(s) {
        for item in &items {
            let _ = item.to_string();
        }
    }
    let _ = parse_select(s);
    let _ = parse_orderby(s);
});

/// NaN is not equal to itself, so trees holding it never compare equal.
fn has_nan(s: &str) -> bool {
    s.contains("NaN")
}
