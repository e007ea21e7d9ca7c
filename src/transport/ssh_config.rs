//! A small `~/.ssh/config` reader: `Host` and `Match` blocks with `HostName`, `User`, `Port`,
//! `IdentityFile` and `ProxyJump`; input the file's text, output the settings for one alias.
//!
//! A crate exists (`ssh2-config`) but pulls in more than these keywords need and does not
//! evaluate `Match`; OpenSSH's rules kept here: one pass in file order, the first value
//! obtained for a keyword wins, `IdentityFile` accumulates, patterns take `*`, `?` and `!`.
//! `Match` evaluates `all`, `host` (the host name as resolved so far), `originalhost` (the
//! alias), `user` (the remote user as resolved so far) and `localuser`, each negatable with
//! `!`; a block with any other criterion (`exec`, `canonical`, `final`, `tagged`, ...) is
//! skipped with one warning when the file is loaded.

use std::path::{Path, PathBuf};

use super::known_hosts::wildcard;
use super::{HostSpec, TransportError};

/// The settings that apply to one host alias.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// `HostName`.
    pub host_name: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// `IdentityFile`, in order.
    pub identity_files: Vec<PathBuf>,
    /// `ProxyJump` hops, outermost first (`none` gives an empty list).
    pub proxy_jump: Option<Vec<HostSpec>>,
}

/// What is known about a host before the config is read: an explicit address and user win
/// over the config's, and take part in `Match host` / `Match user`.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The address the inventory gives, if any.
    pub address: Option<String>,
    /// The remote user the inventory gives, if any.
    pub user: Option<String>,
    /// The remote user when neither the inventory nor the config names one.
    pub fallback_user: Option<String>,
    /// The local user (`Match localuser`).
    pub local_user: Option<String>,
}

/// Patterns with their negation flag (`!pattern`).
type Patterns = Vec<(String, bool)>;

#[derive(Debug, Clone)]
enum Criterion {
    All,
    Host(Patterns),
    OriginalHost(Patterns),
    User(Patterns),
    LocalUser(Patterns),
}

#[derive(Debug, Clone)]
enum Condition {
    Host(Patterns),
    /// Every criterion must hold; the flag negates one.
    Match(Vec<(Criterion, bool)>),
    /// A `Match` this reader cannot evaluate: never applied.
    Skipped,
}

#[derive(Debug, Clone)]
struct Block {
    condition: Condition,
    settings: Vec<(String, String)>,
}

/// A parsed ssh config file.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    home: Option<PathBuf>,
    skipped: Vec<String>,
}

