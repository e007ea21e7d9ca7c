//! Identity files, read and (if encrypted) decrypted once per run: input key file paths and a
//! passphrase prompt, output private keys in memory that libssh2 authenticates from.
//!
//! Why: libssh2 decrypts an encrypted key file again on every connection (bcrypt-pbkdf, about
//! 210 ms of CPU each); decrypting once and handing libssh2 the plain key from memory makes
//! the cost per run instead of per host. The plain key never touches disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ssh_key::{LineEnding, PrivateKey};

use super::pem::{self, PemError};
use crate::transport::{Secret, TransportError};

/// Asks the user for the passphrase of a key file (the CLI prompts on the terminal).
pub type PassphrasePrompt = Arc<dyn Fn(&Path) -> Option<Secret> + Send + Sync>;

/// A private key ready for `userauth_pubkey_memory`.
#[derive(Debug)]
pub(crate) struct LoadedKey {
    pub path: PathBuf,
    /// OpenSSH or PEM text, unencrypted unless `passphrase` is set.
    pub pem: Secret,
    /// Only for encrypted PEM keys that [`pem`] cannot decrypt (PKCS#8): libssh2 does it.
    pub passphrase: Option<Secret>,
}

/// Loaded keys by path; each file is read and decrypted at most once.
pub(crate) struct KeyCache {
    prompt: Option<PassphrasePrompt>,
    loaded: tokio::sync::Mutex<HashMap<PathBuf, Arc<LoadedKey>>>,
}

