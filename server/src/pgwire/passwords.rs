//! The users a node lets in and their SCRAM-SHA-256 verifiers, from a password file:
//!
//! ```text
//! # user:password, or user:verifier as PostgreSQL stores it (pg_authid.rolpassword)
//! analyst:SCRAM-SHA-256$4096:3s4R...==$Xk1...=:p0f...=
//! loader:correct horse battery staple
//! ```
//!
//! A plain password is turned into a verifier when the file is read, so the node
//! holds no password in memory; `percore password USER` prints a verifier line to
//! keep the file free of passwords too.

use std::collections::HashMap;
use std::path::Path;

use super::scram::{sha256, Verifier, DEFAULT_ITERATIONS};

/// Who may connect. Cloning shares nothing mutable.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientPasswords {
    users: HashMap<String, Verifier>,
    /// Salts unknown users' fake verifiers, so they look like real ones and stay the
    /// same from one try to the next (as PostgreSQL's `scram_mock_salt`).
    mock_key: [u8; 32],
}

impl std::fmt::Debug for ClientPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientPasswords({} users)", self.users.len())
    }
}

impl ClientPasswords {
    /// # Errors
    /// A file that cannot be read, or a line that is not `user:password`, naming the
    /// line (never its password).
    pub fn from_file(path: &Path) -> Result<ClientPasswords, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
        ClientPasswords::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// # Errors
    /// As [`ClientPasswords::from_file`].
    pub fn parse(text: &str) -> Result<ClientPasswords, String> {
        let mut users = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let number = index + 1;
            let (user, secret) = line
                .split_once(':')
                .ok_or_else(|| format!("line {number}: expected user:password"))?;
            if user.is_empty() {
                return Err(format!("line {number}: the user name is empty"));
            }
            if secret.is_empty() {
                return Err(format!("line {number}: user {user} has an empty password"));
            }
            let verifier = if secret.starts_with("SCRAM-SHA-256$") {
                Verifier::parse(secret).map_err(|e| format!("line {number}: {e}"))?
            } else {
                Verifier::new(secret, DEFAULT_ITERATIONS)?
            };
            if users.insert(user.to_string(), verifier).is_some() {
                return Err(format!("line {number}: user {user} is listed twice"));
            }
        }
        if users.is_empty() {
            return Err("the password file lists no user".into());
        }
        let mut mock_key = [0u8; 32];
        getrandom::fill(&mut mock_key).map_err(|e| format!("no randomness: {e}"))?;
        Ok(ClientPasswords { users, mock_key })
    }

    /// `user`'s verifier, or a fake one and `true` (the exchange must fail) for a
    /// user not in the file.
    pub(crate) fn verifier(&self, user: &str) -> (Verifier, bool) {
        if let Some(verifier) = self.users.get(user) {
            return (verifier.clone(), false);
        }
        let mut seed = self.mock_key.to_vec();
        seed.extend_from_slice(user.as_bytes());
        let salt = sha256(&seed)[..16].to_vec();
        // The fake's keys come from a password nobody can know; it fails anyway.
        let fake = String::from_utf8_lossy(&seed).into_owned();
        (Verifier::with_salt(&fake, salt, DEFAULT_ITERATIONS), true)
    }
}

/// The line for a password file that holds `user`'s verifier instead of its
/// password (what `percore password` prints).
///
/// # Errors
/// An empty user or password, or no randomness for a salt.
pub fn verifier_line(user: &str, password: &str) -> Result<String, String> {
    if user.is_empty() || user.contains(':') {
        return Err("the user name must be non-empty and hold no ':'".into());
    }
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(format!(
        "{user}:{}",
        Verifier::new(password, DEFAULT_ITERATIONS)?
    ))
}

#[cfg(test)]
mod tests {
    use super::super::scram::{ClientExchange, ServerExchange};
    use super::*;

    fn signs_in(passwords: &ClientPasswords, user: &str, password: &str) -> bool {
        let (verifier, doomed) = passwords.verifier(user);
        let (mut client, first) = ClientExchange::start(password).unwrap();
        let (server, server_first) =
            ServerExchange::start(verifier, doomed, first.as_bytes()).unwrap();
        let last = client.respond(server_first.as_bytes()).unwrap();
        server.finish(last.as_bytes()).is_ok()
    }

    #[test]
    fn reads_plain_passwords_and_verifiers_and_names_bad_lines() {
        let line = verifier_line("analyst", "pencil").unwrap();
        let text = format!("# users\n\n{line}\nloader:a:b c\r\n");
        let passwords = ClientPasswords::parse(&text).unwrap();
        assert_eq!(passwords.users.len(), 2);
        assert!(!passwords.verifier("analyst").1);
        // A plain password may hold ':'; only the first one ends the user.
        assert!(signs_in(&passwords, "loader", "a:b c"));
        assert!(!signs_in(&passwords, "loader", "a"));
        assert!(signs_in(&passwords, "analyst", "pencil"));
        // An unknown user gets the same fake verifier every time, and is doomed.
        let (fake, doomed) = passwords.verifier("mallory");
        assert!(doomed);
        assert_eq!(fake, passwords.verifier("mallory").0);
        for (text, why) in [
            ("nocolon\n", "line 1: expected user:password"),
            ("a:x\n:pw\n", "line 2: the user name is empty"),
            ("a:\n", "user a has an empty password"),
            ("a:x\na:y\n", "line 2: user a is listed twice"),
            (
                "a:SCRAM-SHA-256$1\n",
                "line 1: not a SCRAM-SHA-256 verifier",
            ),
            ("# nobody\n", "lists no user"),
        ] {
            let error = ClientPasswords::parse(text).unwrap_err();
            assert!(error.contains(why), "{text:?}: {error}");
        }
    }
}
