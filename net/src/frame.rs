//! Frames: encode, and decode from a byte buffer that may hold a partial frame.

use std::fmt;

use crate::crc32c::crc32c;

pub const MAGIC: [u8; 4] = *b"PCR1";
pub const VERSION: u8 = 1;
pub const HEADER_BYTES: usize = 32;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An Arrow IPC record batch message for one exchange stream.
    Data = 1,
    /// The receiver grants the sender room for more data frames.
    Credit = 2,
    /// The sender has no more data for the stream.
    End = 3,
    /// Control traffic: query dispatch, cancel, heartbeats.
    Control = 4,
}

impl FrameKind {
    fn from_byte(byte: u8) -> Option<FrameKind> {
        match byte {
            1 => Some(FrameKind::Data),
            2 => Some(FrameKind::Credit),
            3 => Some(FrameKind::End),
            4 => Some(FrameKind::Control),
            _ => None,
        }
    }
}

/// Which exchange stream a frame belongs to: frames of many streams share a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    pub query: u64,
    pub exchange: u32,
    pub source_partition: u16,
    pub target_partition: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    pub stream: StreamId,
    pub payload: Vec<u8>,
}

/// Why bytes were refused. Every variant means the connection is no longer in sync
/// and must be dropped; none of them may take the node down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    BadMagic([u8; 4]),
    UnsupportedVersion(u8),
    UnknownKind(u8),
    /// The declared payload exceeds the receiver's limit; nothing was allocated.
    Oversized {
        declared_bytes: u64,
        max_bytes: usize,
    },
    ChecksumMismatch {
        declared: u32,
        computed: u32,
    },
    NonZeroReserved,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadMagic(magic) => write!(f, "not a Percore frame (magic {magic:02x?})"),
            FrameError::UnsupportedVersion(v) => write!(
                f,
                "frame version {v} is not supported (this node speaks {VERSION})"
            ),
            FrameError::UnknownKind(kind) => write!(f, "unknown frame kind {kind}"),
            FrameError::Oversized {
                declared_bytes,
                max_bytes,
            } => {
                write!(
                    f,
                    "frame declares {declared_bytes} payload bytes, the limit is {max_bytes}"
                )
            }
            FrameError::ChecksumMismatch { declared, computed } => {
                write!(
                    f,
                    "frame checksum {declared:08x} does not match its payload ({computed:08x})"
                )
            }
            FrameError::NonZeroReserved => write!(f, "frame header has non-zero reserved bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

impl Frame {
    /// Appends the encoded frame to `out`.
    ///
    /// # Panics
    /// When the payload exceeds `u32::MAX` bytes: senders split batches far below that.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(HEADER_BYTES + self.payload.len());
        out.extend_from_slice(&FrameHeader::encode(self.kind, self.stream, &self.payload));
        out.extend_from_slice(&self.payload);
    }
}

/// A validated frame header: what a reader needs to size and check the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    pub stream: StreamId,
    pub payload_bytes: usize,
    checksum: u32,
}

impl FrameHeader {
    /// The header for `payload`; write it, then the payload, with no copy of either.
    ///
    /// # Panics
    /// When the payload exceeds `u32::MAX` bytes: senders split batches far below that.
    pub fn encode(kind: FrameKind, stream: StreamId, payload: &[u8]) -> [u8; HEADER_BYTES] {
        let payload_bytes = u32::try_from(payload.len()).expect("payload under 4 GiB");
        let mut header = [0u8; HEADER_BYTES];
        header[0..4].copy_from_slice(&MAGIC);
        header[4] = VERSION;
        header[5] = kind as u8;
        header[8..16].copy_from_slice(&stream.query.to_le_bytes());
        header[16..20].copy_from_slice(&stream.exchange.to_le_bytes());
        header[20..22].copy_from_slice(&stream.source_partition.to_le_bytes());
        header[22..24].copy_from_slice(&stream.target_partition.to_le_bytes());
        header[24..28].copy_from_slice(&payload_bytes.to_le_bytes());
        header[28..32].copy_from_slice(&crc32c(payload).to_le_bytes());
        header
    }

    /// Validates a complete header; the payload length is checked against the limit
    /// before anyone allocates for it.
    ///
    /// # Errors
    /// Any [`FrameError`] except a checksum mismatch (see [`FrameHeader::verify`]).
    pub fn parse(
        header: &[u8; HEADER_BYTES],
        max_payload_bytes: usize,
    ) -> Result<FrameHeader, FrameError> {
        let field = |range: std::ops::Range<usize>| &header[range];
        let magic: [u8; 4] = field(0..4).try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if header[4] != VERSION {
            return Err(FrameError::UnsupportedVersion(header[4]));
        }
        let kind = FrameKind::from_byte(header[5]).ok_or(FrameError::UnknownKind(header[5]))?;
        if header[6..8] != [0, 0] {
            return Err(FrameError::NonZeroReserved);
        }
        let u32_at = |at: usize| u32::from_le_bytes(field(at..at + 4).try_into().expect("4 bytes"));
        let u16_at = |at: usize| u16::from_le_bytes(field(at..at + 2).try_into().expect("2 bytes"));
        let stream = StreamId {
            query: u64::from_le_bytes(field(8..16).try_into().expect("8 bytes")),
            exchange: u32_at(16),
            source_partition: u16_at(20),
            target_partition: u16_at(22),
        };
        let payload_bytes = u32_at(24) as usize;
        if payload_bytes > max_payload_bytes {
            return Err(FrameError::Oversized {
                declared_bytes: payload_bytes as u64,
                max_bytes: max_payload_bytes,
            });
        }
        Ok(FrameHeader {
            kind,
            stream,
            payload_bytes,
            checksum: u32_at(28),
        })
    }

