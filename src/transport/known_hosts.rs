//! known_hosts as our own index: parses OpenSSH files (plain and hashed `|1|` entries,
//! `[host]:port`, wildcards, negation, `@revoked`) once per run and answers "is this key the
//! recorded one for this host?"; under `accept-new` it appends unknown keys.
//!
//! Why not `ssh2::KnownHosts`: it is not `Send`, so it cannot live across an `.await` in a
//! multi-threaded runtime; this index is plain data (`Send + Sync`) and the check is a
//! synchronous call made right after the handshake, before the next `.await`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64ct::{Base64, Base64Unpadded, Encoding as _};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Digest as _;

use super::TransportError;

/// What to do with a host whose key is not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown and changed keys (the default).
    #[default]
    Strict,
    /// Record unknown keys; still refuse changed ones.
    AcceptNew,
}

#[derive(Debug, Clone)]
enum Pattern {
    /// Comma-separated patterns, each maybe negated (`!`), maybe with `*`/`?`.
    Plain(Vec<(String, bool)>),
    /// `|1|salt|hash`: HMAC-SHA1(salt, host).
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
struct Entry {
    pattern: Pattern,
    marker: Marker,
    key_type: String,
    blob: Vec<u8>,
    source: String,
}

/// The verdict for one presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A recorded key matches.
    Known,
    /// Nothing recorded for this host.
    Unknown,
    /// Keys are recorded for this host but none matches, or the key is revoked.
    Changed {
        /// Recorded key type and fingerprint.
        expected: String,
        /// `file:line` of the recorded entry.
        known_at: String,
    },
}

/// The index of every known_hosts file given, loaded once.
#[derive(Debug)]
pub struct KnownHosts {
    entries: Mutex<Vec<Entry>>,
    write_to: Option<PathBuf>,
    policy: HostKeyPolicy,
}

/// The SHA-256 fingerprint of a key blob, as OpenSSH prints it (`SHA256:` + unpadded base64).
pub fn fingerprint(blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        Base64Unpadded::encode_string(&sha2::Sha256::digest(blob))
    )
}

