//! Durations in the plan's JSON as the language writes them (`15m`, `1h30m`, `500ms`), and the
//! serde adapter that reads and writes them.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// `1h30m`, `15m`, `2s`, `500ms`, `0s`: the largest units first, no spaces.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    if ms > 0 {
        out.push_str(&format!("{ms}ms"));
    }
    out
}

/// Parses what [`format`] writes (and `humantime` forms such as `1h 30m`).
pub fn parse(text: &str) -> Option<Duration> {
    humantime::parse_duration(text.trim()).ok()
}

/// Serialises a duration with [`format`].
pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*d))
}

/// Deserialises a duration with [`parse`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).ok_or_else(|| serde::de::Error::custom(format!("bad duration `{text}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for (d, s) in [
            (Duration::from_secs(0), "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(86_400 + 2), "1d2s"),
        ] {
            assert_eq!(format(d), s);
            assert_eq!(parse(s), Some(d));
        }
    }
}