    /// Checks the payload against the header's checksum.
    ///
    /// # Errors
    /// [`FrameError::ChecksumMismatch`].
    pub fn verify(&self, payload: &[u8]) -> Result<(), FrameError> {
        let computed = crc32c(payload);
        if computed != self.checksum {
            return Err(FrameError::ChecksumMismatch {
                declared: self.checksum,
                computed,
            });
        }
        Ok(())
    }
}

/// Decodes frames from the front of a receive buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    max_payload_bytes: usize,
}

impl FrameDecoder {
    pub fn new(max_payload_bytes: usize) -> Self {
        FrameDecoder { max_payload_bytes }
    }

    /// The first frame in `buffer` and the bytes it used, or `None` when the buffer
    /// holds only part of a frame so far. The header is validated as soon as it is
    /// complete, so an oversized or garbage frame fails before its payload arrives.
    ///
    /// # Errors
    /// Any [`FrameError`]: the stream is corrupt and the connection must be dropped.
    pub fn decode(&self, buffer: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        if buffer.len() < HEADER_BYTES {
            // Refuse garbage early, even before the whole header is here.
            let seen = buffer.len().min(4);
            if buffer[..seen] != MAGIC[..seen] {
                let mut magic = [0u8; 4];
                magic[..seen].copy_from_slice(&buffer[..seen]);
                return Err(FrameError::BadMagic(magic));
            }
            return Ok(None);
        }
        let header: &[u8; HEADER_BYTES] = buffer[..HEADER_BYTES].try_into().expect("header");
        let header = FrameHeader::parse(header, self.max_payload_bytes)?;
        let total = HEADER_BYTES + header.payload_bytes;
        if buffer.len() < total {
            return Ok(None);
        }
        let payload = &buffer[HEADER_BYTES..total];
        header.verify(payload)?;
        let frame = Frame {
            kind: header.kind,
            stream: header.stream,
            payload: payload.to_vec(),
        };
        Ok(Some((frame, total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frame {
        Frame {
            kind: FrameKind::Data,
            stream: StreamId {
                query: 7,
                exchange: 3,
                source_partition: 1,
                target_partition: 2,
            },
            payload: b"arrow ipc bytes".to_vec(),
        }
    }

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        bytes
    }

    #[test]
    fn frames_round_trip_back_to_back() {
        let decoder = FrameDecoder::new(1024);
        let (first, mut second) = (sample(), sample());
        second.kind = FrameKind::End;
        second.payload.clear();
        let mut bytes = encoded(&first);
        bytes.extend(encoded(&second));
        let (decoded, used) = decoder.decode(&bytes).unwrap().unwrap();
        assert_eq!(decoded, first);
        let (decoded, rest) = decoder.decode(&bytes[used..]).unwrap().unwrap();
        assert_eq!(decoded, second);
        assert_eq!(used + rest, bytes.len());
    }

    #[test]
    fn every_truncation_asks_for_more_bytes() {
        let decoder = FrameDecoder::new(1024);
        let bytes = encoded(&sample());
        for cut in 0..bytes.len() {
            assert_eq!(decoder.decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_frames_fail_on_the_header_alone() {
        let mut frame = sample();
        frame.payload = vec![0; 2048];
        let bytes = encoded(&frame);
        let error = FrameDecoder::new(1024)
            .decode(&bytes[..HEADER_BYTES])
            .unwrap_err();
        assert_eq!(
            error,
            FrameError::Oversized {
                declared_bytes: 2048,
                max_bytes: 1024
            }
        );
    }

    #[test]
    fn garbage_and_corruption_are_refused() {
        let decoder = FrameDecoder::new(1024);
        assert!(matches!(
            decoder.decode(b"GET / HTTP/1.1\r\n"),
            Err(FrameError::BadMagic(_))
        ));
        let mut bytes = encoded(&sample());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(
            decoder.decode(&bytes),
            Err(FrameError::ChecksumMismatch { .. })
        ));
        let mut bytes = encoded(&sample());
        bytes[5] = 99;
        assert_eq!(decoder.decode(&bytes), Err(FrameError::UnknownKind(99)));
        let mut bytes = encoded(&sample());
        bytes[4] = 2;
        assert_eq!(
            decoder.decode(&bytes),
            Err(FrameError::UnsupportedVersion(2))
        );
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic and never yield a frame larger than the limit.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            if let Ok(Some((frame, used))) = FrameDecoder::new(64).decode(&bytes) {
                proptest::prop_assert!(frame.payload.len() <= 64 && used <= bytes.len());
            }
        }

        /// Any valid header with random fields survives a round trip.
        #[test]
        fn any_frame_round_trips(query: u64, exchange: u32, source: u16, target: u16,
                                 payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let frame = Frame {
                kind: FrameKind::Data,
                stream: StreamId { query, exchange, source_partition: source, target_partition: target },
                payload,
            };
            let bytes = encoded(&frame);
            let (decoded, used) = FrameDecoder::new(64).decode(&bytes).unwrap().unwrap();
            proptest::prop_assert_eq!(decoded, frame);
            proptest::prop_assert_eq!(used, bytes.len());
        }
    }
}
