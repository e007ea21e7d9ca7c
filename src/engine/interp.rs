//! Command interpolation: `${expr}` inserts a value POSIX-shell-quoted, `${raw expr}` inserts it
//! as is; secret values are masked as `***` wherever a command or an output is displayed.
//!
//! Input: a command template and a resolver from expression text to value. Output: the command
//! to send and its masked display form.

use thiserror::Error;

/// The mask that replaces every secret value on display.
pub const MASK: &str = "***";

/// A value a `${…}` expression resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The text inserted.
    pub text: String,
    /// A secret: masked on display.
    pub secret: bool,
}

impl Value {
    /// A plain (non-secret) value.
    pub fn plain(text: impl Into<String>) -> Self {
        Value {
            text: text.into(),
            secret: false,
        }
    }
}

/// A command ready to send, and what may be shown of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The command as sent.
    pub command: String,
    /// The command with secret values masked, for events, logs and `--dry-run`.
    pub display: String,
}

/// Why a command could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InterpError {
    /// `${` without its closing `}`.
    #[error("unterminated `${{` in command")]
    Unterminated,
    /// `${}`.
    #[error("empty `${{}}` in command")]
    Empty,
    /// The resolver knows no such value on this host.
    #[error("no value for `{0}` on this host")]
    Unknown(String),
}

/// Quotes `s` for a POSIX shell: unchanged when it is made only of characters no shell treats
/// specially, else single-quoted with `'` written as `'\''`.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | '=' | ',')
        });
    if safe {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Expands every `${expr}` / `${raw expr}` of `template` with `resolve` (given the trimmed
/// expression without `raw`).
pub fn interpolate(
    template: &str,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> Result<Interpolated, InterpError> {
    let mut command = String::with_capacity(template.len());
    let mut display = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find("${") {
        command.push_str(&rest[..pos]);
        display.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or(InterpError::Unterminated)?;
        let inner = after[..end].trim();
        let (raw, expr) = match inner.strip_prefix("raw") {
            Some(e) if e.starts_with(char::is_whitespace) => (true, e.trim()),
            _ => (false, inner),
        };
        if expr.is_empty() {
            return Err(InterpError::Empty);
        }
        let value = resolve(expr).ok_or_else(|| InterpError::Unknown(expr.to_string()))?;
        let text = if raw {
            value.text.clone()
        } else {
            shell_quote(&value.text)
        };
        command.push_str(&text);
        if value.secret {
            display.push_str(MASK);
        } else {
            display.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    command.push_str(rest);
    display.push_str(rest);
    Ok(Interpolated { command, display })
}

/// The secret values of a run, for masking anything shown.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} masked)", self.values.len())
    }
}

impl Secrets {
    /// Secrets with these values (empty values are ignored: they would mask everything).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        // Longest first, so a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        Secrets { values }
    }

    /// `text` with every occurrence of a secret value replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(name: &str) -> Option<Value> {
        match name {
            "host.address" => Some(Value::plain("10.0.1.11")),
            "pin" => Some(Value::plain("3.0.15-1~deb12u1")),
            "msg" => Some(Value::plain("it's $HOME; rm -rf /")),
            "empty" => Some(Value::plain("")),
            "pw" => Some(Value {
                text: "hunter2".into(),
                secret: true,
            }),
            _ => None,
        }
    }

    fn check(template: &str, command: &str, display: &str) {
        let got = interpolate(template, &resolver);
        assert_eq!(
            got,
            Ok(Interpolated {
                command: command.into(),
                display: display.into()
            }),
            "{template}"
        );
    }

    #[test]
    fn interpolation_quotes_unless_raw() {
        check(
            "ping -c1 ${host.address}",
            "ping -c1 10.0.1.11",
            "ping -c1 10.0.1.11",
        );
        check(
            "apt-get install openssl=${pin}",
            "apt-get install openssl='3.0.15-1~deb12u1'",
            "apt-get install openssl='3.0.15-1~deb12u1'",
        );
        check(
            "echo ${msg}",
            "echo 'it'\\''s $HOME; rm -rf /'",
            "echo 'it'\\''s $HOME; rm -rf /'",
        );
        check(
            "echo ${ raw msg }",
            "echo it's $HOME; rm -rf /",
            "echo it's $HOME; rm -rf /",
        );
        check("x=${empty}.", "x=''.", "x=''.");
        check("no vars $HOME {}", "no vars $HOME {}", "no vars $HOME {}");
    }

    #[test]
    fn secrets_are_masked_on_display_only() {
        check(
            "login ${pw} ${raw pw}",
            "login hunter2 hunter2",
            "login *** ***",
        );
        let s = Secrets::new(["hunter2".to_string(), String::new(), "hunter".to_string()]);
        assert_eq!(s.mask("pw=hunter2 hunter"), "pw=*** ***");
    }

    #[test]
    fn bad_templates_are_errors() {
        assert_eq!(
            interpolate("echo ${pin", &resolver),
            Err(InterpError::Unterminated)
        );
        assert_eq!(interpolate("echo ${ }", &resolver), Err(InterpError::Empty));
        assert_eq!(
            interpolate("echo ${nope}", &resolver),
            Err(InterpError::Unknown("nope".into()))
        );
        assert_eq!(
            interpolate("${rawish}", &resolver),
            Err(InterpError::Unknown("rawish".into())),
            "raw needs a space"
        );
    }
}
