//! Authentication of a fresh session: the SSH agent first, then identity files from memory
//! (decrypted once per run). Input a handshaken session and a target; output success or
//! `AuthRejected` naming what was tried. Passwords are never used for login.

use async_ssh2_lite::{ssh2, AsyncSession};

use super::stream::SshSocket;
use super::{SshTransport, Target};
use crate::transport::TransportError;

/// libssh2 errors that mean the connection broke, not that a credential was refused.
fn is_connection_failure(e: &async_ssh2_lite::Error) -> bool {
    match e {
        async_ssh2_lite::Error::Io(_) => true,
        async_ssh2_lite::Error::Ssh2(e) => match e.code() {
            // SOCKET_SEND, TIMEOUT, SOCKET_DISCONNECT, SOCKET_TIMEOUT, SOCKET_RECV
            ssh2::ErrorCode::Session(-7 | -9 | -13 | -30 | -43) => true,
            // PUBLICKEY_UNVERIFIED is also what libssh2 returns when no answer to a key offer
            // could be read at all (the socket failed under it); only this message says so.
            ssh2::ErrorCode::Session(-19) => e.message() == NO_USERAUTH_RESPONSE,
            _ => false,
        },
        async_ssh2_lite::Error::Other(_) => false,
    }
}

/// libssh2's message when reading the answer to an authentication request failed.
const NO_USERAUTH_RESPONSE: &str = "Waiting for USERAUTH response";

pub(crate) async fn authenticate(
    t: &SshTransport,
    session: &AsyncSession<SshSocket>,
    target: &Target,
) -> Result<(), TransportError> {
    let inner = t.inner();
    let user = target.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    let broken = |e: &async_ssh2_lite::Error| TransportError::ConnectionLost {
        host: target.name.clone(),
        cause: format!("during authentication: {e}"),
    };

    if inner.opts.use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match session.userauth_agent_with_try_next(user).await {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("agent".into()),
            Err(e) if is_connection_failure(&e) => return Err(broken(&e)),
            Err(_) => tried.push("agent".into()),
        }
    }

    let mut files = inner.opts.identity_files.clone();
    for f in &target.identity_files {
        if !files.contains(f) {
            files.push(f.clone());
        }
    }
    for path in files {
        let key = match inner.keys.get(&path).await {
            Ok(k) => k,
            // A missing IdentityFile from ssh config is skipped, as OpenSSH does; one named
            // with --identity must exist.
            Err(_) if target.identity_files.contains(&path) && !path.exists() => continue,
            Err(e) => return Err(e),
        };
        let res = session
            .userauth_pubkey_memory(
                user,
                None,
                key.pem.expose_str(),
                key.passphrase.as_ref().map(|p| p.expose_str()),
            )
            .await;
        match res {
            Ok(()) if session.authenticated() => return Ok(()),
            Err(e) if is_connection_failure(&e) => return Err(broken(&e)),
            _ => tried.push(key.path.display().to_string()),
        }
    }
    if tried.is_empty() {
        tried.push("nothing: no agent and no identity file".into());
    }
    Err(TransportError::AuthRejected {
        host: target.name.clone(),
        user: user.to_string(),
        tried: tried.join(", "),
    })
}
