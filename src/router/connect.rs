//! Opening the lean path's connections: the TCP connect, then for https the TLS handshake (with the run's
//! configuration, [`super::tls`]), each timed; and why an attempt got no answer ([`SendError`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where an endpoint's connections go: `host:port`, and TLS for https.
#[derive(Debug)]
pub(super) struct Dialer {
    pub addr: String,
    pub tls: Option<Tls>,
}

/// The TLS client and the name the server's certificate must carry.
pub(super) struct Tls {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

impl Tls {
    /// TLS to `host` with `config`; none when `host` is no server name.
    pub fn new(host: &str, config: &Arc<rustls::ClientConfig>) -> Option<Self> {
        let name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string()).ok()?;
        Some(Tls { connector: tokio_rustls::TlsConnector::from(config.clone()), name })
    }
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS to {:?}", self.name)
    }
}

/// How a new connection opened: TCP connect, then the TLS handshake for https.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Opening {
    pub connect: Duration,
    pub tls: Option<Duration>,
}

/// An open connection, before HTTP is spoken on it.
pub(super) enum Dialed {
    Tcp(tokio::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
}

impl Dialer {
    /// A new connection, and how it opened.
    pub async fn dial(&self) -> Result<(Dialed, Opening), SendError> {
        let began = Instant::now();
        let stream = tokio::net::TcpStream::connect(&self.addr).await.map_err(SendError::connect)?;
        let _ = stream.set_nodelay(true);
        let connect = began.elapsed();
        let Some(Tls { connector, name }) = &self.tls else {
            return Ok((Dialed::Tcp(stream), Opening { connect, tls: None }));
        };
        let shaking = Instant::now();
        let stream = connector.connect(name.clone(), stream).await.map_err(SendError::tls)?;
        let tls = Some(shaking.elapsed());
        Ok((Dialed::Tls(Box::new(stream)), Opening { connect, tls }))
    }
}

/// Why an attempt got no answer, or lost it mid-way.
#[derive(Debug)]
pub enum SendError {
    /// No connection: refused, unreachable, or no file descriptor left (the generator's limit).
    Connect { out_of_files: bool, message: String },
    /// The connection broke, or the answer was not HTTP.
    Transport(String),
    /// The TLS handshake failed: `reason` in a few words (see [`super::tls::reason`]), `message` in full.
    Tls { reason: &'static str, message: String },
}

impl SendError {
    /// A connection that opened but could not be used: its TLS or HTTP handshake failed.
    pub(super) fn handshake(message: String) -> Self {
        SendError::Connect { out_of_files: false, message }
    }

    /// A TLS handshake that failed after the TCP connect: rustls's reason, or how the connection ended.
    pub(super) fn tls(e: std::io::Error) -> Self {
        let reason = super::tls::reason_in(&e).unwrap_or(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => "connection closed during the handshake",
            std::io::ErrorKind::ConnectionReset => "connection reset during the handshake",
            _ => "handshake failed",
        });
        SendError::Tls { reason, message: format!("TLS handshake: {e}") }
    }

    /// A connection that broke; a TLS alert among its causes makes it a TLS failure (with TLS 1.3 a server
    /// refuses a client certificate only after the client's side of the handshake is done).
    pub(super) fn transport(e: hyper::Error) -> Self {
        match super::tls::reason_in(&e) {
            Some(reason) => SendError::Tls { reason, message: e.to_string() },
            None => SendError::Transport(e.to_string()),
        }
    }

    pub(super) fn connect(e: std::io::Error) -> Self {
        let out_of_files = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
        SendError::Connect { out_of_files, message: e.to_string() }
    }

    pub(super) fn of_reqwest(e: reqwest::Error) -> Self {
        if crate::machine::out_of_files(&e) {
            SendError::Connect { out_of_files: true, message: e.to_string() }
        } else if let Some(reason) = super::tls::reason_in(&e) {
            SendError::Tls { reason, message: e.to_string() }
        } else if e.is_connect() {
            SendError::Connect { out_of_files: false, message: e.to_string() }
        } else {
            SendError::Transport(e.to_string())
        }
    }
}
