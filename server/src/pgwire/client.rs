//! A minimal PostgreSQL simple-query client: enough for `percore sql --connect` and
//! the cluster tests, against Percore or PostgreSQL itself.

use std::io::{BufReader, BufWriter, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::codec::{read_message, BodyReader, MessageBuilder};
use super::scram::ClientExchange;

/// One statement's result, values as the server's text.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Rows {
        columns: Vec<Column>,
        rows: Vec<TextRow>,
    },
    /// A statement that returns no rows (its command tag).
    Command(String),
    Error {
        sqlstate: String,
        message: String,
        /// Where the error was raised (PostgreSQL's context field), if said.
        context: Option<String>,
    },
    Empty,
}

/// A row as the server sent it: text cells, `None` for NULL.
pub type TextRow = Vec<Option<String>>;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub type_oid: i32,
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    cancel: CancelRequest,
}

/// Cancels whatever the client's session is running, from any thread: what psql
/// sends on Ctrl-C, on a connection of its own.
#[derive(Debug, Clone, Copy)]
pub struct CancelRequest {
    address: std::net::SocketAddr,
    connection: i32,
    secret: i32,
}

impl CancelRequest {
    /// # Errors
    /// When the server cannot be reached.
    pub fn send(&self) -> std::io::Result<()> {
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(10))?;
        let mut request = 16u32.to_be_bytes().to_vec();
        request.extend_from_slice(&80_877_102i32.to_be_bytes());
        request.extend_from_slice(&self.connection.to_be_bytes());
        request.extend_from_slice(&self.secret.to_be_bytes());
        stream.write_all(&request)
    }
}

/// Who the client signs in as: libpq's `PGUSER` (default `percore`) and
/// `PGPASSWORD`, used only when the server asks for a password.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Credentials {
    pub fn from_env() -> Credentials {
        Credentials {
            user: std::env::var("PGUSER").ok().filter(|user| !user.is_empty()),
            password: std::env::var("PGPASSWORD").ok(),
        }
    }

    fn user(&self) -> &str {
        self.user.as_deref().unwrap_or("percore")
    }
}

impl Client {
    /// Connects and completes startup as the user `PGUSER` and `PGPASSWORD` name
    /// (see [`Credentials`]).
    ///
    /// # Errors
    /// Unreachable server, a refused sign-in (`PermissionDenied`), or protocol errors.
    pub fn connect(address: impl ToSocketAddrs, timeout: Duration) -> std::io::Result<Client> {
        Client::connect_as(address, timeout, &Credentials::from_env())
    }

