//! A client proves who it is, when the node has a password file: SCRAM-SHA-256 in
//! SASL messages, as PostgreSQL 10+ does and every current driver speaks. Failure
//! answers as PostgreSQL does (28P01 for a wrong password or unknown user, alike,
//! so user names cannot be probed; 08P01 for a malformed exchange) and ends the
//! connection.

use bytes::{Buf, Bytes};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage as Backend, PgWireFrontendMessage as Frontend};

use super::connection::Connection;
use super::passwords::ClientPasswords;
use super::scram::{ScramError, ServerExchange, MECHANISM};
use super::server::fatal_response;

/// Runs the exchange for `user`; `Ok(false)` when the client was refused (it has
/// been told why).
///
/// # Errors
/// The socket's errors.
pub(crate) fn authenticate(
    connection: &mut Connection,
    passwords: &ClientPasswords,
    user: Option<&str>,
    peer: &str,
) -> std::io::Result<bool> {
    let Some(user) = user.filter(|user| !user.is_empty()) else {
        fatal(
            connection,
            "28000",
            "no PostgreSQL user name specified in startup packet",
        )?;
        return Ok(false);
    };
    match exchange(connection, passwords, user)? {
        Ok(()) => Ok(true),
        Err(ScramError::WrongProof) => {
            eprintln!("percore: client {peer}: password authentication failed for user {user:?}");
            fatal(
                connection,
                "28P01",
                &format!("password authentication failed for user \"{user}\""),
            )?;
            Ok(false)
        }
        Err(ScramError::Malformed(why)) => {
            eprintln!("percore: client {peer}: SCRAM authentication: {why}");
            fatal(connection, "08P01", &format!("SCRAM authentication: {why}"))?;
            Ok(false)
        }
    }
}

fn exchange(
    connection: &mut Connection,
    passwords: &ClientPasswords,
    user: &str,
) -> std::io::Result<Result<(), ScramError>> {
    connection.send(Backend::Authentication(Authentication::SASL(vec![
        MECHANISM.to_string(),
    ])))?;
    connection.flush()?;
    let initial = password_message(connection)?;
    let client_first = match initial_response(initial) {
        Ok(first) => first,
        Err(error) => return Ok(Err(error)),
    };
    let (verifier, doomed) = passwords.verifier(user);
    let (exchange, server_first) = match ServerExchange::start(verifier, doomed, &client_first) {
        Ok(started) => started,
        Err(error) => return Ok(Err(error)),
    };
    connection.send(Backend::Authentication(Authentication::SASLContinue(
        Bytes::from(server_first),
    )))?;
    connection.flush()?;
    let client_final = password_message(connection)?;
    let server_final = match exchange.finish(&client_final) {
        Ok(server_final) => server_final,
        Err(error) => return Ok(Err(error)),
    };
    connection.send(Backend::Authentication(Authentication::SASLFinal(
        Bytes::from(server_final),
    )))?;
    Ok(Ok(()))
}

/// The body of the next message, which must be a password-family ('p') message.
fn password_message(connection: &mut Connection) -> std::io::Result<Vec<u8>> {
    match connection.receive()? {
        Frontend::PasswordMessageFamily(PasswordMessageFamily::Raw(body)) => Ok(body.to_vec()),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("expected a SASL response during authentication, got {other:?}"),
        )),
    }
}

/// SASLInitialResponse: the mechanism (a C string), then the client-first message
/// with its length. Read here rather than by the codec, which panics on a length
/// that runs past the body.
fn initial_response(body: Vec<u8>) -> Result<Vec<u8>, ScramError> {
    let malformed = |why: &str| ScramError::Malformed(why.to_string());
    let end = body
        .iter()
        .position(|&byte| byte == 0)
        .ok_or_else(|| malformed("the SASL initial response names no mechanism"))?;
    if &body[..end] != MECHANISM.as_bytes() {
        return Err(ScramError::Malformed(format!(
            "the client chose SASL mechanism {:?}; Percore offers {MECHANISM}",
            String::from_utf8_lossy(&body[..end])
        )));
    }
    let mut rest = &body[end + 1..];
    if rest.remaining() < 4 {
        return Err(malformed("the SASL initial response has no length"));
    }
    let length = rest.get_i32();
    if usize::try_from(length).ok() != Some(rest.len()) {
        return Err(malformed(
            "the SASL initial response's length does not match",
        ));
    }
    Ok(rest.to_vec())
}

fn fatal(connection: &mut Connection, sqlstate: &str, message: &str) -> std::io::Result<()> {
    connection.send(Backend::ErrorResponse(fatal_response(sqlstate, message)))?;
    connection.flush()
}
