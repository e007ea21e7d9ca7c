//! Version ordering: takes two version strings and a [`VersionScheme`], returns their order.
//!
//! Four schemes: Debian (dpkg's `verrevcmp` over epoch, upstream and revision), RPM
//! (`rpmvercmp` over epoch, version and release, with `~` and `^`), semver 2.0 precedence,
//! and a numeric-segments fallback. Every comparison is total: a string a scheme cannot parse
//! still gets an order (see each function), because the strings come from remote hosts.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which ordering rules compare two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionScheme {
    /// Debian package versions, ordered exactly like `dpkg --compare-versions`.
    Deb,
    /// RPM package versions, ordered like `rpm.vercmp` (rpmvercmp) per EVR part.
    Rpm,
    /// Semantic versioning 2.0 precedence; strings that are not semver fall back to
    /// [`VersionScheme::Numeric`].
    Semver,
    /// The runs of digits compared as numbers, left to right.
    Numeric,
}

/// The scheme used when neither a declaration nor a host fact chooses one: semver, which
/// itself falls back to numeric segments for strings that are not semver.
pub const DEFAULT_SCHEME: VersionScheme = VersionScheme::Semver;

/// The host facts (inventory attributes) consulted, in this order, to choose a scheme.
pub const SCHEME_FACTS: [&str; 3] = ["versions", "os", "os_family"];

/// A `versions = "…"` value that names no scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown version scheme `{0}`: expected deb, rpm, semver or numeric")]
pub struct UnknownScheme(pub String);

impl FromStr for VersionScheme {
    type Err = UnknownScheme;

    /// Parses a declared `versions` attribute: `deb`, `rpm`, `semver` or `numeric`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deb" | "debian" | "dpkg" => Ok(Self::Deb),
            "rpm" => Ok(Self::Rpm),
            "semver" => Ok(Self::Semver),
            "numeric" => Ok(Self::Numeric),
            _ => Err(UnknownScheme(s.to_string())),
        }
    }
}

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::Semver => "semver",
            Self::Numeric => "numeric",
        })
    }
}

impl VersionScheme {
    /// The scheme of a host's package manager, from its operating-system fact
    /// (`os = "debian"`, `"ubuntu"`, `"rhel"`, …); `None` when the OS is not known.
    pub fn from_os(os: &str) -> Option<Self> {
        let os = os.trim().to_ascii_lowercase();
        // Distribution ids as in os-release's ID and ID_LIKE, plus common spellings.
        const DEB: &[&str] = &[
            "debian",
            "ubuntu",
            "linuxmint",
            "mint",
            "raspbian",
            "devuan",
            "kali",
            "pop",
            "elementary",
            "deb",
        ];
        const RPM: &[&str] = &[
            "rhel",
            "redhat",
            "centos",
            "fedora",
            "rocky",
            "alma",
            "almalinux",
            "ol",
            "oracle",
            "oraclelinux",
            "amzn",
            "amazon",
            "suse",
            "opensuse",
            "sles",
            "rpm",
        ];
        if DEB.contains(&os.as_str()) {
            Some(Self::Deb)
        } else if RPM.contains(&os.as_str()) {
            Some(Self::Rpm)
        } else {
            None
        }
    }

    /// Chooses the scheme for one capture on one host: the capture's declared `versions`
    /// wins; else the first of the host facts [`SCHEME_FACTS`] that names a scheme or a known
    /// OS; else [`DEFAULT_SCHEME`].
    pub fn choose<'a>(
        declared: Option<VersionScheme>,
        fact: &dyn Fn(&str) -> Option<&'a str>,
    ) -> VersionScheme {
        if let Some(scheme) = declared {
            return scheme;
        }
        SCHEME_FACTS
            .iter()
            .filter_map(|name| fact(name))
            .find_map(|value| value.parse().ok().or_else(|| Self::from_os(value)))
            .unwrap_or(DEFAULT_SCHEME)
    }

    /// Orders `a` against `b` under this scheme.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Self::Deb => compare_deb(a, b),
            Self::Rpm => compare_rpm(a, b),
            Self::Semver => compare_semver(a, b),
            Self::Numeric => compare_numeric(a, b),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Debian

