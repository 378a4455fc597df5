//! One scrape: a GET whose whole answer must come within the timeout, read chunk by chunk up to [`MAX_BODY`].

use std::time::Duration;

/// The largest exposition read: a gateway with many models and routes writes a few hundred KB.
pub const MAX_BODY: usize = 8 << 20;

/// Why a scrape gave no exposition, as counted in summary.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No answer in full within the timeout.
    Timeout,
    /// The connection failed or broke.
    Connection,
    /// An answer other than 200.
    Status(u16),
    /// More than [`MAX_BODY`] bytes.
    TooLarge,
    /// Not UTF-8 text.
    NotText,
}

impl Failure {
    pub fn label(&self) -> String {
        match self {
            Failure::Timeout => "timeout".into(),
            Failure::Connection => "connection".into(),
            Failure::Status(s) => format!("status {s}"),
            Failure::TooLarge => "too large".into(),
            Failure::NotText => "not text".into(),
        }
    }
}

/// The body of `url`, bounded in time and size.
pub async fn fetch(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<String, Failure> {
    tokio::time::timeout(timeout, read(client, url)).await.unwrap_or(Err(Failure::Timeout))
}

async fn read(client: &reqwest::Client, url: &str) -> Result<String, Failure> {
    let broken = |e: reqwest::Error| if e.is_timeout() { Failure::Timeout } else { Failure::Connection };
    let mut answer = client.get(url).header("accept", "text/plain").send().await.map_err(broken)?;
    if answer.status() != reqwest::StatusCode::OK {
        return Err(Failure::Status(answer.status().as_u16()));
    }
    if answer.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Failure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(broken)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| Failure::NotText)
}
