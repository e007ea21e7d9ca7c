//! Authentication of a fresh session: the SSH agent first, then identity files from memory
//! (decrypted once per run). Input a handshaken session and a target; output success or
//! `AuthRejected` naming what was tried. Passwords are never used for login.

use async_ssh2_lite::AsyncSession;

use super::connect::is_connection_failure;
use super::stream::SshSocket;
use super::{SshTransport, Target};
use crate::transport::TransportError;

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
        // async-ssh2-lite tries each agent identity, keeps going past the host's errors, and
        // succeeds only once authenticated. What fails here is the agent's own doing (no
        // socket, no identities, a broken agent, no key accepted), never a host connection
        // failure: a dead connection shows at the identity files below.
        if session.userauth_agent_with_try_next(user).await.is_ok() && session.authenticated() {
            return Ok(());
        }
        tried.push("agent".into());
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
