//! Secret bytes (stdin, passwords, decrypted keys): held in memory only, zeroed on drop, and
//! printed as `***` by `Debug` so that no log, plan or report can carry them.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// A secret value. Cloning shares the same zeroed-on-drop buffer.
#[derive(Clone, Default)]
pub struct Secret(Arc<Zeroizing<Vec<u8>>>);

impl Secret {
    /// The raw bytes, for the one place that must send them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text (lossy: a secret that is not UTF-8 yields an empty string).
    pub fn expose_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Self(Arc::new(Zeroizing::new(v)))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::from(s.into_bytes())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::from(s.as_bytes().to_vec())
    }
}

impl From<&[u8]> for Secret {
    fn from(s: &[u8]) -> Self {
        Self::from(s.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), b"hunter2");
        assert_eq!(s.len(), 7);
    }
}
