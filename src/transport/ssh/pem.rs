//! Legacy ("traditional" OpenSSL) PEM private keys encrypted with a passphrase
//! (`Proc-Type: 4,ENCRYPTED` + `DEK-Info`, as `ssh-keygen -m PEM` writes): input the PEM text
//! and the passphrase, output the same key as unencrypted PEM, so that libssh2 authenticates
//! from memory without the passphrase on every connection.
//!
//! The key derivation is OpenSSL's `EVP_BytesToKey` (MD5, one round, the IV's first 8 bytes as
//! salt); the ciphers are AES-128/192/256-CBC and DES-EDE3-CBC. PKCS#8 encrypted keys
//! (`BEGIN ENCRYPTED PRIVATE KEY`) are not handled here.

use aes::cipher::{block_padding::Pkcs7, BlockCipherDecrypt, BlockModeDecrypt, KeyIvInit};
use base64ct::{Base64, Encoding as _};

use crate::transport::Secret;

/// Why a legacy PEM key could not be decrypted here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PemError {
    /// Not a legacy encrypted PEM key, or a cipher this module does not implement.
    #[error("unsupported encrypted pem key: {0}")]
    Unsupported(String),
    /// The padding or the decrypted structure is wrong: almost surely the passphrase.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The file is damaged.
    #[error("malformed pem key: {0}")]
    Malformed(String),
}

/// Decrypts a legacy encrypted PEM key into unencrypted PEM with the same label.
pub(crate) fn decrypt_legacy(text: &str, passphrase: &[u8]) -> Result<Secret, PemError> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN "));
    let label = lines
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| PemError::Malformed("no BEGIN line".into()))?
        .to_string();
    let mut dek = None;
    let mut encrypted = false;
    let mut body = String::new();
    for line in lines.by_ref() {
        if line.starts_with("-----END ") {
            break;
        }
        if let Some(v) = line.strip_prefix("Proc-Type:") {
            encrypted = v.trim() == "4,ENCRYPTED";
        } else if let Some(v) = line.strip_prefix("DEK-Info:") {
            dek = Some(v.trim().to_string());
        } else {
            body.push_str(line);
        }
    }
    let dek = dek
        .filter(|_| encrypted)
        .ok_or_else(|| PemError::Unsupported("no Proc-Type/DEK-Info headers".into()))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| PemError::Malformed(format!("DEK-Info {dek:?}")))?;
    let iv = hex::decode(iv_hex.trim())
        .map_err(|_| PemError::Malformed(format!("DEK-Info iv {iv_hex:?}")))?;
    let mut data =
        Base64::decode_vec(&body).map_err(|e| PemError::Malformed(format!("base64: {e}")))?;
    let (key_len, decrypt): (usize, Decrypt) = match cipher {
        "AES-128-CBC" => (16, cbc_decrypt::<aes::Aes128>),
        "AES-192-CBC" => (24, cbc_decrypt::<aes::Aes192>),
        "AES-256-CBC" => (32, cbc_decrypt::<aes::Aes256>),
        "DES-EDE3-CBC" => (24, cbc_decrypt::<des::TdesEde3>),
        other => return Err(PemError::Unsupported(format!("cipher {other}"))),
    };
    // The salt is the IV's first 8 bytes; the cipher checks the IV's full length.
    let salt = iv.get(..8).ok_or_else(|| bad_iv(&iv))?;
    let mut key = bytes_to_key(passphrase, salt, key_len);
    let plain = decrypt(&key, &iv, &mut data);
    key.fill(0);
    data.fill(0);
    // Every such key is a DER SEQUENCE: anything else is the wrong passphrase.
    let mut plain = plain?.ok_or(PemError::WrongPassphrase)?;
    if plain.first() != Some(&0x30) {
        plain.fill(0);
        return Err(PemError::WrongPassphrase);
    }
    let b64 = Base64::encode_string(&plain);
    plain.fill(0);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    b64.into_bytes().fill(0);
    Ok(Secret::from(out))
}

/// A CBC decryption: `None` when the padding is wrong (almost surely the passphrase).
type Decrypt = fn(&[u8], &[u8], &mut [u8]) -> Result<Option<Vec<u8>>, PemError>;

fn cbc_decrypt<C: BlockCipherDecrypt>(
    key: &[u8],
    iv: &[u8],
    data: &mut [u8],
) -> Result<Option<Vec<u8>>, PemError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
{
    let cipher = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| bad_iv(iv))?;
    Ok(cipher
        .decrypt_padded::<Pkcs7>(data)
        .ok()
        .map(<[u8]>::to_vec))
}