/// A Debian version split into its parts, as dpkg's `parseversion` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebVersion {
    /// The number before the first `:` (0 when absent).
    pub epoch: u32,
    /// Between the epoch and the last `-`.
    pub upstream: String,
    /// After the last `-` (empty when absent, which orders like `0`).
    pub revision: String,
}

/// Why a string is not a valid Debian version (dpkg's own checks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DebVersionError {
    /// Empty or only blanks.
    #[error("version string is empty")]
    Empty,
    /// Blanks inside the version.
    #[error("version string has embedded spaces")]
    EmbeddedSpaces,
    /// The epoch is not a non-negative number that fits.
    #[error("epoch in version is not a valid number")]
    BadEpoch,
    /// Nothing between the epoch and the revision.
    #[error("nothing after colon in version number")]
    EmptyUpstream,
    /// The upstream part must start with a digit.
    #[error("version number does not start with digit")]
    NoLeadingDigit,
    /// A character dpkg does not allow in the upstream part.
    #[error("invalid character in version number")]
    BadUpstreamChar,
    /// A character dpkg does not allow in the revision.
    #[error("invalid character in revision number")]
    BadRevisionChar,
}

impl DebVersion {
    /// Parses like dpkg with all its checks (errors and warnings both reject).
    pub fn parse(s: &str) -> Result<Self, DebVersionError> {
        let s = s.trim_matches(|c: char| c == ' ' || c == '\t');
        if s.is_empty() {
            return Err(DebVersionError::Empty);
        }
        if s.contains(char::is_whitespace) {
            return Err(DebVersionError::EmbeddedSpaces);
        }
        let v = Self::split(s);
        if let Some((epoch, _)) = s.split_once(':') {
            if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
                return Err(DebVersionError::BadEpoch);
            }
            // dpkg rejects epochs above INT_MAX.
            if epoch.parse::<i32>().is_err() {
                return Err(DebVersionError::BadEpoch);
            }
        }
        if v.upstream.is_empty() {
            return Err(DebVersionError::EmptyUpstream);
        }
        if !v.upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(DebVersionError::NoLeadingDigit);
        }
        if !v
            .upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+~:".contains(&b))
        {
            return Err(DebVersionError::BadUpstreamChar);
        }
        if !v
            .revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
        {
            return Err(DebVersionError::BadRevisionChar);
        }
        Ok(v)
    }

    /// Splits without checking, the way dpkg's Perl `Dpkg::Version` does for comparison:
    /// an all-digit prefix before the first `:` is the epoch, the text after the last `-`
    /// the revision.
    pub fn split(s: &str) -> Self {
        let s = s.trim();
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                // An epoch too large for u32 saturates: it still sorts above all others.
                (e.parse().unwrap_or(u32::MAX), rest)
            }
            _ => (0, s),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        }
    }
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(&self.upstream, &other.upstream))
            .then_with(|| verrevcmp(&self.revision, &other.revision))
    }
}

impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders two Debian versions like `dpkg --compare-versions`; invalid strings are split
/// leniently (see [`DebVersion::split`]) rather than rejected.
pub fn compare_deb(a: &str, b: &str) -> Ordering {
    DebVersion::split(a).cmp(&DebVersion::split(b))
}

