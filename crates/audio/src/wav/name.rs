//! Safe recording file names.

use std::time::{SystemTime, UNIX_EPOCH};

/// Longest Call-ID part kept in a file name.
const MAX_ID_CHARS: usize = 80;

/// A file name for a call recording: `YYYYMMDDTHHMMSSZ_<call-id>.wav` (UTC).
///
/// The Call-ID comes off the wire, so only `[A-Za-z0-9._-]` is kept (everything
/// else becomes `_`), `..` cannot survive, and the result never starts with a dot:
/// the name cannot escape the recordings directory or hide itself.
pub fn recording_file_name(time: SystemTime, call_id: &str) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!(
        "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z_{}.wav",
        sanitize(call_id)
    )
}

fn sanitize(call_id: &str) -> String {
    let mut out = String::with_capacity(call_id.len().min(MAX_ID_CHARS));
    for c in call_id.chars().take(MAX_ID_CHARS) {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        // A dot right after a dot would rebuild `..`; a leading dot hides the file.
        let bad_dot = c == '.' && (out.is_empty() || out.ends_with('.'));
        out.push(if keep && !bad_dot { c } else { '_' });
    }
    // A trailing dot would meet the extension's dot and form `..`.
    if out.ends_with('.') {
        out.pop();
        out.push('_');
    }
    if out.is_empty() {
        out.push_str("unknown");
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