fn bad_iv(iv: &[u8]) -> PemError {
    PemError::Malformed(format!("DEK-Info iv of {} bytes", iv.len()))
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round.
fn bytes_to_key(passphrase: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut c = md5::Context::new();
        c.consume(&prev);
        c.consume(passphrase);
        c.consume(salt);
        prev = c.finalize().0.to_vec();
        key.extend_from_slice(&prev);
    }
    prev.fill(0);
    key.truncate(len);
    key
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn non_legacy_or_damaged_input_is_refused() {
        assert!(matches!(
            decrypt_legacy("no pem here", b"pw"),
            Err(PemError::Malformed(_))
        ));
        let plain = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            decrypt_legacy(plain, b"pw"),
            Err(PemError::Unsupported(_))
        ));
        let odd = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                   DEK-Info: AES-128-GCM,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            decrypt_legacy(odd, b"pw"),
            Err(PemError::Unsupported(_))
        ));
        // DEK-Info without an IV, with one that is not hex, too short for the salt, or of
        // the wrong length for the cipher.
        for (dek, why) in [
            ("AES-128-CBC", "DEK-Info \"AES-128-CBC\""),
            ("AES-128-CBC,XYZ", "DEK-Info iv \"XYZ\""),
            ("AES-128-CBC,00", "DEK-Info iv of 1 bytes"),
            ("AES-256-CBC,0011223344556677", "DEK-Info iv of 8 bytes"),
            (
                "DES-EDE3-CBC,00112233445566778899AABBCCDDEEFF",
                "DEK-Info iv of 16 bytes",
            ),
        ] {
            let bad = odd.replace("AES-128-GCM,00", dek);
            assert_eq!(
                decrypt_legacy(&bad, b"pw").unwrap_err(),
                PemError::Malformed(why.into()),
                "{dek}"
            );
        }
    }

    #[test]
    fn key_derivation_matches_openssl() {
        // `openssl enc -aes-256-cbc -P -md md5 -S 0102030405060708 -pass pass:pw`
        let key = bytes_to_key(b"pw", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(
            hex::encode_upper(key),
            "222776D258E716EFDAA0CF5A7E504B9D21982575418A44BE8D93693294778EEA"
        );
    }

    /// A throwaway P-256 key, and the same key encrypted by
    /// `openssl ec -in plain.pem -{aes192,aes256,des3} -passout pass:vector-pw` (OpenSSL 3.0):
    /// vectors made by an independent implementation, for the ciphers `ssh-keygen` never uses.
    pub(in crate::transport::ssh) const PLAIN: &str = "-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEIA1EQXNyumf/Lho9ZukaZFvSlL0m2y8r7I3tSKwunpwhoAoGCCqGSM49\n\
AwEHoUQDQgAE2FH6aSqeHKBOH4UsKjBnSLMEvYroEDcYn31ravf5VCr2W7coVpfL\n\
tjUbFZctA+2MLoh0XH7eb5UXfcwyUvgnoQ==\n\
-----END EC PRIVATE KEY-----\n\
";
    pub(in crate::transport::ssh) const AES192: &str = "-----BEGIN EC PRIVATE KEY-----\n\
Proc-Type: 4,ENCRYPTED\n\
DEK-Info: AES-192-CBC,4EF20D2B31952497CE15921676BD746F\n\
\n\
8xumO+/7FMmy7BUQmn/NBx6UD9oozPLs0D8pdLgbX/qmBDTPzzAn1wC5VVGSTOTA\n\
484ogbYxOY/7l9jJ7HXE76ycTdIcC8aJYe/0LrheeurDdwT7NKPUFfOGRCuAjMS8\n\
UhOGwnzYSlnrG6EopkSDsZsyZu5/ZwU/t2nMd2RKv74=\n\
-----END EC PRIVATE KEY-----\n\
";
    pub(in crate::transport::ssh) const AES256: &str = "-----BEGIN EC PRIVATE KEY-----\n\
Proc-Type: 4,ENCRYPTED\n\
DEK-Info: AES-256-CBC,C02CEC111F3C47D0C5E68692481D46BC\n\
\n\
1i72VRLAxVZMJzxgudDSWd7QLj0lLCBZnlLaw2MOZXFjC8pMz5rcK+g5c+EAzNWr\n\
JmkU7nbxkQfUpuNWLYTcYZW7hCVc22NjyviaoH0sDk2VY2wafGKe4j0vQib9tK5S\n\
FDpUyVEnaH1S+UN+GChXHXN7xCspOn/4nFB2Opm4Mpg=\n\
-----END EC PRIVATE KEY-----\n\
";
    pub(in crate::transport::ssh) const DES3: &str = "-----BEGIN EC PRIVATE KEY-----\n\
Proc-Type: 4,ENCRYPTED\n\
DEK-Info: DES-EDE3-CBC,0374ED9470B4CF41\n\
\n\
uj9bErVdsKM5aNARxX9b9gBsb8Qn2oX9bvV+ASnADWmNP7EvOiREtQzeFtsU1aac\n\
WlHoBVchUFd6Yt8vt5PoFi0LDHH6TjwGwB+urf2pnL+b2HVP3R9SfbTLEqWqvKZO\n\
RMBB/ODhmjgc9jW8u7MYeSeh+f3EBTrpA7vQ8OadLMc=\n\
-----END EC PRIVATE KEY-----\n\
";

    #[test]
    fn every_legacy_cipher_decrypts_openssl_vectors() {
        for enc in [AES192, AES256, DES3] {
            let plain = decrypt_legacy(enc, b"vector-pw").unwrap();
            assert_eq!(plain.expose_str(), PLAIN);
            assert_eq!(
                decrypt_legacy(enc, b"not-the-pw").unwrap_err(),
                PemError::WrongPassphrase
            );
        }
        // A wrong passphrase that happens to leave valid padding (found by trying
        // `wrong-0`, `wrong-1`...): the plain text is no DER sequence, so still refused.
        assert_eq!(
            decrypt_legacy(AES256, b"wrong-406").unwrap_err(),
            PemError::WrongPassphrase
        );
        let damaged = AES256.replace("1i72", "1i7!");
        assert!(matches!(
            decrypt_legacy(&damaged, b"vector-pw"),
            Err(PemError::Malformed(_))
        ));
    }
}
