//! Nodes prove to each other that they hold the cluster secret before anything else
//! is read from a connection: HMAC-SHA256 challenge-response with a fresh nonce
//! from each side, so neither side learns the secret and a recorded handshake is
//! worthless (the other side's nonce differs next time).
//!
//! ```text
//! client                                         server
//!   AUTH_HELLO, node id (u32 LE), nonce_c  ->
//!                                          <-   nonce_s, HMAC(secret, "server" | hello | nonce_c | nonce_s)
//!   HMAC(secret, "client" | hello | nonce_c | nonce_s)  ->
//!   then the connection's usual hello (control or data) and its traffic
//! ```
//! Both proofs cover the client's hello, so a proof made for one node id does not
//! serve another. These functions only compute and check messages; the blocking
//! and async callers do the I/O (see [`client_handshake`] and [`server_handshake`]
//! for blocking streams).

use std::io::{Read, Write};
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The first bytes of an authenticated connection, before the node id and nonce.
pub const AUTH_HELLO: &[u8; 8] = b"PCRAUTH1";
pub const NONCE_BYTES: usize = 32;
pub const PROOF_BYTES: usize = 32;
/// What the server answers: its nonce and its proof.
pub const SERVER_ANSWER_BYTES: usize = NONCE_BYTES + PROOF_BYTES;
/// A secret shorter than this is refused: guessable.
const MIN_SECRET_BYTES: usize = 16;

/// The secret every member of a cluster holds. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterSecret(Vec<u8>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    /// The secret in `path`: its bytes without trailing whitespace (a newline an
    /// editor added must not make nodes disagree).
    ///
    /// # Errors
    /// A file that cannot be read, or one holding fewer than 16 bytes.
    pub fn from_file(path: &Path) -> Result<ClusterSecret, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the cluster secret {}: {e}", path.display()))?;
        ClusterSecret::new(bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// # Errors
    /// Fewer than 16 bytes once trailing whitespace is trimmed.
    pub fn new(mut bytes: Vec<u8>) -> Result<ClusterSecret, String> {
        while bytes.last().is_some_and(u8::is_ascii_whitespace) {
            bytes.pop();
        }
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the cluster secret has {} bytes; use at least {MIN_SECRET_BYTES} \
                 (for instance: head -c 32 /dev/urandom | base64 > FILE)",
                bytes.len()
            ));
        }
        Ok(ClusterSecret(bytes))
    }

    /// The MAC over one side's view of the handshake, ready to finalize or verify.
    fn mac(&self, role: &[u8], hello: &[u8; 12], client: &Nonce, server: &Nonce) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        for part in [role, hello, client, server] {
            mac.update(part);
        }
        mac
    }

    fn proof(&self, role: &[u8], hello: &[u8; 12], client: &Nonce, server: &Nonce) -> Proof {
        self.mac(role, hello, client, server)
            .finalize()
            .into_bytes()
            .into()
    }

    fn verify(
        &self,
        role: &[u8],
        hello: &[u8; 12],
        client: &Nonce,
        server: &Nonce,
        proof: &[u8],
    ) -> bool {
        // Constant time: a timing difference must not reveal how much of a guess was right.
        self.mac(role, hello, client, server)
            .verify_slice(proof)
            .is_ok()
    }
}

type Nonce = [u8; NONCE_BYTES];
type Proof = [u8; PROOF_BYTES];

const CLIENT_ROLE: &[u8] = b"percore client";
const SERVER_ROLE: &[u8] = b"percore server";

fn fresh_nonce() -> std::io::Result<Nonce> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce)
        .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    Ok(nonce)
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The other side's proof does not match the secret.
    WrongSecret,
    /// The client did not open with [`AUTH_HELLO`] although this node has a secret.
    NoSecretOffered,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthError::WrongSecret => "wrong cluster secret",
            AuthError::NoSecretOffered => "no cluster secret offered",
        })
    }
}

/// A failed handshake as an I/O error (`PermissionDenied`), for the callers that
/// run it over a stream.
impl From<AuthError> for std::io::Error {
    fn from(error: AuthError) -> Self {
        std::io::Error::new(std::io::ErrorKind::PermissionDenied, error.to_string())
    }
}

