//! RFC 3339 timestamps written digit by digit: the journal writes several per task (the store's
//! columns, the audit log's records), and `chrono`'s formatting through `core::fmt` was a
//! measurable part of journaling. The text is exactly what `chrono` writes
//! (`DateTime::to_rfc3339_opts(format, true)`); dates it does not handle here (years outside
//! 0–9999, leap seconds) are left to `chrono`.

use chrono::{DateTime, Datelike as _, SecondsFormat, Timelike as _, Utc};

/// Longest text written here: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX: usize = 30;

/// `t` as `chrono`'s `to_rfc3339_opts(format, true)` spells it.
pub fn rfc3339(t: DateTime<Utc>, format: SecondsFormat) -> String {
    match Stamp::new(t, format).0 {
        Repr::Spelled(s) => s,
        inline @ Repr::Inline { .. } => Stamp(inline).as_str().to_owned(),
    }
}

/// A timestamp's text as [`rfc3339`] spells it, kept inline (no allocation) unless `chrono`
/// must spell it: the store binds two per task attempt.
#[derive(Debug, Clone)]
pub struct Stamp(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// Written here: `len` ASCII bytes of `buf`.
    Inline { buf: [u8; MAX], len: u8 },
    /// Spelled by `chrono`.
    Spelled(String),
}

impl Stamp {
    /// `t` as [`rfc3339`] spells it.
    pub fn new(t: DateTime<Utc>, format: SecondsFormat) -> Self {
        let mut buf = [0u8; MAX];
        Self(
            match write(&mut buf, t, format).and_then(|n| u8::try_from(n).ok()) {
                Some(len) => Repr::Inline { buf, len },
                None => Repr::Spelled(t.to_rfc3339_opts(format, true)),
            },
        )
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only ASCII digits and separators are written inline.
            Repr::Inline { buf, len } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Spelled(s) => s,
        }
    }
}

/// Appends `t` to `out` as [`rfc3339`] spells it.
pub fn push(out: &mut Vec<u8>, t: DateTime<Utc>, format: SecondsFormat) {
    let mut buf = [0u8; MAX];
    match write(&mut buf, t, format) {
        Some(n) => out.extend_from_slice(&buf[..n]),
        None => out.extend_from_slice(t.to_rfc3339_opts(format, true).as_bytes()),
    }
}

/// Serialises a timestamp as `chrono`'s serde support does (`AutoSi` digits, `Z`), for
/// `#[serde(serialize_with = …)]`.
pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX];
    match write(&mut buf, *t, SecondsFormat::AutoSi) {
        Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default()),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// Writes `t` into `buf`; the length written, or `None` for what `chrono` must spell.
fn write(buf: &mut [u8; MAX], t: DateTime<Utc>, format: SecondsFormat) -> Option<usize> {
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = t.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let digits = match format {
        SecondsFormat::Secs => 0,
        SecondsFormat::Millis => 3,
        SecondsFormat::Micros => 6,
        SecondsFormat::Nanos => 9,
        SecondsFormat::AutoSi if nanos == 0 => 0,
        SecondsFormat::AutoSi if nanos % 1_000_000 == 0 => 3,
        SecondsFormat::AutoSi if nanos % 1_000 == 0 => 6,
        SecondsFormat::AutoSi => 9,
        _ => return None,
    };
    let mut at = 0;
    let mut put = |value: u32, width: usize, after: Option<u8>| {
        let mut v = value;
        for i in (0..width).rev() {
            // `v % 10` is a digit.
            buf[at + i] = b'0' + u8::try_from(v % 10).unwrap_or(0);
            v /= 10;
        }
        at += width;
        if let Some(c) = after {
            buf[at] = c;
            at += 1;
        }
    };
    put(year, 4, Some(b'-'));
    put(t.month(), 2, Some(b'-'));
    put(t.day(), 2, Some(b'T'));
    put(t.hour(), 2, Some(b':'));
    put(t.minute(), 2, Some(b':'));
    if digits == 0 {
        put(t.second(), 2, Some(b'Z'));
    } else {
        put(t.second(), 2, Some(b'.'));
        put(nanos / 10u32.pow(9 - digits), digits as usize, Some(b'Z'));
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use proptest::prelude::*;

    const FORMATS: [SecondsFormat; 5] = [
        SecondsFormat::Secs,
        SecondsFormat::Millis,
        SecondsFormat::Micros,
        SecondsFormat::Nanos,
        SecondsFormat::AutoSi,
    ];

    proptest! {
        #[test]
        fn spells_every_timestamp_as_chrono_does(
            secs in -70_000_000_000i64..300_000_000_000,
            nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
                                 (0u32..1_000_000).prop_map(|u| u * 1000), 0u32..1_000_000_000],
        ) {
            let t = Utc.timestamp_opt(secs, nanos).single();
            prop_assume!(t.is_some());
            let t = t.unwrap_or_default();
            for f in FORMATS {
                prop_assert_eq!(rfc3339(t, f), t.to_rfc3339_opts(f, true));
                let stamp = Stamp::new(t, f);
                prop_assert_eq!(stamp.as_str(), t.to_rfc3339_opts(f, true));
                // Written here, without an allocation, for every year `chrono` need not spell.
                prop_assert_eq!(matches!(stamp.0, Repr::Inline { .. }), (0..=9999).contains(&t.year()));
                let mut pushed = b"x".to_vec();
                push(&mut pushed, t, f);
                prop_assert_eq!(pushed, [b"x".as_slice(), t.to_rfc3339_opts(f, true).as_bytes()].concat());
            }
            let json = serde_json::to_string(&t).unwrap_or_default();
            let mut ours = Vec::new();
            let _ = serialize(&t, &mut serde_json::Serializer::new(&mut ours));
            prop_assert_eq!(String::from_utf8_lossy(&ours), json);
        }
    }

    #[test]
    fn leaves_leap_seconds_and_far_years_to_chrono() {
        let leap = Utc
            .with_ymd_and_hms(2016, 12, 31, 23, 59, 59)
            .single()
            .and_then(|t| t.with_nanosecond(1_500_000_000));
        let far = Utc.with_ymd_and_hms(12_000, 1, 1, 0, 0, 0).single();
        for t in [leap, far].into_iter().flatten() {
            for f in FORMATS {
                assert_eq!(rfc3339(t, f), t.to_rfc3339_opts(f, true));
                let stamp = Stamp::new(t, f);
                assert!(matches!(stamp.0, Repr::Spelled(_)), "{stamp:?}");
                assert_eq!(stamp.as_str(), t.to_rfc3339_opts(f, true));
            }
        }
    }
}
