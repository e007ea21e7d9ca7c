//! A small `~/.ssh/config` reader: `Host` blocks with `HostName`, `User`, `Port`,
//! `IdentityFile` and `ProxyJump`; input the file's text, output the settings for one alias.
//!
//! A crate exists (`ssh2-config`) but pulls in more than these six keywords need; OpenSSH's
//! rules kept here: the first value obtained for a keyword wins, `IdentityFile` accumulates,
//! `Host` patterns take `*`, `?` and `!`, `Match` blocks are skipped (not evaluated).

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

#[derive(Debug, Clone)]
struct Block {
    patterns: Vec<(String, bool)>,
    /// A `Match` block: never applied.
    skip: bool,
    settings: Vec<(String, String)>,
}

/// A parsed ssh config file.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    blocks: Vec<Block>,
    home: Option<PathBuf>,
}

impl SshConfig {
    /// Reads a file; a missing file is an empty config.
    pub fn load(path: &Path, home: Option<PathBuf>) -> Result<Self, TransportError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::parse(&text, home)),
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
            patterns: vec![("*".into(), false)],
            skip: false,
            settings: Vec::new(),
        }];
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = split_keyword(line);
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "host" => blocks.push(Block {
                    patterns: value
                        .split_whitespace()
                        .map(|p| match p.strip_prefix('!') {
                            Some(n) => (n.to_string(), true),
                            None => (p.to_string(), false),
                        })
                        .collect(),
                    skip: false,
                    settings: Vec::new(),
                }),
                "match" => blocks.push(Block {
                    patterns: Vec::new(),
                    skip: true,
                    settings: Vec::new(),
                }),
                _ => {
                    if let Some(b) = blocks.last_mut() {
                        b.settings.push((key, unquote(value)));
                    }
                }
            }
        }
        Self { blocks, home }
    }

    /// The settings for `alias`.
    pub fn host(&self, alias: &str) -> HostConfig {
        let mut out = HostConfig::default();
        for block in &self.blocks {
            if block.skip || !block_matches(&block.patterns, alias) {
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

    #[test]
    fn proxy_jump_none_and_missing_file() {
        assert!(parse_proxy_jump("none").is_empty());
        let c = SshConfig::load(Path::new("/nonexistent/ssh/config"), None).unwrap();
        assert_eq!(c.host("x"), HostConfig::default());
    }
}
