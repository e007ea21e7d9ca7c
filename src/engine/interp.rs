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

/// Quotes `s` for a POSIX shell: the plan's one quoting rule ([`crate::plan::shell_quote`]).
pub fn shell_quote(s: &str) -> String {
    crate::plan::shell_quote(s)
}

/// A piece of a command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, as the shell will see it.
    Text(String),
    /// A value looked up on the host at run time (`host.dc`, `disk_pct`, `check.stdout`).
    Value {
        /// The path given to the resolver.
        path: String,
        /// Insert as is rather than shell-quoted.
        raw: bool,
    },
}

/// A command with its run-time interpolation sites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template {
    /// Text and sites in order.
    pub pieces: Vec<Piece>,
}

impl Template {
    /// A template of literal text only.
    pub fn literal(text: impl Into<String>) -> Self {
        Template {
            pieces: vec![Piece::Text(text.into())],
        }
    }

    /// Parses `${expr}` / `${raw expr}` sites out of `source`.
    pub fn parse(source: &str) -> Result<Self, InterpError> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(pos) = rest.find("${") {
            if pos > 0 {
                pieces.push(Piece::Text(rest[..pos].to_string()));
            }
            let after = &rest[pos + 2..];
            let end = after.find('}').ok_or(InterpError::Unterminated)?;
            let inner = after[..end].trim();
            let (raw, path) = match inner.strip_prefix("raw") {
                Some(e) if e.starts_with(char::is_whitespace) => (true, e.trim()),
                _ => (false, inner),
            };
            if path.is_empty() {
                return Err(InterpError::Empty);
            }
            pieces.push(Piece::Value {
                path: path.to_string(),
                raw,
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Expands the sites with `resolve`: quoted unless raw; secrets masked in the display form.
    pub fn render(
        &self,
        resolve: &dyn Fn(&str) -> Option<Value>,
    ) -> Result<Interpolated, InterpError> {
        let mut command = String::new();
        let mut display = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => {
                    command.push_str(t);
                    display.push_str(t);
                }
                Piece::Value { path, raw } => {
                    let value = resolve(path).ok_or_else(|| InterpError::Unknown(path.clone()))?;
                    let text = if *raw {
                        value.text.clone()
                    } else {
                        shell_quote(&value.text)
                    };
                    command.push_str(&text);
                    display.push_str(if value.secret { MASK } else { &text });
                }
            }
        }
        Ok(Interpolated { command, display })
    }
}

/// Expands every `${expr}` / `${raw expr}` of `template` with `resolve` (given the trimmed
/// expression without `raw`).
pub fn interpolate(
    template: &str,
    resolve: &dyn Fn(&str) -> Option<Value>,
) -> Result<Interpolated, InterpError> {
    Template::parse(template)?.render(resolve)
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
