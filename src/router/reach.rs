//! Before the run: every endpoint answers, so that a target that cannot be reached fails before anything is
//! sent. Each endpoint must accept a TCP connection, and an https one must complete a TLS handshake with the
//! run's own configuration: a certificate that would fail every request fails the start instead, with its reason.

use super::connect::SendError;
use reqwest::Url;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// Why a target is not reachable before the run.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("the URL {0} has no host or port")]
    NoAddress(String),
    #[error("cannot connect to {address}: {source}")]
    Refused { address: String, source: std::io::Error },
    #[error("no answer from {0} within 5s")]
    Silent(String),
    #[error("TLS handshake with {address} failed {attempts} times alike: {reason} ({message})")]
    Tls { address: String, attempts: usize, reason: &'static str, message: String },
    #[error("no TLS answer from {0} within 5s (it accepted the connection, but not the handshake)")]
    TlsSilent(String),
}

/// How long the whole check of one endpoint may take.
const WITHIN: Duration = Duration::from_secs(5);

/// The handshakes tried before a failure is taken as the target's: one that fails the same way each time is
/// (a certificate); one that fails in different ways is left for the run to measure.
const HANDSHAKES: usize = 3;

/// How long a finished handshake is listened to for the server's refusal.
const LISTEN: Duration = Duration::from_millis(200);

/// The server's refusal right after a handshake that looked done: with TLS 1.3 a server checks the client's
/// certificate only after the client has finished its side, and answers a missing or untrusted one with an
/// alert. Silence (or a server that waits for a request) is no refusal.
async fn refused_after(mut stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Option<std::io::Error> {
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    match tokio::time::timeout(LISTEN, stream.read(&mut byte)).await {
        Ok(Err(e)) if super::tls::reason_in(&e).is_some() => Some(e),
        _ => None,
    }
}

/// Checks that the endpoint at `url` accepts a connection and, for https, completes a TLS handshake with `tls`.
pub async fn check(url: &Url, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<(), Unreachable> {
    let deadline = Instant::now() + WITHIN;
    let no_address = || Unreachable::NoAddress(url.to_string());
    let host = url.host_str().ok_or_else(no_address)?.trim_matches(['[', ']']).to_string();
    let port = url.port_or_known_default().ok_or_else(no_address)?;
    let address = format!("{host}:{port}");
    let connect = || async {
        match timeout_at(deadline, tokio::net::TcpStream::connect((host.as_str(), port))).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(source)) => Err(Unreachable::Refused { address: address.clone(), source }),
            Err(_) => Err(Unreachable::Silent(address.clone())),
        }
    };
    let first = connect().await?;
    let (Some(config), "https") = (tls, url.scheme()) else { return Ok(()) };
    let Ok(name) = rustls::pki_types::ServerName::try_from(host.clone()) else { return Err(no_address()) };
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let mut failures = Vec::new();
    let mut stream = Some(first);
    for _ in 0..HANDSHAKES {
        let tcp = match stream.take() {
            Some(tcp) => tcp,
            None => connect().await?,
        };
        match timeout_at(deadline, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(stream)) => match refused_after(stream).await {
                None => return Ok(()),
                Some(e) => failures.push(SendError::tls(e)),
            },
            Ok(Err(e)) => failures.push(SendError::tls(e)),
            Err(_) => return Err(Unreachable::TlsSilent(address)),
        }
    }
    let reasons: Vec<(&'static str, String)> = failures
        .into_iter()
        .filter_map(|e| match e {
            SendError::Tls { reason, message } => Some((reason, message)),
            _ => None,
        })
        .collect();
    match reasons.first() {
        Some((reason, message)) if reasons.iter().all(|(r, _)| r == reason) => {
            Err(Unreachable::Tls { address, attempts: reasons.len(), reason, message: message.clone() })
        }
        _ => Ok(()),
    }
}