/// dpkg's character weight: `~` before the end of the string, the end before letters,
/// letters before everything else.
fn deb_order(c: u8) -> i32 {
    match c {
        b'0'..=b'9' | 0 => 0,
        b'~' => -1,
        c if c.is_ascii_alphabetic() => i32::from(c),
        c => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternate non-digit runs (by [`deb_order`]) and digit runs (by value).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |i: usize| a.get(i).copied().unwrap_or(0);
    let bt = |j: usize| b.get(j).copied().unwrap_or(0);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !at(i).is_ascii_digit()) || (j < b.len() && !bt(j).is_ascii_digit()) {
            let (ac, bc) = (deb_order(at(i)), deb_order(bt(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(i) == b'0' {
            i += 1;
        }
        while bt(j) == b'0' {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while at(i).is_ascii_digit() && bt(j).is_ascii_digit() {
            if first_diff == Ordering::Equal {
                first_diff = at(i).cmp(&bt(j));
            }
            i += 1;
            j += 1;
        }
        if at(i).is_ascii_digit() {
            return Ordering::Greater;
        }
        if bt(j).is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

// ---------------------------------------------------------------------------------------
// RPM

/// Orders two RPM `[epoch:]version[-release]` strings like rpm: epochs (absent = 0), then
/// versions by [`rpmvercmp`], then releases by [`rpmvercmp`] when both sides have one.
pub fn compare_rpm(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

fn split_evr(s: &str) -> (u64, &str, Option<&str>) {
    let s = s.trim();
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, s),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v, Some(r)),
        None => (epoch, rest, None),
    }
}

/// rpm's `rpmvercmp` on one version or release string: alphanumeric segments, digits by
/// value and beating letters, `~` sorting before everything (even the end), `^` after the
/// end but before anything else.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(first), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = first.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|c| class(c)).count();
        let (mut seg_a, mut seg_b) = (&a[i..end_a], &b[j..end_b]);
        // One numeric and one alphabetic segment: the numeric one is newer.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            seg_a = trim_zeros(seg_a);
            seg_b = trim_zeros(seg_b);
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    // Segments all equal: whichever has characters left wins.
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

// ---------------------------------------------------------------------------------------
// Semver

/// A parsed semantic version (build metadata is kept out: it has no precedence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    /// MAJOR, MINOR, PATCH.
    pub core: [u64; 3],
    /// Dot-separated pre-release identifiers (empty for a release).
    pub pre: Vec<String>,
}

impl Semver {
    /// Parses `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, with an optional leading `v`; `None` when
    /// the string is not semver 2.0.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s
            .split_once('+')
            .map_or(s, |(v, build)| if build.is_empty() { "" } else { v });
        let (core, pre) = match s.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (s, None),
        };
        let mut parts = core.split('.');
        let mut nums = [0u64; 3];
        for n in &mut nums {
            *n = numeric_identifier(parts.next()?)?;
        }
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => {
                let ids: Vec<String> = pre.split('.').map(str::to_string).collect();
                let valid = ids.iter().all(|id| {
                    !id.is_empty()
                        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && (!id.bytes().all(|b| b.is_ascii_digit())
                            || numeric_identifier(id).is_some())
                });
                if !valid {
                    return None;
                }
                ids
            }
        };
        Some(Self { core: nums, pre })
    }
}

/// A semver numeric identifier: digits without a leading zero.
fn numeric_identifier(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (x, y) in self.pre.iter().zip(&other.pre) {
                        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Orders by semver precedence when both strings are semver, else by [`compare_numeric`].
pub fn compare_semver(a: &str, b: &str) -> Ordering {
    match (Semver::parse(a), Semver::parse(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => compare_numeric(a, b),
    }
}

// ---------------------------------------------------------------------------------------
// Numeric segments

/// Orders by the runs of ASCII digits, compared as numbers of any length from left to
/// right; when one list is a prefix of the other, the longer is greater. Other characters
/// are ignored, so `1.2a` and `1.2b` are equal.
pub fn compare_numeric(a: &str, b: &str) -> Ordering {
    let (ra, rb) = (digit_runs(a), digit_runs(b));
    for (x, y) in ra.iter().zip(&rb) {
        let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
        if o != Ordering::Equal {
            return o;
        }
    }
    ra.len().cmp(&rb.len())
}

fn digit_runs(s: &str) -> Vec<&[u8]> {
    s.as_bytes()
        .split(|c| !c.is_ascii_digit())
        .filter(|r| !r.is_empty())
        .map(trim_zeros)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_weights_follow_dpkg() {
        assert!(deb_order(b'~') < deb_order(0));
        assert!(deb_order(0) < deb_order(b'a'));
        assert!(deb_order(b'z') < deb_order(b'+'));
        assert_eq!(deb_order(b'5'), 0);
    }

    #[test]
    fn huge_epochs_saturate() {
        assert_eq!(DebVersion::split("99999999999:1").epoch, u32::MAX);
        assert_eq!(
            compare_rpm("99999999999999999999999:1", "5:1"),
            Ordering::Greater
        );
    }

    #[test]
    fn semver_rejects_malformed() {
        for s in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-",
            "1.2.3-a..b",
            "1.2.3-01",
            "1.2.3+",
            "x.y.z",
        ] {
            assert_eq!(Semver::parse(s), None, "{s}");
        }
        assert_eq!(
            Semver::parse("v1.2.3-rc.1+build.5"),
            Some(Semver {
                core: [1, 2, 3],
                pre: vec!["rc".into(), "1".into()]
            })
        );
    }
}