impl SshConfig {
    /// Reads a file; a missing file is an empty config.
    pub fn load(path: &Path, home: Option<PathBuf>) -> Result<Self, TransportError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let config = Self::parse(&text, home);
                for line in &config.skipped {
                    tracing::warn!(
                        file = %path.display(),
                        "ssh config: skipping `{line}`: only `Match all`, `host`, \
                         `originalhost`, `user` and `localuser` are evaluated"
                    );
                }
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(TransportError::Config {
                path: path.to_path_buf(),
                message: format!("cannot read ssh config: {e}"),
            }),
        }
    }

    /// Parses config text. `home` expands `~/` in `IdentityFile`.
    pub fn parse(text: &str, home: Option<PathBuf>) -> Self {
        // Settings before the first Host line apply to every host.
        let mut blocks = vec![Block {
            condition: Condition::Host(vec![("*".into(), false)]),
            settings: Vec::new(),
        }];
        let mut skipped = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = split_keyword(line);
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "host" => blocks.push(Block {
                    condition: Condition::Host(patterns(value.split_whitespace())),
                    settings: Vec::new(),
                }),
                "match" => {
                    let condition = parse_match(value).unwrap_or_else(|| {
                        skipped.push(line.to_string());
                        Condition::Skipped
                    });
                    blocks.push(Block {
                        condition,
                        settings: Vec::new(),
                    });
                }
                _ => {
                    if let Some(b) = blocks.last_mut() {
                        b.settings.push((key, unquote(value)));
                    }
                }
            }
        }
        Self {
            blocks,
            home,
            skipped,
        }
    }

    /// The `Match` lines that are skipped because a criterion cannot be evaluated.
    pub fn skipped_matches(&self) -> &[String] {
        &self.skipped
    }

    /// The settings for `alias` knowing nothing else about it.
    pub fn host(&self, alias: &str) -> HostConfig {
        self.host_for(alias, &Given::default())
    }

    /// The settings for `alias`, with what the inventory already says about it.
    pub fn host_for(&self, alias: &str, given: &Given) -> HostConfig {
        let mut out = HostConfig::default();
        for block in &self.blocks {
            let applies = match &block.condition {
                Condition::Host(p) => block_matches(p, alias),
                Condition::Match(criteria) => criteria
                    .iter()
                    .all(|(c, negated)| self.holds(c, alias, given, &out) != *negated),
                Condition::Skipped => false,
            };
            if !applies {
                continue;
            }
            for (key, value) in &block.settings {
                match key.as_str() {
                    "hostname" if out.host_name.is_none() => {
                        out.host_name = Some(value.replace("%h", alias));
                    }
                    "user" if out.user.is_none() => out.user = Some(value.clone()),
                    "port" if out.port.is_none() => out.port = value.parse().ok(),
                    "identityfile" => out.identity_files.push(self.expand(value, alias)),
                    "proxyjump" if out.proxy_jump.is_none() => {
                        out.proxy_jump = Some(parse_proxy_jump(value));
                    }
                    _ => {}
                }
            }
        }
        out
    }

    fn holds(&self, c: &Criterion, alias: &str, given: &Given, so_far: &HostConfig) -> bool {
        let host = given
            .address
            .as_deref()
            .or(so_far.host_name.as_deref())
            .unwrap_or(alias);
        let user = given
            .user
            .as_deref()
            .or(so_far.user.as_deref())
            .or(given.fallback_user.as_deref());
        match c {
            Criterion::All => true,
            Criterion::Host(p) => block_matches(p, host),
            Criterion::OriginalHost(p) => block_matches(p, alias),
            Criterion::User(p) => user.is_some_and(|u| block_matches(p, u)),
            Criterion::LocalUser(p) => given
                .local_user
                .as_deref()
                .is_some_and(|u| block_matches(p, u)),
        }
    }

    fn expand(&self, value: &str, alias: &str) -> PathBuf {
        let value = value.replace("%h", alias).replace("%%", "%");
        match (value.strip_prefix("~/"), &self.home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(value),
        }
    }
}

fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (k, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    (k, rest)
}

fn unquote(v: &str) -> String {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

fn patterns<'a>(words: impl Iterator<Item = &'a str>) -> Patterns {
    words
        .map(|p| match p.strip_prefix('!') {
            Some(n) => (n.to_string(), true),
            None => (p.to_string(), false),
        })
        .collect()
}

/// The criteria of a `Match` line, or `None` when one cannot be evaluated here.
fn parse_match(value: &str) -> Option<Condition> {
    let mut words = value.split_whitespace();
    let mut criteria = Vec::new();
    while let Some(word) = words.next() {
        let (negated, name) = match word.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, word),
        };
        let name = name.to_ascii_lowercase();
        let criterion = if name == "all" {
            Criterion::All
        } else {
            let list = patterns(words.next()?.split(','));
            match name.as_str() {
                "host" => Criterion::Host(list),
                "originalhost" => Criterion::OriginalHost(list),
                "user" => Criterion::User(list),
                "localuser" => Criterion::LocalUser(list),
                _ => return None,
            }
        };
        criteria.push((criterion, negated));
    }
    (!criteria.is_empty()).then_some(Condition::Match(criteria))
}

fn block_matches(patterns: &[(String, bool)], alias: &str) -> bool {
    let mut hit = false;
    for (p, negated) in patterns {
        if wildcard(p.as_bytes(), alias.as_bytes()) {
            if *negated {
                return false;
            }
            hit = true;
        }
    }
    hit
}