/// The name a host is recorded under: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Loads `files` (missing files are skipped: an empty index refuses every host under
    /// `strict`). New keys are appended to `write_to` under `accept-new`.
    pub fn load(
        files: &[PathBuf],
        write_to: Option<PathBuf>,
        policy: HostKeyPolicy,
    ) -> Result<Self, TransportError> {
        let mut entries = Vec::new();
        for path in files {
            match std::fs::read_to_string(path) {
                Ok(text) => entries.extend(parse(&text, path)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(TransportError::Config {
                        path: path.clone(),
                        message: format!("cannot read known_hosts: {e}"),
                    })
                }
            }
        }
        Ok(Self {
            entries: Mutex::new(entries),
            write_to,
            policy,
        })
    }

    /// Parses known_hosts text directly (for tests and in-memory fleets).
    pub fn from_text(text: &str, policy: HostKeyPolicy) -> Self {
        Self {
            entries: Mutex::new(parse(text, Path::new("<memory>"))),
            write_to: None,
            policy,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> HostKeyPolicy {
        self.policy
    }

    /// Key types recorded for any of `names` (to ask the server for a key we can check).
    pub fn known_types(&self, names: &[String]) -> Vec<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut types: Vec<String> = Vec::new();
        for e in entries.iter().filter(|e| e.marker == Marker::None) {
            if names.iter().any(|n| e.pattern.matches(n)) && !types.contains(&e.key_type) {
                types.push(e.key_type.clone());
            }
        }
        types
    }

    /// Checks a presented key against the entries for any of `names` (e.g. `[addr]:port` and
    /// the inventory name).
    pub fn verdict(&self, names: &[String], blob: &[u8]) -> Verdict {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut first_other: Option<&Entry> = None;
        for e in entries.iter() {
            if e.marker == Marker::CertAuthority || !names.iter().any(|n| e.pattern.matches(n)) {
                continue;
            }
            if e.blob == blob {
                if e.marker == Marker::Revoked {
                    return Verdict::Changed {
                        expected: "this key marked @revoked".into(),
                        known_at: e.source.clone(),
                    };
                }
                return Verdict::Known;
            }
            if e.marker == Marker::None && first_other.is_none() {
                first_other = Some(e);
            }
        }
        match first_other {
            Some(e) => Verdict::Changed {
                expected: format!("{} {}", e.key_type, fingerprint(&e.blob)),
                known_at: e.source.clone(),
            },
            None => Verdict::Unknown,
        }
    }

    /// Checks the key and applies the policy: `Ok` to proceed, or the error to report.
    /// `names[0]` is what a new entry is recorded under.
    pub fn check(
        &self,
        host: &str,
        names: &[String],
        key_type: &str,
        blob: &[u8],
    ) -> Result<(), TransportError> {
        match self.verdict(names, blob) {
            Verdict::Known => Ok(()),
            Verdict::Changed { expected, known_at } => Err(TransportError::HostKeyChanged {
                host: host.to_string(),
                key_type: key_type.to_string(),
                fingerprint: fingerprint(blob),
                expected,
                known_at,
            }),
            Verdict::Unknown => match self.policy {
                HostKeyPolicy::Strict => Err(TransportError::HostKeyUnknown {
                    host: host.to_string(),
                    key_type: key_type.to_string(),
                    fingerprint: fingerprint(blob),
                }),
                HostKeyPolicy::AcceptNew => self.record(&names[..1], key_type, blob),
            },
        }
    }

    fn record(&self, names: &[String], key_type: &str, blob: &[u8]) -> Result<(), TransportError> {
        let line = format!(
            "{} {} {}",
            names.join(","),
            key_type,
            Base64::encode_string(blob)
        );
        // Held across the append too: hosts connecting at once record their keys one at a
        // time, and each line goes out in one write (a `writeln!` on a `File` may split the
        // line and its newline into two writes that another appender can land between).
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let source = match &self.write_to {
            Some(path) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()).map(|()| f))
                    .map_err(|e| TransportError::Config {
                        path: path.clone(),
                        message: format!("cannot record new host key: {e}"),
                    })?;
                let _ = f.flush();
                format!("{} (added)", path.display())
            }
            None => "<memory> (added)".to_string(),
        };
        entries.extend(parse(&line, Path::new(&source)));
        Ok(())
    }
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Hashed { salt, hash } => {
                let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.finalize().into_bytes().as_slice() == hash.as_slice()
            }
            Pattern::Plain(list) => {
                let mut hit = false;
                for (p, negated) in list {
                    if wildcard(p.as_bytes(), name.as_bytes()) {
                        if *negated {
                            return false;
                        }
                        hit = true;
                    }
                }
                hit
            }
        }
    }
}

/// `*` and `?` matching, case-insensitive as host names are.
pub(crate) fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

