//! Host lists collapsed for reading: `web01.example.com` … `web40.example.com` becomes
//! `web[01-40].example.com`.

use std::collections::HashMap;

/// Collapses names that differ only in their first run of digits (with the same width) into
/// `prefix[a-b,c]suffix`, keeping the order in which each pattern first appears.
pub fn collapse<S: AsRef<str>>(names: &[S]) -> String {
    collapse_parts(names).join(", ")
}

/// Like [`collapse`], one entry per pattern.
pub fn collapse_parts<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    type Key<'a> = (&'a str, &'a str, usize);
    let mut order: Vec<Option<Key<'_>>> = Vec::new();
    let mut plain: Vec<&str> = Vec::new();
    let mut numbers: HashMap<Key<'_>, Vec<u64>> = HashMap::new();
    for name in names {
        let name = name.as_ref();
        match split(name) {
            Some((prefix, digits, suffix)) => {
                let key = (prefix, suffix, digits.len());
                let n = digits.parse::<u64>().unwrap_or(0);
                let entry = numbers.entry(key).or_default();
                if entry.is_empty() {
                    order.push(Some(key));
                }
                entry.push(n);
            }
            None => {
                order.push(None);
                plain.push(name);
            }
        }
    }
    let mut plain = plain.into_iter();
    let mut out = Vec::new();
    for key in order {
        let Some(key) = key else {
            out.extend(plain.next().map(str::to_string));
            continue;
        };
        let (prefix, suffix, width) = key;
        let mut list = numbers.remove(&key).unwrap_or_default();
        list.sort_unstable();
        list.dedup();
        if let [only] = list.as_slice() {
            out.push(format!("{prefix}{only:0width$}{suffix}"));
            continue;
        }
        let mut ranges = Vec::new();
        let mut i = 0;
        while i < list.len() {
            let mut j = i;
            while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
                j += 1;
            }
            ranges.push(if i == j {
                format!("{:0width$}", list[i])
            } else {
                format!("{:0width$}-{:0width$}", list[i], list[j])
            });
            i = j + 1;
        }
        out.push(format!("{prefix}[{}]{suffix}", ranges.join(",")));
    }
    out
}

fn split(name: &str) -> Option<(&str, &str, &str)> {
    let start = name.find(|c: char| c.is_ascii_digit())?;
    let len = name[start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(name.len() - start);
    if len > 18 {
        return None;
    }
    Some((
        &name[..start],
        &name[start..start + len],
        &name[start + len..],
    ))
}

#[cfg(test)]
mod tests {
    use super::collapse;

    #[test]
    fn ranges_lists_and_plain_names() {
        let web: Vec<String> = (1..=40).map(|i| format!("web{i:02}.example.com")).collect();
        assert_eq!(collapse(&web), "web[01-40].example.com");
        assert_eq!(
            collapse(&["db01", "db02", "db04", "bastion", "web1"]),
            "db[01-02,04], bastion, web1"
        );
        assert_eq!(collapse(&["a9", "a10"]), "a9, a10");
        assert_eq!(collapse::<&str>(&[]), "");
    }
}
