//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the server keeps only
//! a verifier (salt, iteration count, StoredKey, ServerKey), never the password, and
//! the password never crosses the wire; both sides prove they know it. Channel
//! binding is not offered (Percore answers SSLRequest with 'N'), so the client's
//! GS2 header is `n,,` or `y,,`.
//!
//! ```text
//! client-first   n,,n=USER,r=CLIENT_NONCE
//! server-first   r=CLIENT_NONCE SERVER_NONCE,s=SALT,i=ITERATIONS
//! client-final   c=biws,r=NONCE,p=PROOF        PROOF = ClientKey xor HMAC(StoredKey, AuthMessage)
//! server-final   v=HMAC(ServerKey, AuthMessage)
//! ```

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub(crate) const MECHANISM: &str = "SCRAM-SHA-256";
/// PostgreSQL's default (`scram_iterations`).
pub(crate) const DEFAULT_ITERATIONS: u32 = 4096;
/// Fewer would make a stolen verifier cheap to attack; more than this from a file is
/// a typo that would stall every login.
const ITERATIONS: std::ops::RangeInclusive<u32> = 1000..=1_000_000;
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 18;

type Key = [u8; 32];

/// What the server keeps of a password: PostgreSQL's `rolpassword` form,
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Key,
    server_key: Key,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(..)")
    }
}

