//! Message framing: a type byte, a big-endian length that counts itself, a body.
//! Lengths from the peer are bounded before anything is allocated for them.

use std::io::{Read, Write};

/// A query message may carry up to the parser's 1 MiB plus slack; anything longer is
/// refused before it is read.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Reads one typed message: its type byte and body.
pub(crate) fn read_message(stream: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    stream.read_exact(&mut head)?;
    let body = read_body(
        stream,
        u32::from_be_bytes([head[1], head[2], head[3], head[4]]),
    )?;
    Ok((head[0], body))
}

/// Reads a body whose length field (which counts its own 4 bytes) was `length`.
pub(crate) fn read_body(stream: &mut impl Read, length: u32) -> std::io::Result<Vec<u8>> {
    let length = length as usize;
    if !(4..=MAX_MESSAGE_BYTES).contains(&length) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("message length {length} is outside 4..={MAX_MESSAGE_BYTES}"),
        ));
    }
    let mut body = vec![0u8; length - 4];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// Builds one outgoing message.
pub(crate) struct MessageBuilder {
    bytes: Vec<u8>,
}

impl MessageBuilder {
    pub fn new(kind: u8) -> Self {
        MessageBuilder {
            bytes: vec![kind, 0, 0, 0, 0],
        }
    }

    /// A NUL-terminated string.
    pub fn cstr(mut self, value: &str) -> Self {
        self.bytes.extend_from_slice(value.as_bytes());
        self.bytes.push(0);
        self
    }

    pub fn i32(mut self, value: i32) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn bytes(mut self, value: &[u8]) -> Self {
        self.bytes.extend_from_slice(value);
        self
    }

    pub fn finish(mut self) -> Vec<u8> {
        let length = u32::try_from(self.bytes.len() - 1).expect("message under 4 GiB");
        self.bytes[1..5].copy_from_slice(&length.to_be_bytes());
        self.bytes
    }

    pub fn write_to(self, stream: &mut impl Write) -> std::io::Result<()> {
        stream.write_all(&self.finish())
    }
}

/// Reads the NUL-terminated strings of a body.
pub(crate) struct BodyReader<'a> {
    body: &'a [u8],
}

impl<'a> BodyReader<'a> {
    pub fn new(body: &'a [u8]) -> Self {
        BodyReader { body }
    }

    fn invalid(what: &str) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
    }

    pub fn cstr(&mut self) -> std::io::Result<String> {
        let end = self
            .body
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Self::invalid("unterminated string"))?;
        let text = String::from_utf8(self.body[..end].to_vec())
            .map_err(|_| Self::invalid("string is not UTF-8"))?;
        self.body = &self.body[end + 1..];
        Ok(text)
    }

    pub fn i16(&mut self) -> std::io::Result<i16> {
        let bytes = self.take(2)?;
        Ok(i16::from_be_bytes([bytes[0], bytes[1]]))
    }

    pub fn i32(&mut self) -> std::io::Result<i32> {
        let bytes = self.take(4)?;
        Ok(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn take(&mut self, count: usize) -> std::io::Result<&'a [u8]> {
        if self.body.len() < count {
            return Err(Self::invalid("message shorter than its fields"));
        }
        let (head, rest) = self.body.split_at(count);
        self.body = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.take(1)?[0])
    }
}
