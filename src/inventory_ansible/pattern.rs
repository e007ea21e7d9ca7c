//! Ansible host patterns: `name[:port]` with ranges such as `web[01:20].example.com`,
//! `db-[a:c]` or `node[0:10:2]`, expanded into (host name, port) pairs.

/// Most hosts one pattern may expand to: a typo such as `[1:99999999]` must not eat memory.
const MAX_EXPANSION: usize = 100_000;

/// Expands a host pattern into its host names, with the port given after `:` if any.
///
/// # Errors
/// A human-readable reason for a malformed pattern or port.
pub(super) fn expand(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    if name.is_empty() {
        return Err("empty host name".to_string());
    }
    let mut out = Vec::new();
    expand_ranges(name, &mut out)?;
    Ok((out, port))
}

/// Splits `host:port`, `[v6]:port`; a bare IPv6 address (several colons) has no port.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    if let Some(rest) = pattern.strip_prefix('[') {
        // `[2001:db8::1]:22` — but `[a:c]x` is a range at the start of a name.
        if let Some(close) = rest.find(']') {
            let inside = &rest[..close];
            if inside.matches(':').count() >= 2 && !inside.contains('[') {
                let after = &rest[close + 1..];
                if after.is_empty() {
                    return Ok((inside, None));
                }
                if let Some(port) = after.strip_prefix(':') {
                    return Ok((inside, Some(parse_port(port)?)));
                }
            }
        }
    }
    // The last `:` outside brackets separates a port; ranges use `:` inside brackets.
    let mut depth = 0i32;
    let mut colons = Vec::new();
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
    }
    match colons.as_slice() {
        [i] => Ok((&pattern[..*i], Some(parse_port(&pattern[i + 1..])?))),
        _ => Ok((pattern, None)),
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("`{s}` is not a port number (1-65535)")),
    }
}

fn expand_ranges(name: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = name.find('[') else {
        out.push(name.to_string());
        return Ok(());
    };
    let close = name[open..]
        .find(']')
        .map(|i| open + i)
        .ok_or_else(|| "`[` without `]`".to_string())?;
    let head = &name[..open];
    let tail = &name[close + 1..];
    let spec = &name[open + 1..close];
    let parts: Vec<&str> = spec.split(':').collect();
    let (beg, end, step) = match parts.as_slice() {
        [b, e] => (*b, *e, 1usize),
        [b, e, s] => (
            *b,
            *e,
            s.parse::<usize>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("step `{s}` is not a positive number"))?,
        ),
        _ => return Err("a range is `[start:end]` or `[start:end:step]`".to_string()),
    };
    if end.is_empty() {
        return Err("a range needs an end".to_string());
    }
    let items = range_items(beg, end, step)?;
    if out.len().saturating_add(items.len()) > MAX_EXPANSION {
        return Err(format!("expands to more than {MAX_EXPANSION} hosts"));
    }
    for item in items {
        expand_ranges(&format!("{head}{item}{tail}"), out)?;
    }
    Ok(())
}

fn range_items(beg: &str, end: &str, step: usize) -> Result<Vec<String>, String> {
    let alpha = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic());
    if alpha(beg) && alpha(end) {
        let (b, e) = (beg.as_bytes()[0], end.as_bytes()[0]);
        if b > e {
            return Err(format!("`{beg}` comes after `{end}`"));
        }
        return Ok((b..=e)
            .step_by(step)
            .map(|c| char::from(c).to_string())
            .collect());
    }
    let b = if beg.is_empty() {
        0
    } else {
        beg.parse::<u64>()
            .map_err(|_| format!("`{beg}` is neither a number nor a letter"))?
    };
    let e = end
        .parse::<u64>()
        .map_err(|_| format!("`{end}` is neither a number nor a letter"))?;
    if b > e {
        return Err(format!("{beg} is greater than {end}"));
    }
    // `[01:10]` keeps its width; Ansible requires both ends to be written alike then.
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err("zero-padded start and end must have the same width".to_string());
        }
        beg.len()
    } else {
        0
    };
    let count = (e - b) / step as u64 + 1;
    if count > MAX_EXPANSION as u64 {
        return Err(format!("expands to more than {MAX_EXPANSION} hosts"));
    }
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn names(p: &str) -> Vec<String> {
        expand(p).map(|(n, _)| n).unwrap_or_default()
    }

    #[test]
    fn plain_names_and_ports() {
        assert_eq!(expand("web1").ok(), Some((vec!["web1".to_string()], None)));
        assert_eq!(
            expand("web1.example.com:2222").ok(),
            Some((vec!["web1.example.com".to_string()], Some(2222)))
        );
        assert_eq!(
            expand("[2001:db8::1]:22").ok(),
            Some((vec!["2001:db8::1".to_string()], Some(22)))
        );
        assert_eq!(names("2001:db8::1"), vec!["2001:db8::1"]);
        assert!(expand("web1:http").is_err());
        assert!(expand("web1:0").is_err());
    }

    #[test]
    fn numeric_alpha_and_stepped_ranges() {
        assert_eq!(
            names("web[01:03].example.com"),
            vec![
                "web01.example.com",
                "web02.example.com",
                "web03.example.com"
            ]
        );
        assert_eq!(names("db-[a:c]"), vec!["db-a", "db-b", "db-c"]);
        assert_eq!(names("n[0:10:5]"), vec!["n0", "n5", "n10"]);
        assert_eq!(names("r[1:2]c[a:b]"), vec!["r1ca", "r1cb", "r2ca", "r2cb"]);
        assert_eq!(
            expand("web[1:2]:2200").ok(),
            Some((vec!["web1".to_string(), "web2".to_string()], Some(2200)))
        );
    }

    #[test]
    fn malformed_ranges_are_errors() {
        for bad in [
            "web[3:1]",
            "web[01:]",
            "web[01:100]",
            "web[1:x]",
            "web[1:3",
            "web[1:2:0]",
            "web[0:9999999]",
        ] {
            assert!(expand(bad).is_err(), "{bad} should be rejected");
        }
    }
}