impl Verifier {
    /// The verifier of `password` with a fresh random salt.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn new(password: &str, iterations: u32) -> Result<Verifier, String> {
        let mut salt = vec![0u8; SALT_BYTES];
        getrandom::fill(&mut salt).map_err(|e| format!("no randomness for a salt: {e}"))?;
        Ok(Verifier::with_salt(password, salt, iterations))
    }

    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> Verifier {
        let salted = salted_password(password, &salt, iterations);
        Verifier {
            iterations,
            salt,
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// Reads PostgreSQL's form.
    ///
    /// # Errors
    /// Text that is not a SCRAM-SHA-256 verifier, named part by part.
    pub fn parse(text: &str) -> Result<Verifier, String> {
        let bad = |why: &str| format!("not a SCRAM-SHA-256 verifier: {why}");
        let rest = text
            .strip_prefix("SCRAM-SHA-256$")
            .ok_or_else(|| bad("it must start with SCRAM-SHA-256$"))?;
        let (parameters, keys) = rest
            .split_once('$')
            .ok_or_else(|| bad("expected <iterations>:<salt>$<StoredKey>:<ServerKey>"))?;
        let (iterations, salt) = parameters
            .split_once(':')
            .ok_or_else(|| bad("expected <iterations>:<salt>"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| bad("the iteration count is not a number"))?;
        if !ITERATIONS.contains(&iterations) {
            return Err(bad(&format!(
                "{iterations} iterations is outside {}..={}",
                ITERATIONS.start(),
                ITERATIONS.end()
            )));
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| bad("the salt is not base64"))?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or_else(|| bad("expected <StoredKey>:<ServerKey>"))?;
        let key = |text: &str, name: &str| -> Result<Key, String> {
            BASE64
                .decode(text)
                .ok()
                .and_then(|bytes| Key::try_from(bytes).ok())
                .ok_or_else(|| bad(&format!("{name} is not 32 bytes of base64")))
        };
        Ok(Verifier {
            iterations,
            salt,
            stored_key: key(stored, "StoredKey")?,
            server_key: key(server, "ServerKey")?,
        })
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }
}

/// Why an exchange failed: the client's messages were malformed (a protocol
/// violation), or its proof was wrong (the password).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ScramError {
    Malformed(String),
    WrongProof,
}

fn malformed(why: impl Into<String>) -> ScramError {
    ScramError::Malformed(why.into())
}

/// The server's side of one exchange.
pub(crate) struct ServerExchange {
    verifier: Verifier,
    /// A user that does not exist goes through the same messages and fails at the
    /// end, so a client cannot learn which user names exist.
    doomed: bool,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ServerExchange {
    /// Reads the client-first message and makes the server-first one.
    ///
    /// # Errors
    /// A malformed message, channel binding or an authorization identity (neither
    /// is offered).
    pub fn start(
        verifier: Verifier,
        doomed: bool,
        client_first: &[u8],
    ) -> Result<(ServerExchange, String), ScramError> {
        let text = std::str::from_utf8(client_first)
            .map_err(|_| malformed("the SCRAM message is not UTF-8"))?;
        let (gs2_header, bare) = split_gs2_header(text)?;
        let mut attributes = bare.split(',');
        if !attributes.next().is_some_and(|user| user.starts_with("n=")) {
            return Err(malformed("the client-first message has no user (n=)"));
        }
        let client_nonce = attributes
            .next()
            .and_then(|nonce| nonce.strip_prefix("r="))
            .filter(|nonce| !nonce.is_empty() && nonce.bytes().all(is_nonce_byte))
            .ok_or_else(|| malformed("the client-first message has no valid nonce (r=)"))?;
        if attributes.any(|extension| extension.starts_with("m=")) {
            return Err(malformed("SCRAM extensions (m=) are not supported"));
        }
        let nonce = format!("{client_nonce}{}", fresh_nonce().map_err(malformed)?);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&verifier.salt),
            verifier.iterations
        );
        let exchange = ServerExchange {
            verifier,
            doomed,
            gs2_header: gs2_header.to_string(),
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client's proof and makes the server-final message.
    ///
    /// # Errors
    /// A malformed message, or a proof that does not match the verifier.
    pub fn finish(self, client_final: &[u8]) -> Result<String, ScramError> {
        let text = std::str::from_utf8(client_final)
            .map_err(|_| malformed("the SCRAM message is not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("the client-final message has no proof (p=)"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|binding| binding.strip_prefix("c="))
            .ok_or_else(|| malformed("the client-final message has no channel binding (c=)"))?;
        if BASE64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(malformed(
                "the channel binding does not match the GS2 header",
            ));
        }
        if attributes.next().and_then(|nonce| nonce.strip_prefix("r=")) != Some(&self.nonce) {
            return Err(malformed(
                "the client-final message does not echo the nonce",
            ));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| malformed("the proof is not base64"))?;
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &signature).ok_or(ScramError::WrongProof)?;
        let matches = constant_time_eq(&sha256(&client_key), &self.verifier.stored_key);
        if self.doomed || !matches {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// The client's side of one exchange (for `percore sql --connect` and the tests).
pub(crate) struct ClientExchange {
    password: String,
    client_first_bare: String,
    nonce: String,
    server_signature: Option<Key>,
}

impl ClientExchange {
    /// The client-first message to send.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn start(password: &str) -> Result<(ClientExchange, String), String> {
        let nonce = fresh_nonce()?;
        let client_first_bare = format!("n=,r={nonce}");
        let message = format!("n,,{client_first_bare}");
        let exchange = ClientExchange {
            password: password.to_string(),
            client_first_bare,
            nonce,
            server_signature: None,
        };
        Ok((exchange, message))
    }

    /// Reads the server-first message and makes the client-final one.
    ///
    /// # Errors
    /// A malformed server message, or one whose nonce does not extend ours.
    pub fn respond(&mut self, server_first: &[u8]) -> Result<String, String> {
        let text = std::str::from_utf8(server_first).map_err(|_| "server-first is not UTF-8")?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in text.split(',') {
            match attribute.split_at_checked(2) {
                Some(("r=", value)) => nonce = Some(value),
                Some(("s=", value)) => salt = BASE64.decode(value).ok(),
                Some(("i=", value)) => iterations = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!("malformed SCRAM server-first message: {text}"));
        };
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend the client's".into());
        }
        if !ITERATIONS.contains(&iterations) {
            return Err(format!("the server asks for {iterations} SCRAM iterations"));
        }
        let salted = salted_password(&self.password, &salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = hmac(&sha256(&client_key), auth_message.as_bytes());
        let proof = xor(&client_key, &signature).expect("both are 32 bytes");
        self.server_signature = Some(hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Checks the server-final message: the server knew the verifier too.
    ///
    /// # Errors
    /// A server that did not prove it.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let expected = self
            .server_signature
            .map(|signature| format!("v={}", BASE64.encode(signature)));
        match expected {
            Some(expected) if expected.as_bytes() == server_final => Ok(()),
            _ => Err("the server's SCRAM signature is wrong: it does not know the password".into()),
        }
    }
}

/// Splits `n,,` / `y,,` from the rest; `p=` (channel binding) and `a=` (another
/// identity) are refused.
fn split_gs2_header(text: &str) -> Result<(&str, &str), ScramError> {
    let (flag, rest) = text
        .split_once(',')
        .ok_or_else(|| malformed("the client-first message has no GS2 header"))?;
    match flag {
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(malformed(
                "channel binding was requested, but Percore does not offer SCRAM-SHA-256-PLUS",
            ))
        }
        _ => return Err(malformed("the GS2 header's flag is not n, y or p")),
    }
    let (authorization, bare) = rest
        .split_once(',')
        .ok_or_else(|| malformed("the client-first message has no GS2 header"))?;
    if !authorization.is_empty() {
        return Err(malformed("an authorization identity (a=) is not supported"));
    }
    Ok((&text[..flag.len() + authorization.len() + 2], bare))
}

/// Printable ASCII but ',' (RFC 5802's `printable`).
fn is_nonce_byte(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b','
}

fn fresh_nonce() -> Result<String, String> {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a nonce: {e}"))?;
    Ok(BASE64.encode(bytes))
}

/// Hi(Normalize(password), salt, i): PBKDF2 with HMAC-SHA-256, one block. The
/// password is SASLprepped as PostgreSQL and libpq do, or used as it is when that
/// fails (they do the same).
fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Key {
    let prepared = stringprep::saslprep(password).unwrap_or(std::borrow::Cow::Borrowed(password));
    let key = prepared.as_bytes();
    let mut block = Vec::with_capacity(salt.len() + 4);
    block.extend_from_slice(salt);
    block.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(key, &block);
    let mut result = u;
    for _ in 1..iterations {
        u = hmac(key, &u);
        for (r, x) in result.iter_mut().zip(u) {
            *r ^= x;
        }
    }
    result
}

fn hmac(key: &[u8], message: &[u8]) -> Key {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub(crate) fn sha256(bytes: &[u8]) -> Key {
    Sha256::digest(bytes).into()
}

fn xor(a: &[u8], b: &Key) -> Option<Key> {
    let a = Key::try_from(a).ok()?;
    let mut out = [0u8; 32];
    for (index, byte) in out.iter_mut().enumerate() {
        *byte = a[index] ^ b[index];
    }
    Some(out)
}

/// Equal without an early exit: timing must not reveal how much of a guess matched.
fn constant_time_eq(a: &Key, b: &Key) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange (user "user", password "pencil").
    #[test]
    fn the_rfc_7677_example_verifies_both_ways() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::with_salt("pencil", salt, 4096);
        let client_first = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let (mut exchange, _) = ServerExchange::start(verifier, false, client_first).unwrap();
        // Replay the RFC's server nonce so its proof applies.
        exchange.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        exchange.server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .into();
        let server_final = exchange
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn our_client_and_server_agree_and_a_wrong_password_fails() {
        let verifier = Verifier::new("s3cret", DEFAULT_ITERATIONS).unwrap();
        for (password, doomed, accepted) in [
            ("s3cret", false, true),
            ("S3cret", false, false),
            ("s3cret", true, false),
        ] {
            let (mut client, first) = ClientExchange::start(password).unwrap();
            let (server, server_first) =
                ServerExchange::start(verifier.clone(), doomed, first.as_bytes()).unwrap();
            let client_final = client.respond(server_first.as_bytes()).unwrap();
            match server.finish(client_final.as_bytes()) {
                Ok(server_final) => {
                    assert!(accepted, "{password} doomed={doomed} was accepted");
                    client.verify(server_final.as_bytes()).unwrap();
                }
                Err(error) => {
                    assert!(!accepted, "{password}: {error:?}");
                    assert_eq!(error, ScramError::WrongProof);
                }
            }
        }
    }

    #[test]
    fn verifiers_round_trip_through_postgresql_form_and_bad_ones_are_named() {
        let verifier = Verifier::new("pw", DEFAULT_ITERATIONS).unwrap();
        assert_eq!(Verifier::parse(&verifier.to_string()).unwrap(), verifier);
        for (text, why) in [
            ("md5abc", "must start with"),
            ("SCRAM-SHA-256$4096:c2FsdA==", "expected <iterations>"),
            ("SCRAM-SHA-256$x:c2FsdA==$a:b", "not a number"),
            ("SCRAM-SHA-256$10:c2FsdA==$a:b", "outside"),
            (
                "SCRAM-SHA-256$4096:c2FsdA==$YQ==:YQ==",
                "StoredKey is not 32 bytes",
            ),
        ] {
            let error = Verifier::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn malformed_client_messages_are_refused_not_panicked_on() {
        let verifier = Verifier::new("pw", DEFAULT_ITERATIONS).unwrap();
        for first in [
            &b""[..],
            b"n",
            b"n,,",
            b"n,,r=abc",
            b"n,,n=,r=",
            b"n,,n=,r=a b",
            b"p=tls-server-end-point,,n=,r=abc",
            b"n,a=admin,n=,r=abc",
            b"n,,n=,r=abc,m=ext",
            b"\xff\xfe",
        ] {
            let result = ServerExchange::start(verifier.clone(), false, first);
            assert!(
                matches!(result, Err(ScramError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(first)
            );
        }
        let (exchange, server_first) =
            ServerExchange::start(verifier.clone(), false, b"y,,n=,r=abc").unwrap();
        let nonce = server_first.split(',').next().unwrap();
        for last in [
            "c=biws,".to_string() + nonce + ",p=AAAA",
            "c=eSws,r=wrong,p=AAAA".to_string(),
            format!("c=eSws,{nonce}"),
        ] {
            let (again, _) =
                ServerExchange::start(verifier.clone(), false, b"y,,n=,r=abc").unwrap();
            assert!(matches!(
                again.finish(last.as_bytes()),
                Err(ScramError::Malformed(_))
            ));
        }
        // The right binding and nonce with a short proof: a wrong password, not a panic.
        let short = format!("c=eSws,{nonce},p=AAAA");
        assert_eq!(
            exchange.finish(short.as_bytes()),
            Err(ScramError::WrongProof)
        );
    }
}