fn parse(text: &str, path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or_default();
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next().unwrap_or_default();
        }
        let (Some(key_type), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(blob) = Base64::decode_vec(b64) else {
            continue;
        };
        let pattern = if let Some(rest) = first.strip_prefix("|1|") {
            let mut parts = rest.split('|');
            match (
                parts.next().and_then(|s| Base64::decode_vec(s).ok()),
                parts.next().and_then(|s| Base64::decode_vec(s).ok()),
            ) {
                (Some(salt), Some(hash)) => Pattern::Hashed { salt, hash },
                _ => continue,
            }
        } else {
            Pattern::Plain(
                first
                    .split(',')
                    .map(|p| match p.strip_prefix('!') {
                        Some(n) => (n.to_string(), true),
                        None => (p.to_string(), false),
                    })
                    .collect(),
            )
        };
        out.push(Entry {
            pattern,
            marker,
            key_type: key_type.to_string(),
            blob,
            source: format!("{}:{}", path.display(), i + 1),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBmpHaU0Yl5hDqvlD2JTkXp0aGc7wUPVxVhNrsQuHrLk";

    fn blob(b64: &str) -> Vec<u8> {
        Base64::decode_vec(b64).unwrap()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_bracketed_and_wildcard_entries() {
        let kh = KnownHosts::from_text(
            &format!(
                "# comment\nweb01,10.0.0.1 ssh-ed25519 {KEY_A}\n[10.0.0.2]:2222 ssh-ed25519 {KEY_B}\n\
                 *.example.com,!bad.example.com ssh-ed25519 {KEY_A}\n"
            ),
            HostKeyPolicy::Strict,
        );
        assert_eq!(
            kh.verdict(&names(&["10.0.0.1"]), &blob(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            kh.verdict(&names(&["[10.0.0.2]:2222"]), &blob(KEY_B)),
            Verdict::Known
        );
        assert_eq!(
            kh.verdict(&names(&["10.0.0.2"]), &blob(KEY_B)),
            Verdict::Unknown
        );
        assert_eq!(
            kh.verdict(&names(&["a.Example.com"]), &blob(KEY_A)),
            Verdict::Known
        );
        assert_eq!(
            kh.verdict(&names(&["bad.example.com"]), &blob(KEY_A)),
            Verdict::Unknown
        );
        assert!(matches!(
            kh.verdict(&names(&["web01"]), &blob(KEY_B)),
            Verdict::Changed { known_at, .. } if known_at == "<memory>:2"
        ));
    }

    #[test]
    fn hashed_entries_match_by_hmac() {
        // Produced by `ssh-keygen -H` for host `web01`, salt = 20 bytes of 0x01.
        let salt = vec![1u8; 20];
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&salt).unwrap();
        mac.update(b"web01");
        let hash = mac.finalize().into_bytes();
        let line = format!(
            "|1|{}|{} ssh-ed25519 {KEY_A}",
            Base64::encode_string(&salt),
            Base64::encode_string(&hash)
        );
        let kh = KnownHosts::from_text(&line, HostKeyPolicy::Strict);
        assert_eq!(kh.verdict(&names(&["web01"]), &blob(KEY_A)), Verdict::Known);
        assert_eq!(
            kh.verdict(&names(&["web02"]), &blob(KEY_A)),
            Verdict::Unknown
        );
    }

    #[test]
    fn strict_refuses_unknown_with_fingerprint_and_accept_new_records() {
        let kh = KnownHosts::from_text("", HostKeyPolicy::Strict);
        let err = kh
            .check("web01", &names(&["web01"]), "ssh-ed25519", &blob(KEY_A))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("web01") && msg.contains("ssh-ed25519"),
            "{msg}"
        );
        assert!(msg.contains(&fingerprint(&blob(KEY_A))), "{msg}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let kh = KnownHosts::load(
            std::slice::from_ref(&path),
            Some(path.clone()),
            HostKeyPolicy::AcceptNew,
        )
        .unwrap();
        kh.check("h", &names(&["[h]:2222"]), "ssh-ed25519", &blob(KEY_A))
            .unwrap();
        assert_eq!(
            kh.verdict(&names(&["[h]:2222"]), &blob(KEY_A)),
            Verdict::Known
        );
        let changed = kh.check("h", &names(&["[h]:2222"]), "ssh-ed25519", &blob(KEY_B));
        assert!(matches!(
            changed,
            Err(TransportError::HostKeyChanged { .. })
        ));
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, format!("[h]:2222 ssh-ed25519 {KEY_A}\n"));
        let reloaded = KnownHosts::load(&[path], None, HostKeyPolicy::Strict).unwrap();
        assert_eq!(
            reloaded.verdict(&names(&["[h]:2222"]), &blob(KEY_A)),
            Verdict::Known
        );
    }

    #[test]
    fn hosts_recording_keys_at_once_write_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let kh = std::sync::Arc::new(
            KnownHosts::load(
                std::slice::from_ref(&path),
                Some(path.clone()),
                HostKeyPolicy::AcceptNew,
            )
            .unwrap(),
        );
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let kh = std::sync::Arc::clone(&kh);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let name = format!("[h{t}-{i}]:2222");
                        kh.check("h", &names(&[&name]), "ssh-ed25519", &blob(KEY_A))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written.lines().count(), 200, "{written}");
        assert!(
            written
                .lines()
                .all(|l| l.ends_with(KEY_A) && l.matches("ssh-ed25519").count() == 1),
            "{written}"
        );
    }

    #[test]
    fn revoked_key_is_refused_and_fingerprint_format_matches_openssh() {
        let kh = KnownHosts::from_text(
            &format!("@revoked * ssh-ed25519 {KEY_A}\n"),
            HostKeyPolicy::AcceptNew,
        );
        assert!(kh
            .check("x", &names(&["x"]), "ssh-ed25519", &blob(KEY_A))
            .is_err());
        assert!(fingerprint(&blob(KEY_A)).starts_with("SHA256:"));
        assert!(!fingerprint(&blob(KEY_A)).ends_with('='));
        assert_eq!(host_pattern("a", 22), "a");
        assert_eq!(host_pattern("a", 2222), "[a]:2222");
    }
}