impl KeyCache {
    pub fn new(prompt: Option<PassphrasePrompt>) -> Self {
        Self {
            prompt,
            loaded: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The key at `path`, loading it on first use. The lock is held while loading so that
    /// 100 connections starting at once decrypt (and prompt) once, not 100 times.
    pub async fn get(&self, path: &Path) -> Result<Arc<LoadedKey>, TransportError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(k) = loaded.get(path) {
            return Ok(k.clone());
        }
        let prompt = self.prompt.clone();
        let owned = path.to_path_buf();
        let key = tokio::task::spawn_blocking(move || load(&owned, prompt.as_ref()))
            .await
            .map_err(|e| TransportError::Config {
                path: path.to_path_buf(),
                message: format!("key loading failed: {e}"),
            })??;
        let key = Arc::new(key);
        loaded.insert(path.to_path_buf(), key.clone());
        Ok(key)
    }
}

fn load(path: &Path, prompt: Option<&PassphrasePrompt>) -> Result<LoadedKey, TransportError> {
    let err = |message: String| TransportError::Config {
        path: path.to_path_buf(),
        message,
    };
    let bad = |e: ssh_key::Error| err(format!("bad key: {e}"));
    let loaded = |pem: Secret, passphrase: Option<Secret>| LoadedKey {
        path: path.to_path_buf(),
        pem,
        passphrase,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read key: {e}")))?;
    let openssh = if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
        Some(PrivateKey::from_openssh(&text).map_err(bad)?)
    } else {
        None
    };
    let encrypted = openssh
        .as_ref()
        .map_or_else(|| text.contains("ENCRYPTED"), PrivateKey::is_encrypted);
    if !encrypted {
        return Ok(loaded(Secret::from(text), None));
    }
    let pass = prompt
        .and_then(|p| p(path))
        .ok_or_else(|| err("key is encrypted and no passphrase was given".into()))?;
    if let Some(key) = openssh {
        let plain = key
            .decrypt(pass.expose())
            .map_err(|_| err("wrong passphrase".into()))?;
        let pem = plain.to_openssh(LineEnding::LF).map_err(bad)?;
        return Ok(loaded(Secret::from(pem.as_str()), None));
    }
    match pem::decrypt_legacy(&text, pass.expose()) {
        // Legacy encrypted PEM: decrypted once, libssh2 reads the plain PEM from memory.
        Ok(plain) => Ok(loaded(plain, None)),
        Err(PemError::WrongPassphrase) => Err(err("wrong passphrase".into())),
        Err(PemError::Malformed(why)) => Err(err(format!("bad key: {why}"))),
        // PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`) or an unusual cipher: libssh2 decrypts it,
        // with the passphrase, on every connection.
        Err(PemError::Unsupported(why)) => {
            tracing::debug!(key = %path.display(), %why, "libssh2 decrypts this key per connection");
            Ok(loaded(Secret::from(text), Some(pass)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key made by `ssh-keygen` with `args` (type, format, passphrase) at `dir/name`.
    fn keygen(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-C", ""])
            .args(args)
            .arg("-f")
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ssh-keygen failed");
        path
    }

    /// An encrypted ed25519 key made by ssh-keygen (the format users have).
    fn encrypted_key(dir: &Path) -> PathBuf {
        keygen(dir, "id", &["-t", "ed25519", "-N", "pw"])
    }

    #[tokio::test]
    async fn encrypted_key_is_decrypted_once_with_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let path = encrypted_key(dir.path());
        let enc = PrivateKey::from_openssh(std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(enc.is_encrypted());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        let cache = KeyCache::new(Some(Arc::new(move |_: &Path| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some(Secret::from("pw"))
        })));
        let a = cache.get(&path).await.unwrap();
        let b = cache.get(&path).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let back = PrivateKey::from_openssh(a.pem.expose()).unwrap();
        assert!(!back.is_encrypted());
        assert_eq!(back.public_key(), enc.public_key());
        assert!(!format!("{a:?}").contains("BEGIN"));
    }

    fn public_of(path: &Path, pass: &str) -> String {
        let out = std::process::Command::new("ssh-keygen")
            .args(["-y", "-P", pass, "-f"])
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[tokio::test]
    async fn legacy_encrypted_pem_is_decrypted_once_into_plain_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = keygen(
            dir.path(),
            "id_rsa",
            &["-m", "PEM", "-t", "rsa", "-b", "2048", "-N", "legacy-pw"],
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("Proc-Type: 4,ENCRYPTED"), "{text}");
        let cache = KeyCache::new(Some(Arc::new(|_: &Path| Some(Secret::from("legacy-pw")))));
        let key = cache.get(&path).await.unwrap();
        assert!(key.passphrase.is_none());
        let plain = key.pem.expose_str();
        assert!(plain.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(!plain.contains("ENCRYPTED"));
        // The same key: ssh-keygen derives the same public key from the plain copy.
        let copy = dir.path().join("plain");
        std::fs::write(&copy, plain).unwrap();
        std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        assert_eq!(public_of(&copy, ""), public_of(&path, "legacy-pw"));
        let wrong = KeyCache::new(Some(Arc::new(|_: &Path| Some(Secret::from("nope")))));
        let e = wrong.get(&path).await.unwrap_err().to_string();
        assert!(e.contains("wrong passphrase"), "{e}");
    }

    #[tokio::test]
    async fn wrong_or_missing_passphrase_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = encrypted_key(dir.path());
        let none = KeyCache::new(None);
        assert!(none
            .get(&path)
            .await
            .unwrap_err()
            .to_string()
            .contains("no passphrase"));
        let wrong = KeyCache::new(Some(Arc::new(|_: &Path| Some(Secret::from("nope")))));
        assert!(wrong
            .get(&path)
            .await
            .unwrap_err()
            .to_string()
            .contains("wrong passphrase"));
        assert!(none.get(&dir.path().join("missing")).await.is_err());
    }

    /// The key of the PEM vectors as PKCS#8
    /// (`openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:vector-pw`), which only libssh2
    /// decrypts.
    const PKCS8: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhIQruO2kbqvAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEMj+EdhwJM1RRusXUGVb0TUEgZDN
JnN75vavEc9r9nOtnE9d+bo3aIH8X7bI9LfI+/LsKNwLQkWGxKIYN48oTAiXLAtu
PaSBf2pDU7ouVVo9Uvw0XdsROIIosqdkfdlOI1cZwVj/d92zg9pNVBLAFVCBgLdx
aCsBLw+lM669nB4p1ye+bT8P3EKNwglRatyr7970+c5yAQVrifX5+WGnxvk9PHI=
-----END ENCRYPTED PRIVATE KEY-----
";

    #[tokio::test]
    async fn plain_damaged_and_pkcs8_pem_keys() {
        use super::super::pem::tests::{AES256, PLAIN};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let cache = KeyCache::new(Some(Arc::new(|_: &Path| Some(Secret::from("vector-pw")))));
        // Unencrypted PEM goes to libssh2 as it is.
        let plain = cache.get(&write("plain", PLAIN)).await.unwrap();
        assert_eq!(plain.pem.expose_str(), PLAIN);
        assert!(plain.passphrase.is_none());
        // PKCS#8: kept encrypted, with the passphrase, for libssh2 to decrypt.
        let pk8 = cache.get(&write("pk8", PKCS8)).await.unwrap();
        assert_eq!(pk8.pem.expose_str(), PKCS8);
        assert_eq!(
            pk8.passphrase.as_ref().map(|p| p.expose_str()),
            Some("vector-pw")
        );
        // A damaged legacy key is a config error naming the damage.
        let damaged = write("damaged", &AES256.replace("1i72", "1i7!"));
        let e = cache.get(&damaged).await.unwrap_err().to_string();
        assert!(e.contains("bad key: base64"), "{e}");
        // An encrypted legacy key with nobody to ask for its passphrase.
        let unasked = KeyCache::new(Some(Arc::new(|_: &Path| None)));
        let e = unasked
            .get(&write("aes", AES256))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no passphrase was given"), "{e}");
    }

    #[tokio::test]
    async fn plain_and_damaged_openssh_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = keygen(dir.path(), "id", &["-t", "ed25519", "-N", ""]);
        let text = std::fs::read_to_string(&path).unwrap();
        // No prompt needed: it is not encrypted.
        let cache = KeyCache::new(None);
        let plain = cache.get(&path).await.unwrap();
        assert_eq!(plain.pem.expose_str(), text);
        assert!(plain.passphrase.is_none());
        let damaged = dir.path().join("damaged");
        let body = text.lines().nth(2).unwrap();
        std::fs::write(&damaged, text.replace(body, &"A".repeat(body.len()))).unwrap();
        let e = cache.get(&damaged).await.unwrap_err();
        assert_eq!(e.kind(), crate::transport::ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("bad key:"), "{e}");
    }

    #[tokio::test]
    async fn a_failing_passphrase_prompt_is_a_config_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = encrypted_key(dir.path());
        // The CLI's prompt panics when, say, the terminal is gone.
        let cache = KeyCache::new(Some(Arc::new(|_: &Path| -> Option<Secret> {
            panic!("no terminal")
        })));
        let e = cache.get(&path).await.unwrap_err();
        assert_eq!(e.kind(), crate::transport::ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("key loading failed"), "{e}");
    }
}
