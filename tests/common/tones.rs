//! Who heard whom: recordings measured in short blocks for the parties'
//! tones (Goertzel over a Hann window, tests/common/audio.rs), and checks
//! that a set of tones was heard clearly, one stretch after another.

use super::audio::{read, tone_level_db, RATE};
use std::path::Path;

/// A tone is heard when it measures at least this, dBFS.
pub const PRESENT_DB: f64 = -35.0;
/// Every tone not in the heard set is at least this far below the weakest
/// one in it.
pub const CLEAR_DB: f64 = 25.0;
/// Length of the measured pieces, seconds.
pub const BLOCK_S: f64 = 0.25;

/// The levels of `tones` in consecutive [`BLOCK_S`] pieces of `samples`.
pub fn block_levels(samples: &[f32], tones: &[f64]) -> Vec<Vec<f64>> {
    let block = (BLOCK_S * RATE as f64) as usize;
    samples
        .chunks_exact(block)
        .map(|piece| {
            tones
                .iter()
                .map(|&hz| tone_level_db(piece, RATE, hz))
                .collect()
        })
        .collect()
}

/// A table of the levels, one block a line, for messages.
pub fn table(tones: &[f64], levels: &[Vec<f64>]) -> String {
    let mut text = format!(
        "  t(s) {}\n",
        tones
            .iter()
            .map(|t| format!("{t:>8.0}"))
            .collect::<String>()
    );
    for (i, block) in levels.iter().enumerate() {
        text.push_str(&format!("{:6.2} ", i as f64 * BLOCK_S));
        for db in block {
            text.push_str(&format!("{db:>8.1}"));
        }
        text.push('\n');
    }
    text
}

/// Checks that `path` holds the tones of `stretches` one after the other: each
/// `(tone, seconds)` clearly (at least [`PRESENT_DB`], every other tone of
/// `tones` [`CLEAR_DB`] under it) for at least that long, each stretch starting
/// after the previous one ended. `who` and `logs` go into the messages.
pub fn expect_heard_in_order(
    who: &str,
    path: &Path,
    tones: &[f64],
    stretches: &[(f64, f64)],
    logs: &str,
) {
    let sets: Vec<(Vec<f64>, f64)> = stretches.iter().map(|&(t, s)| (vec![t], s)).collect();
    expect_sets_in_order(who, path, tones, &sets, logs);
}

/// Like [`expect_heard_in_order`] with a set of tones heard together in each
/// stretch (a conference mix): every tone of the set at least [`PRESENT_DB`],
/// every other tone of `tones` [`CLEAR_DB`] under the weakest of the set.
pub fn expect_sets_in_order(
    who: &str,
    path: &Path,
    tones: &[f64],
    stretches: &[(Vec<f64>, f64)],
    logs: &str,
) {
    let samples = read(path);
    let levels = block_levels(&samples, tones);
    let shown = table(tones, &levels);
    eprintln!(
        "{who} heard ({}, {:.2} s):\n{shown}",
        path.display(),
        samples.len() as f64 / RATE as f64
    );
    let mut from = 0;
    for (set, seconds) in stretches {
        let wanted: Vec<usize> = set
            .iter()
            .map(|tone| {
                tones
                    .iter()
                    .position(|t| t == tone)
                    .unwrap_or_else(|| panic!("{tone} Hz is not one of {tones:?}"))
            })
            .collect();
        let clear = |block: &[f64]| {
            let weakest = wanted
                .iter()
                .map(|&i| block[i])
                .fold(f64::INFINITY, f64::min);
            weakest >= PRESENT_DB
                && block
                    .iter()
                    .enumerate()
                    .all(|(j, &other)| wanted.contains(&j) || other <= weakest - CLEAR_DB)
        };
        let needed = (seconds / BLOCK_S).ceil() as usize;
        let mut run_start = from;
        let mut found = None;
        for (i, block) in levels.iter().enumerate().skip(from) {
            if !clear(block) {
                run_start = i + 1;
            } else if i + 1 - run_start >= needed {
                found = Some(run_start);
                break;
            }
        }
        let Some(start) = found else {
            panic!(
                "{who} should hear {set:?} Hz (and no other tone) for {seconds} s after \
                 {:.2} s (stretches wanted in order: {stretches:?}; >= {PRESENT_DB} dBFS, \
                 others {CLEAR_DB} dB under); levels (dBFS) per {BLOCK_S} s:\n{shown}\n{logs}",
                from as f64 * BLOCK_S
            );
        };
        let mut end = start + needed;
        while end < levels.len() && clear(&levels[end]) {
            end += 1;
        }
        from = end;
    }
}
