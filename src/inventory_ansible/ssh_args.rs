//! The jump host hidden in `ansible_ssh_common_args`: `-o ProxyJump=…`, `-J …` or a
//! `ProxyCommand` of the form `ssh -W %h:%p [user@]bastion`, parsed into hops.

/// One hop of a ProxyJump chain: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hop {
    pub host: String,
    pub user: Option<String>,
    pub port: Option<u16>,
}

/// What the SSH arguments say about jumping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Jump {
    /// Hops in connection order: the target's `jump` is the last one.
    pub hops: Vec<Hop>,
    /// True when the arguments held nothing but the jump, so they carry no other meaning.
    pub only_jump: bool,
}

/// Splits a command line the way a POSIX shell would (quotes and backslashes; no expansion).
pub(super) fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unclosed `'`".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unclosed `\"`".to_string()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unclosed `\"`".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Finds the jump in SSH arguments; `Ok(None)` when they name none.
///
/// # Errors
/// A reason when the arguments cannot be split or the jump is malformed.
pub(super) fn find_jump(args: &str) -> Result<Option<Jump>, String> {
    let words = shell_split(args)?;
    let mut found: Option<Vec<Hop>> = None;
    let mut other = false;
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let (spec, used) = if w == "-J" {
            (words.get(i + 1).cloned(), 2)
        } else if let Some(rest) = w.strip_prefix("-J") {
            (Some(rest.to_string()), 1)
        } else if w == "-o" {
            (words.get(i + 1).and_then(|o| option_jump(o)), 2)
        } else if let Some(rest) = w.strip_prefix("-o") {
            (option_jump(rest), 1)
        } else {
            (None, 1)
        };
        match spec {
            Some(spec) => found = Some(parse_hops(&spec)?),
            None => other = true,
        }
        i += used;
    }
    Ok(found.map(|hops| Jump {
        hops,
        only_jump: !other,
    }))
}

/// The jump spec of one `-o` option, if it is `ProxyJump` or an `ssh -W` `ProxyCommand`.
fn option_jump(opt: &str) -> Option<String> {
    let (key, value) = opt
        .split_once('=')
        .or_else(|| opt.split_once(char::is_whitespace))?;
    let value = value.trim();
    if key.trim().eq_ignore_ascii_case("ProxyJump") {
        return (!value.eq_ignore_ascii_case("none")).then(|| value.to_string());
    }
    if key.trim().eq_ignore_ascii_case("ProxyCommand") {
        return proxy_command_host(value);
    }
    None
}

/// `ssh -W %h:%p [-q] [-p PORT] [-l USER] [user@]bastion` → `[user@]bastion[:port]`.
fn proxy_command_host(cmd: &str) -> Option<String> {
    let words = shell_split(cmd).ok()?;
    let prog = words.first()?;
    if !(prog == "ssh" || prog.ends_with("/ssh")) || !words.iter().any(|w| w == "-W") {
        return None;
    }
    let mut port = None;
    let mut user = None;
    let mut host = None;
    let mut i = 1;
    while i < words.len() {
        match words[i].as_str() {
            "-W" | "-i" | "-F" | "-o" => i += 1,
            "-p" => {
                port = words.get(i + 1).cloned();
                i += 1;
            }
            "-l" => {
                user = words.get(i + 1).cloned();
                i += 1;
            }
            w if w.starts_with('-') => {}
            w => host = Some(w.to_string()),
        }
        i += 1;
    }
    let host = host?;
    let mut spec = match user {
        Some(u) if !host.contains('@') => format!("{u}@{host}"),
        _ => host,
    };
    if let Some(p) = port {
        spec = format!("{spec}:{p}");
    }
    Some(spec)
}

fn parse_hops(spec: &str) -> Result<Vec<Hop>, String> {
    spec.split(',').map(|hop| parse_hop(hop.trim())).collect()
}

fn parse_hop(hop: &str) -> Result<Hop, String> {
    let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
    let (user, rest) = match hop.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, hop),
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port number in jump host `{hop}`"))?;
            (h, Some(port))
        }
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("jump host `{hop}` has no host name"));
    }
    Ok(Hop {
        host: host.to_string(),
        user,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(host: &str, user: Option<&str>, port: Option<u16>) -> Hop {
        Hop {
            host: host.to_string(),
            user: user.map(str::to_string),
            port,
        }
    }

    #[test]
    fn proxyjump_forms() {
        let j = find_jump("-o ProxyJump=bastion.fra1").ok().flatten();
        assert_eq!(
            j,
            Some(Jump {
                hops: vec![hop("bastion.fra1", None, None)],
                only_jump: true
            })
        );
        let j = find_jump("-o 'ProxyJump ops@gw:2222' -o StrictHostKeyChecking=no")
            .ok()
            .flatten();
        assert_eq!(
            j,
            Some(Jump {
                hops: vec![hop("gw", Some("ops"), Some(2222))],
                only_jump: false
            })
        );
        let j = find_jump("-J a,b").ok().flatten().map(|j| j.hops);
        assert_eq!(j, Some(vec![hop("a", None, None), hop("b", None, None)]));
        let j = find_jump("-Jbastion").ok().flatten().map(|j| j.hops);
        assert_eq!(j, Some(vec![hop("bastion", None, None)]));
    }

    #[test]
    fn proxycommand_with_ssh_w() {
        let j = find_jump(r#"-o ProxyCommand="ssh -W %h:%p -q jump@bastion.fra1""#)
            .ok()
            .flatten()
            .map(|j| j.hops);
        assert_eq!(j, Some(vec![hop("bastion.fra1", Some("jump"), None)]));
        let j = find_jump(r#"-o ProxyCommand="ssh -p 2200 -W %h:%p gw""#)
            .ok()
            .flatten()
            .map(|j| j.hops);
        assert_eq!(j, Some(vec![hop("gw", None, Some(2200))]));
        // A ProxyCommand that is not `ssh -W` is not a jump host sflow can use.
        assert_eq!(
            find_jump("-o ProxyCommand='nc -X 5 %h %p'").ok(),
            Some(None)
        );
    }

    #[test]
    fn no_jump_and_errors() {
        assert_eq!(find_jump("-o StrictHostKeyChecking=no").ok(), Some(None));
        assert_eq!(find_jump("-o ProxyJump=none").ok(), Some(None));
        assert!(find_jump("-o ProxyJump=gw:http").is_err());
        assert!(find_jump("-o 'ProxyJump=gw").is_err());
    }

    #[test]
    fn shell_split_quotes() {
        assert_eq!(
            shell_split(r#"a 'b c' "d \"e\"" f\ g"#).ok(),
            Some(vec![
                "a".to_string(),
                "b c".to_string(),
                "d \"e\"".to_string(),
                "f g".to_string()
            ])
        );
    }
}