/// The client's side: started by [`ClientAuth::start`], finished by
/// [`ClientAuth::answer`].
pub struct ClientAuth {
    secret: ClusterSecret,
    hello: [u8; 12],
    nonce: Nonce,
}

impl ClientAuth {
    /// The handshake of node `me`, and the bytes it opens the connection with.
    ///
    /// # Errors
    /// When the system has no randomness to give.
    pub fn start(secret: &ClusterSecret, me: usize) -> std::io::Result<(ClientAuth, Vec<u8>)> {
        let mut hello = [0u8; 12];
        hello[..8].copy_from_slice(AUTH_HELLO);
        hello[8..].copy_from_slice(&(me as u32).to_le_bytes());
        let nonce = fresh_nonce()?;
        let opening = [&hello[..], &nonce[..]].concat();
        let auth = ClientAuth {
            secret: secret.clone(),
            hello,
            nonce,
        };
        Ok((auth, opening))
    }

    /// Checks the server's answer; the client's proof to send back.
    ///
    /// # Errors
    /// [`AuthError::WrongSecret`] when the server does not hold the secret.
    pub fn answer(&self, answer: &[u8; SERVER_ANSWER_BYTES]) -> Result<Proof, AuthError> {
        let server: Nonce = answer[..NONCE_BYTES].try_into().expect("sized above");
        let proof = &answer[NONCE_BYTES..];
        if !self
            .secret
            .verify(SERVER_ROLE, &self.hello, &self.nonce, &server, proof)
        {
            return Err(AuthError::WrongSecret);
        }
        Ok(self
            .secret
            .proof(CLIENT_ROLE, &self.hello, &self.nonce, &server))
    }
}

/// The server's side, from the client's opening bytes.
pub struct ServerAuth {
    secret: ClusterSecret,
    hello: [u8; 12],
    client: Nonce,
    server: Nonce,
}

impl ServerAuth {
    /// Answers the client's opening (`hello` as read, then its nonce); the bytes to
    /// send back.
    ///
    /// # Errors
    /// [`AuthError::NoSecretOffered`] when `hello` is not [`AUTH_HELLO`]; an I/O
    /// error when there is no randomness.
    pub fn answer(
        secret: &ClusterSecret,
        hello: &[u8; 12],
        client: &[u8; NONCE_BYTES],
    ) -> std::io::Result<Result<(ServerAuth, Vec<u8>), AuthError>> {
        if &hello[..8] != AUTH_HELLO {
            return Ok(Err(AuthError::NoSecretOffered));
        }
        let server = fresh_nonce()?;
        let proof = secret.proof(SERVER_ROLE, hello, client, &server);
        let auth = ServerAuth {
            secret: secret.clone(),
            hello: *hello,
            client: *client,
            server,
        };
        Ok(Ok((auth, [&server[..], &proof[..]].concat())))
    }

    /// The node id the client gave, once [`ServerAuth::check`] passed.
    pub fn client_node(&self) -> u32 {
        u32::from_le_bytes(self.hello[8..].try_into().expect("4 bytes"))
    }

    /// # Errors
    /// [`AuthError::WrongSecret`] when the client's proof does not match.
    pub fn check(&self, proof: &[u8; PROOF_BYTES]) -> Result<(), AuthError> {
        if self
            .secret
            .verify(CLIENT_ROLE, &self.hello, &self.client, &self.server, proof)
        {
            Ok(())
        } else {
            Err(AuthError::WrongSecret)
        }
    }
}

/// The client's handshake on a blocking stream, when it has a secret; nothing when not.
///
/// # Errors
/// I/O errors, and a server that does not prove the secret (`PermissionDenied`).
pub fn client_handshake<S: Read + Write>(
    stream: &mut S,
    secret: Option<&ClusterSecret>,
    me: usize,
) -> std::io::Result<()> {
    let Some(secret) = secret else {
        return Ok(());
    };
    let (auth, opening) = ClientAuth::start(secret, me)?;
    stream.write_all(&opening)?;
    let mut answer = [0u8; SERVER_ANSWER_BYTES];
    stream.read_exact(&mut answer)?;
    let proof = auth.answer(&answer)?;
    stream.write_all(&proof)
}

