//! Damaged inputs never crash a parser: each mutation gives an error or a result. The
//! mutations are deterministic (a fixed xorshift sequence), so a failure reproduces.

fn mutations(seed: &[u8], rounds: usize, check: impl Fn(&[u8])) {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..rounds {
        let mut data = seed.to_vec();
        for _ in 0..(next() % 8 + 1) {
            let len = data.len().max(1);
            let pos = (next() as usize) % len;
            match next() % 4 {
                0 if !data.is_empty() => data[pos] = next() as u8,
                1 if !data.is_empty() => {
                    data.remove(pos);
                }
                2 => data.insert(pos.min(data.len()), b"<>&;/\"'"[(next() % 7) as usize]),
                _ => data.truncate(pos),
            }
        }
        check(&data);
    }
}

#[test]
fn xzufi_never_panics() {
    let seed = include_bytes!("../fixtures/xzufi-sample.xml");
    mutations(seed, 1500, |d| {
        let _ = services::xzufi::parse(d);
    });
}

#[test]
fn camt_never_panics() {
    let seed = include_bytes!("../fixtures/camt053-sample.xml");
    mutations(seed, 1500, |d| {
        if let Ok(statements) = services::camt::parse(d) {
            for e in statements.iter().flat_map(|s| &s.entries) {
                let _ = services::camt::find_reference(e, services::epc::valid_creditor_reference);
            }
        }
    });
}

#[test]
fn epc_parse_never_panics() {
    let seed = b"BCD\n002\n1\nSCT\nCOBADEFFXXX\nStadtkasse\nDE89370400440532013000\nEUR37.00\nGOVT\nRF18539007547034";
    mutations(seed, 3000, |d| {
        if let Ok(s) = std::str::from_utf8(d) {
            let _ = services::epc::parse(s);
            let _ = services::epc::valid_iban(s);
            let _ = services::epc::valid_creditor_reference(s);
        }
    });
}
