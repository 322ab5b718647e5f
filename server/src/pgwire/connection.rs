//! One client connection at the message level, on the `pgwire` crate's codecs:
//! frontend messages decoded from a buffer that never grows past a bound (a length
//! off the wire is checked before anything is read for it), backend messages encoded
//! into an output buffer flushed when it fills or when the protocol needs it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use pgwire::messages::{
    DecodeContext, PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion,
};

use super::codec::MAX_MESSAGE_BYTES;

/// Startup packets carry a few parameters; PostgreSQL itself caps them at 10000 bytes.
const MAX_STARTUP_BYTES: usize = 10_000;
/// Output is sent once this much is buffered (and at every flush point).
const OUTPUT_CHUNK: usize = 64 << 10;

pub(crate) struct Connection {
    reader: TcpStream,
    /// Shared with the node's session table, which may write a last message (a
    /// shutdown's FATAL) between two of ours, never inside one.
    writer: Arc<Mutex<TcpStream>>,
    input: BytesMut,
    output: BytesMut,
    context: DecodeContext,
}

impl Connection {
    /// # Errors
    /// When the socket cannot be cloned.
    pub fn new(stream: TcpStream) -> std::io::Result<Connection> {
        let _ = stream.set_nodelay(true);
        let context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
        Ok(Connection {
            reader: stream.try_clone()?,
            writer: Arc::new(Mutex::new(stream)),
            input: BytesMut::with_capacity(8 << 10),
            output: BytesMut::with_capacity(OUTPUT_CHUNK),
            context,
        })
    }

    /// How long a read may wait (`None`: forever); a read that waits longer fails.
    ///
    /// # Errors
    /// When the socket refuses the setting.
    pub fn set_read_timeout(&self, timeout: Option<std::time::Duration>) -> std::io::Result<()> {
        self.reader.set_read_timeout(timeout)
    }

    /// The startup phase is over: from now on messages carry a type byte.
    pub fn started(&mut self) {
        self.context.awaiting_frontend_ssl = false;
        self.context.awaiting_frontend_startup = false;
    }

    /// The client chose not to negotiate SSL (or was refused): a startup or cancel
    /// packet comes next.
    pub fn ssl_settled(&mut self) {
        self.context.awaiting_frontend_ssl = false;
    }

    /// The next message from the client.
    ///
    /// # Errors
    /// The socket's errors, end of stream, a message longer than allowed, or bytes
    /// that are not a valid message: the connection must be dropped.
    pub fn receive(&mut self) -> std::io::Result<PgWireFrontendMessage> {
        loop {
            self.check_length()?;
            if !self.input.is_empty() {
                let decoded = decode_frontend(&mut self.input, &self.context)?;
                if let Some(message) = decoded {
                    return Ok(message);
                }
            }
            let mut chunk = [0u8; 16 << 10];
            let read = self.reader.read(&mut chunk)?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.input.extend_from_slice(&chunk[..read]);
        }
    }

    /// Refuses a message whose declared length is beyond the bound, before reading it.
    fn check_length(&self) -> std::io::Result<()> {
        let startup = self.context.awaiting_frontend_ssl || self.context.awaiting_frontend_startup;
        let (offset, limit) = if startup {
            (0, MAX_STARTUP_BYTES)
        } else {
            (1, MAX_MESSAGE_BYTES)
        };
        if self.input.remaining() < offset + 4 {
            return Ok(());
        }
        let field = &self.input[offset..offset + 4];
        let length = u32::from_be_bytes([field[0], field[1], field[2], field[3]]) as usize;
        if !(4..=limit).contains(&length) {
            return Err(invalid(format!(
                "message length {length} is outside 4..={limit}"
            )));
        }
        Ok(())
    }

    /// Queues a message; sends when enough is queued.
    ///
    /// # Errors
    /// The socket's errors.
    pub fn send(&mut self, message: PgWireBackendMessage) -> std::io::Result<()> {
        message
            .encode(&mut self.output)
            .map_err(|e| invalid(e.to_string()))?;
        if self.output.len() >= OUTPUT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Queues raw bytes (the one-byte SSL refusal has no message frame).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.output.extend_from_slice(bytes);
    }

    /// Sends everything queued.
    ///
    /// # Errors
    /// The socket's errors.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if !self.output.is_empty() {
            writer.write_all(&self.output)?;
            self.output.clear();
        }
        writer.flush()
    }

    /// What lets the node end this connection from another thread.
    ///
    /// # Errors
    /// When the socket cannot be cloned.
    pub fn terminator(&self) -> std::io::Result<Terminator> {
        Ok(Terminator {
            writer: Arc::clone(&self.writer),
            socket: self.reader.try_clone()?,
        })
    }
}

/// Ends a client's connection from outside its thread (a node shutting down).
pub(crate) struct Terminator {
    writer: Arc<Mutex<TcpStream>>,
    socket: TcpStream,
}

impl Terminator {
    /// Writes `last` between two of the connection's own messages, then shuts the
    /// socket, which also ends a write the client stopped reading. Waits at most
    /// `patience` for the connection's own write to finish.
    pub fn end_with(&self, last: &[u8], patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            match self.writer.try_lock() {
                Ok(mut writer) => {
                    let _ = writer.set_write_timeout(Some(patience));
                    let _ = writer.write_all(last);
                    let _ = writer.flush();
                    break;
                }
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    let _ = poisoned.into_inner().write_all(last);
                    break;
                }
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(std::sync::TryLockError::WouldBlock) => break,
            }
        }
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
    }
}

/// Decodes one client message. The codec reads some fields without checking they
/// are there (a Parse whose parameter count runs past its end panics it), so a
/// panic is caught and counts as a malformed message: the client's connection ends
/// with an error, its thread and the node go on.
fn decode_frontend(
    input: &mut BytesMut,
    context: &DecodeContext,
) -> std::io::Result<Option<PgWireFrontendMessage>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        PgWireFrontendMessage::decode(input, context)
    }))
    .map_err(|_| invalid("malformed message: a field runs past its end".into()))?
    .map_err(|e| invalid(e.to_string()))
}

fn invalid(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Type bytes of every frontend message, and some that are none.
    const TYPES: &[u8] = b"QPBDECSHXFdcfpx\0";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(1),
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Any message body, with a length field that fits it, decodes or is refused:
        /// a client's bytes never panic the connection's thread.
        #[test]
        fn arbitrary_messages_never_panic(
            kind in proptest::sample::select(TYPES),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            startup: bool,
        ) {
            let mut context = DecodeContext::new(ProtocolVersion::PROTOCOL3_0);
            context.awaiting_frontend_ssl = false;
            context.awaiting_frontend_startup = startup;
            let mut input = BytesMut::new();
            if !startup {
                input.extend_from_slice(&[kind]);
            }
            input.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
            input.extend_from_slice(&body);
            let decoded = std::panic::catch_unwind(move || {
                let _ = decode_frontend(&mut input, &context);
            });
            proptest::prop_assert!(decoded.is_ok(), "decoding panicked");
        }
    }
}