/// Parses `ProxyJump` (`[user@]host[:port],...` or `none`).
pub fn parse_proxy_jump(value: &str) -> Vec<HostSpec> {
    if value.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|hop| {
            let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
            let (user, rest) = match hop.rsplit_once('@') {
                Some((u, r)) => (Some(u.to_string()), r),
                None => (None, hop),
            };
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                    (h.trim_matches(['[', ']']), p.parse().ok())
                }
                _ => (rest, None),
            };
            HostSpec {
                user,
                port,
                ..HostSpec::new(host)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
User fallback
# comment
Host web* !web9
  HostName %h.internal
  Port 2222
  IdentityFile ~/.ssh/web_ed25519
Host *
  User=ops
  IdentityFile \"~/.ssh/id_ed25519\"
  ProxyJump admin@bastion:2200,hop2
Match host foo
  User nobody
";

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let c = SshConfig::parse(CONFIG, Some(PathBuf::from("/home/u")));
        let h = c.host("web1");
        assert_eq!(h.host_name.as_deref(), Some("web1.internal"));
        assert_eq!(h.port, Some(2222));
        assert_eq!(h.user.as_deref(), Some("fallback"));
        assert_eq!(
            h.identity_files,
            vec![
                PathBuf::from("/home/u/.ssh/web_ed25519"),
                PathBuf::from("/home/u/.ssh/id_ed25519")
            ]
        );
        let jump = h.proxy_jump.unwrap();
        assert_eq!(jump.len(), 2);
        assert_eq!(jump[0].name, "bastion");
        assert_eq!(jump[0].user.as_deref(), Some("admin"));
        assert_eq!(jump[0].port, Some(2200));
        assert_eq!(jump[1].name, "hop2");
        let h9 = c.host("web9");
        assert_eq!(h9.host_name, None);
        assert_eq!(h9.port, None);
    }

    const MATCHES: &str = "\
Match originalhost db* user deploy
  Port 2201
Match host *.internal !localuser root
  IdentityFile ~/.ssh/internal
Host db1
  HostName db1.internal
Match exec \"test -f /x\"
  Port 9
Match all
  User fallback
  Port 2202
";

    #[test]
    fn match_blocks_are_evaluated_in_order_with_what_is_known_so_far() {
        let c = SshConfig::parse(MATCHES, Some(PathBuf::from("/home/u")));
        assert_eq!(c.skipped_matches(), ["Match exec \"test -f /x\""]);
        let given = |user: Option<&str>, local: &str| Given {
            user: user.map(str::to_string),
            local_user: Some(local.to_string()),
            ..Given::default()
        };
        // `user deploy` holds only for an inventory user of deploy.
        let deploy = c.host_for("db1", &given(Some("deploy"), "me"));
        assert_eq!(deploy.port, Some(2201));
        // `host *.internal` is tested before `HostName` is set: it does not hold yet.
        assert!(deploy.identity_files.is_empty());
        assert_eq!(deploy.host_name.as_deref(), Some("db1.internal"));
        let other = c.host_for("db1", &given(None, "me"));
        assert_eq!(other.port, Some(2202));
        assert_eq!(other.user.as_deref(), Some("fallback"));
        // An explicit address takes part in `Match host`; `!localuser root` negates.
        let internal = Given {
            address: Some("web.internal".into()),
            ..given(None, "me")
        };
        assert_eq!(
            c.host_for("web", &internal).identity_files,
            vec![PathBuf::from("/home/u/.ssh/internal")]
        );
        let as_root = Given {
            local_user: Some("root".into()),
            ..internal
        };
        assert!(c.host_for("web", &as_root).identity_files.is_empty());
    }

    #[test]
    fn unsupported_or_malformed_match_is_skipped() {
        for line in ["Match canonical", "Match host", "Match", "Match final all"] {
            let c = SshConfig::parse(&format!("{line}\n  Port 1\n"), None);
            assert_eq!(c.skipped_matches(), [line], "{line}");
            assert_eq!(c.host("x").port, None, "{line}");
        }
    }

    #[test]
    fn proxy_jump_none_and_missing_file() {
        assert!(parse_proxy_jump("none").is_empty());
        let c = SshConfig::load(Path::new("/nonexistent/ssh/config"), None).unwrap();
        assert_eq!(c.host("x"), HostConfig::default());
    }
}
