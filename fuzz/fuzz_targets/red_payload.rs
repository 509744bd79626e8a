//! Fuzzes the RFC 2198 RED payload parser: any bytes either parse or are
//! refused; writing a parsed payload's blocks again gives the same bytes
//! back (every header bit has a meaning), and those parse to the same blocks.
#![no_main]

use agentphone_media::red::{parse, write, RedBlock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(red) = parse(data) else {
        return;
    };
    let redundant: Vec<RedBlock<'_>> = red.redundant().collect();
    let primary = red.primary();
    let mut out = vec![0; data.len()];
    let n = write(&redundant, primary, &mut out).expect("what parsed fits the same bytes");
    assert_eq!(&out[..n], data);
    let again = parse(&out[..n]).expect("what was written parses");
    assert_eq!(again.redundant().collect::<Vec<_>>(), redundant);
    assert_eq!(again.primary(), primary);
});