/// The server's handshake on a blocking stream whose first 12 bytes (`hello`) were
/// read; on success the client's node id.
///
/// # Errors
/// I/O errors, and an [`AuthError`] as `PermissionDenied`.
pub fn server_handshake<S: Read + Write>(
    stream: &mut S,
    secret: &ClusterSecret,
    hello: &[u8; 12],
) -> std::io::Result<u32> {
    // Checked before the nonce is read: a peer without a secret sends none.
    if &hello[..8] != AUTH_HELLO {
        return Err(AuthError::NoSecretOffered.into());
    }
    let mut client = [0u8; NONCE_BYTES];
    stream.read_exact(&mut client)?;
    let (auth, answer) = ServerAuth::answer(secret, hello, &client)??;
    stream.write_all(&answer)?;
    let mut proof = [0u8; PROOF_BYTES];
    stream.read_exact(&mut proof)?;
    auth.check(&proof)?;
    Ok(auth.client_node())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> ClusterSecret {
        ClusterSecret::new(text.as_bytes().to_vec()).unwrap()
    }

    fn opening_parts(opening: &[u8]) -> ([u8; 12], Nonce) {
        (
            opening[..12].try_into().unwrap(),
            opening[12..].try_into().unwrap(),
        )
    }

    #[test]
    fn the_same_secret_passes_both_ways() {
        let shared = secret("a secret of sufficient length\n");
        let (client, opening) = ClientAuth::start(&shared, 3).unwrap();
        let (hello, nonce) = opening_parts(&opening);
        let (server, answer) = ServerAuth::answer(&shared, &hello, &nonce)
            .unwrap()
            .unwrap();
        let proof = client.answer(&answer.try_into().unwrap()).unwrap();
        assert_eq!(server.check(&proof), Ok(()));
        assert_eq!(server.client_node(), 3);
    }

    #[test]
    fn a_different_secret_fails_on_both_sides() {
        let (right, wrong) = (
            secret("the right secret, long enough"),
            secret("a wrong secret, long enough"),
        );
        let (client, opening) = ClientAuth::start(&wrong, 1).unwrap();
        let (hello, nonce) = opening_parts(&opening);
        let (server, answer) = ServerAuth::answer(&right, &hello, &nonce).unwrap().unwrap();
        assert_eq!(
            client.answer(&answer.clone().try_into().unwrap()),
            Err(AuthError::WrongSecret)
        );
        // A client that skipped its check still cannot make the right proof.
        let forged = wrong.proof(
            CLIENT_ROLE,
            &hello,
            &nonce,
            &answer[..NONCE_BYTES].try_into().unwrap(),
        );
        assert_eq!(server.check(&forged), Err(AuthError::WrongSecret));
    }

    #[test]
    fn a_recorded_handshake_does_not_replay() {
        let shared = secret("a secret of sufficient length");
        let (client, opening) = ClientAuth::start(&shared, 0).unwrap();
        let (hello, nonce) = opening_parts(&opening);
        let (_, answer) = ServerAuth::answer(&shared, &hello, &nonce)
            .unwrap()
            .unwrap();
        let recorded_proof = client.answer(&answer.try_into().unwrap()).unwrap();
        // An eavesdropper sends the same opening and proof to a new connection.
        let (replayed, _) = ServerAuth::answer(&shared, &hello, &nonce)
            .unwrap()
            .unwrap();
        assert_eq!(replayed.check(&recorded_proof), Err(AuthError::WrongSecret));
    }

    #[test]
    fn a_plain_hello_is_refused_and_short_secrets_too() {
        let shared = secret("a secret of sufficient length");
        let mut hello = [0u8; 12];
        hello[..8].copy_from_slice(b"PCRCTRL1");
        assert!(matches!(
            ServerAuth::answer(&shared, &hello, &[0; NONCE_BYTES]).unwrap(),
            Err(AuthError::NoSecretOffered)
        ));
        let short = ClusterSecret::new(b"short\n".to_vec()).unwrap_err();
        assert!(short.contains("5 bytes"), "{short}");
    }
}