    /// Connects and completes startup, signing in with SCRAM-SHA-256 or a cleartext
    /// password when the server asks.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn connect_as(
        address: impl ToSocketAddrs,
        timeout: Duration,
        credentials: &Credentials,
    ) -> std::io::Result<Client> {
        let address = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        let _ = stream.set_nodelay(true);
        let mut client = Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
            cancel: CancelRequest {
                address,
                connection: 0,
                secret: 0,
            },
        };
        let mut startup = Vec::new();
        startup.extend_from_slice(&196_608i32.to_be_bytes());
        for (key, value) in [("user", credentials.user()), ("database", "percore")] {
            startup.extend_from_slice(key.as_bytes());
            startup.push(0);
            startup.extend_from_slice(value.as_bytes());
            startup.push(0);
        }
        startup.push(0);
        let length = u32::try_from(startup.len() + 4).expect("small");
        client.writer.write_all(&length.to_be_bytes())?;
        client.writer.write_all(&startup)?;
        client.writer.flush()?;
        let mut scram = None;
        loop {
            let (kind, body) = read_message(&mut client.reader)?;
            match kind {
                b'R' => client.answer_authentication(&body, credentials, &mut scram)?,
                b'E' => {
                    let (sqlstate, message, _) = error_fields(&body)?;
                    // Class 28: invalid authorization (a wrong password, an unknown user).
                    let kind = if sqlstate.starts_with("28") {
                        std::io::ErrorKind::PermissionDenied
                    } else {
                        std::io::ErrorKind::Other
                    };
                    return Err(std::io::Error::new(kind, message));
                }
                b'K' => {
                    let mut fields = BodyReader::new(&body);
                    client.cancel.connection = fields.i32()?;
                    client.cancel.secret = fields.i32()?;
                }
                b'Z' => return Ok(client),
                _ => {}
            }
        }
    }

    /// One Authentication message's answer: nothing for Ok, the password for a
    /// cleartext request, the next SCRAM message in an exchange.
    fn answer_authentication(
        &mut self,
        body: &[u8],
        credentials: &Credentials,
        scram: &mut Option<ClientExchange>,
    ) -> std::io::Result<()> {
        let mut fields = BodyReader::new(body);
        let method = fields.i32()?;
        let rest = &body[4..];
        let password = || {
            credentials.password.as_deref().ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!(
                        "the server asks for a password for user {}; set PGPASSWORD",
                        credentials.user()
                    ),
                )
            })
        };
        let message = match method {
            0 => return Ok(()),
            3 => MessageBuilder::new(b'p').cstr(password()?),
            10 => {
                let offered = rest
                    .split(|&byte| byte == 0)
                    .any(|name| name == b"SCRAM-SHA-256");
                if !offered {
                    return Err(std::io::Error::other(
                        "the server offers no SASL mechanism but SCRAM-SHA-256's variants",
                    ));
                }
                let (exchange, first) =
                    ClientExchange::start(password()?).map_err(std::io::Error::other)?;
                *scram = Some(exchange);
                MessageBuilder::new(b'p')
                    .cstr("SCRAM-SHA-256")
                    .i32(i32::try_from(first.len()).expect("short"))
                    .bytes(first.as_bytes())
            }
            11 => {
                let exchange = scram
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("SASLContinue before SASL"))?;
                let last = exchange.respond(rest).map_err(std::io::Error::other)?;
                MessageBuilder::new(b'p').bytes(last.as_bytes())
            }
            12 => {
                let exchange = scram
                    .take()
                    .ok_or_else(|| std::io::Error::other("SASLFinal before SASL"))?;
                return exchange.verify(rest).map_err(std::io::Error::other);
            }
            other => {
                return Err(std::io::Error::other(format!(
                    "the server asks for authentication method {other}; \
                     Percore's client speaks SCRAM-SHA-256 and cleartext passwords"
                )))
            }
        };
        message.write_to(&mut self.writer)?;
        self.writer.flush()
    }

    /// What cancels this session's running query.
    pub fn cancel_request(&self) -> CancelRequest {
        self.cancel
    }

    /// How long a read may wait for the server before it fails (`None`: forever),
    /// so a caller can tell a server that stopped answering from a slow one.
    ///
    /// # Errors
    /// When the socket refuses the setting.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// Sends one simple query and reads every statement's reply.
    ///
    /// # Errors
    /// Socket or protocol errors (SQL errors are [`Reply::Error`]).
    pub fn query(&mut self, sql: &str) -> std::io::Result<Vec<Reply>> {
        MessageBuilder::new(b'Q')
            .cstr(sql)
            .write_to(&mut self.writer)?;
        self.writer.flush()?;
        let mut replies = Vec::new();
        let mut current: Option<(Vec<Column>, Vec<TextRow>)> = None;
        loop {
            let (kind, body) = read_message(&mut self.reader)?;
            let mut fields = BodyReader::new(&body);
            match kind {
                b'T' => {
                    let count = fields.i16()?;
                    let mut columns = Vec::new();
                    for _ in 0..count {
                        let name = fields.cstr()?;
                        fields.take(6)?;
                        let type_oid = fields.i32()?;
                        fields.take(8)?;
                        columns.push(Column { name, type_oid });
                    }
                    current = Some((columns, Vec::new()));
                }
                b'D' => {
                    let count = fields.i16()?;
                    let mut row = Vec::with_capacity(count.max(0) as usize);
                    for _ in 0..count {
                        let length = fields.i32()?;
                        row.push(if length < 0 {
                            None
                        } else {
                            let bytes = fields.take(length as usize)?;
                            Some(String::from_utf8_lossy(bytes).into_owned())
                        });
                    }
                    match &mut current {
                        Some((_, rows)) => rows.push(row),
                        None => return Err(std::io::Error::other("DataRow before RowDescription")),
                    }
                }
                b'C' => {
                    let tag = fields.cstr()?;
                    replies.push(match current.take() {
                        Some((columns, rows)) => Reply::Rows { columns, rows },
                        None => Reply::Command(tag),
                    });
                }
                b'I' => replies.push(Reply::Empty),
                b'E' => {
                    current = None;
                    let (sqlstate, message, context) = error_fields(&body)?;
                    replies.push(Reply::Error {
                        sqlstate,
                        message,
                        context,
                    });
                }
                b'Z' => return Ok(replies),
                // Notices, parameter changes: nothing to show.
                _ => {}
            }
        }
    }
}

/// The first statement's rows as text cells (NULL shown as `null`), or its error as
/// (SQLSTATE, message).
///
/// # Errors
/// The statement's error; a reply without rows is an error too.
pub fn first_result(replies: Vec<Reply>, null: &str) -> Result<Vec<Vec<String>>, (String, String)> {
    match replies.into_iter().next() {
        Some(Reply::Rows { rows, .. }) => Ok(rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|cell| cell.unwrap_or_else(|| null.to_string()))
                    .collect()
            })
            .collect()),
        Some(Reply::Error {
            sqlstate, message, ..
        }) => Err((sqlstate, message)),
        other => Err(("XX000".to_string(), format!("expected rows, got {other:?}"))),
    }
}

/// The SQLSTATE, message and context of an ErrorResponse.
fn error_fields(body: &[u8]) -> std::io::Result<(String, String, Option<String>)> {
    let mut fields = BodyReader::new(body);
    let (mut sqlstate, mut message, mut context) = (String::new(), String::new(), None);
    loop {
        match fields.u8()? {
            0 => return Ok((sqlstate, message, context)),
            b'C' => sqlstate = fields.cstr()?,
            b'M' => message = fields.cstr()?,
            b'W' => context = Some(fields.cstr()?),
            _ => {
                fields.cstr()?;
            }
        }
    }
}
