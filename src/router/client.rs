//! Sending one attempt: a lean path on hyper's connection API for `http://` and `https://` endpoints, over
//! HTTP/1.1 or HTTP/2 ([`super::http2`]), and reqwest for the rest (a proxy from the environment, or
//! `SLACHECK_HTTP_CLIENT=reqwest`).
//!
//! The lean path keeps, per endpoint, the request's URI and `Host` value made once, and its connections; it
//! sends with no URL parse, no tower layers and no retry of its own (but for a request that never reached the
//! server, or that an HTTP/2 server says it did not process). Over HTTP/1.1 it keeps a pool of idle
//! connections: a connection goes back to its pool only once its answer has been read to the end; one left
//! mid-answer (a deadline, a hedge that lost, a failure) is closed, so a connection never carries a stale answer
//! into the next request. Its https uses the run's TLS configuration, as reqwest does ([`super::tls`]), and
//! times the handshake apart from the TCP connect ([`super::connect`]).

use super::connect::{Dialed, Dialer, Tls};
pub use super::connect::{Opening, SendError};
use super::http2;
use crate::prompt::RequestBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use reqwest::header::{HeaderMap, HeaderValue, HOST, USER_AGENT};
use reqwest::Method;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where an endpoint's lean requests go, and its connections.
#[derive(Debug)]
pub struct LeanTarget {
    dialer: Dialer,
    host: HeaderValue,
    /// The request target: path and query over HTTP/1.1; the whole URL over HTTP/2 (its scheme and authority).
    uri: hyper::Uri,
    pool: Pool,
}

/// How the lean path speaks to an endpoint, and how many connections it keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Protocol {
    /// HTTP/1.1, with at most `max_idle` idle connections kept.
    Http1 { max_idle: usize },
    /// HTTP/2 over `connections` connections, each with at most `streams` requests at once (else the server's
    /// limit).
    Http2 { connections: usize, streams: Option<usize> },
}

#[derive(Debug)]
enum Pool {
    Http1 { idle: Mutex<Vec<SendRequest<RequestBody>>>, max_idle: usize },
    Http2(Arc<http2::Pool>),
}

type Opened = (SendRequest<RequestBody>, Option<Opening>);

impl LeanTarget {
    /// The lean path for `url`, when it can take it: `http://` or `https://`, with no proxy in the environment
    /// (reqwest honours one; the lean path would not), unless `SLACHECK_HTTP_CLIENT=reqwest`. An https URL takes
    /// the run's TLS configuration `tls`.
    pub fn of(url: &reqwest::Url, protocol: Protocol, tls: Option<&Arc<rustls::ClientConfig>>) -> Option<Arc<Self>> {
        // An escape hatch, and the benchmark's way to measure both paths side by side.
        if std::env::var_os("SLACHECK_HTTP_CLIENT").is_some_and(|v| v == "reqwest") {
            return None;
        }
        let proxied = proxied(url.scheme(), |v| std::env::var_os(v));
        let loopback = url.host_str().is_some_and(|h| h == "127.0.0.1" || h == "localhost" || h == "[::1]");
        if !matches!(url.scheme(), "http" | "https") || (proxied && !loopback) {
            return None;
        }
        let host = url.host_str()?;
        let tls = match url.scheme() {
            "https" => Some(Tls::new(host, tls?)?),
            _ => None,
        };
        let port = url.port_or_known_default()?;
        let authority = if url.port().is_some() { format!("{host}:{port}") } else { host.to_string() };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let (uri, pool) = match protocol {
            Protocol::Http1 { max_idle } => (path, Pool::Http1 { idle: Mutex::new(Vec::new()), max_idle }),
            Protocol::Http2 { connections, streams } => {
                (format!("{}://{authority}{path}", url.scheme()), Pool::Http2(http2::Pool::new(connections, streams)))
            }
        };
        Some(Arc::new(LeanTarget {
            dialer: Dialer { addr: format!("{host}:{port}"), tls },
            host: HeaderValue::from_str(&authority).ok()?,
            uri: uri.parse().ok()?,
            pool,
        }))
    }

    /// The request to send, as made for every attempt.
    fn request(&self, method: &Method, headers: HeaderMap, body: RequestBody) -> hyper::Request<RequestBody> {
        let mut request = hyper::Request::new(body);
        *request.method_mut() = method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers;
        if matches!(self.pool, Pool::Http1 { .. }) {
            // Over HTTP/2 the URI's authority says it.
            request.headers_mut().insert(HOST, self.host.clone());
        }
        request
            .headers_mut()
            .insert(USER_AGENT, HeaderValue::from_static(concat!("slacheck/", env!("CARGO_PKG_VERSION"))));
        request
    }

    /// An idle HTTP/1.1 connection that is still open, or a new one; with how a new one opened.
    async fn connection(&self) -> Result<Opened, SendError> {
        let Pool::Http1 { idle, .. } = &self.pool else { unreachable!("HTTP/1.1 only") };
        loop {
            let idle = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(mut sender) if !sender.is_closed() => {
                    if sender.ready().await.is_ok() {
                        return Ok((sender, None));
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        // Boxed: opening (a TCP connect and a TLS handshake) is rare, and its future is most of this one's size,
        // which every request's future would otherwise carry and copy.
        Box::pin(self.open()).await
    }

    /// A new HTTP/1.1 connection, and how it opened.
    async fn open(&self) -> Result<Opened, SendError> {
        let (dialed, opening) = self.dialer.dial().await?;
        let sender = match dialed {
            Dialed::Tcp(tcp) => http1(tcp).await?,
            Dialed::Tls(tls) => http1(tls).await?,
        };
        Ok((sender, Some(opening)))
    }

    /// Opens connections before the run, giving up on those not open by `by`; returns how many opened. Over
    /// HTTP/1.1, up to `count` into the pool; over HTTP/2, each of its connections (all a run uses). Without
    /// them, a run that starts at a high rate opens a connection per request until the first answers come back,
    /// and that storm made its first second's lag p99 about 100 ms at 50,000/s. What fails here is left for
    /// the run's requests to meet and count.
    pub async fn preconnect(self: &Arc<Self>, count: usize, by: Instant) -> usize {
        let mut opening = tokio::task::JoinSet::new();
        match &self.pool {
            Pool::Http1 { max_idle, .. } => {
                for _ in 0..count.min(*max_idle) {
                    let target = self.clone();
                    opening
                        .spawn(async move { target.open().await.map(|(sender, _)| target.put_back(sender)).is_ok() });
                }
            }
            Pool::Http2(pool) => {
                for slot in 0..pool.connections() {
                    let (target, pool) = (self.clone(), pool.clone());
                    opening.spawn(async move { pool.open(slot, &target.dialer).await.unwrap_or(false) });
                }
            }
        }
        let mut opened = 0;
        while let Ok(Some(done)) = tokio::time::timeout_at(by.into(), opening.join_next()).await {
            opened += usize::from(matches!(done, Ok(true)));
        }
        opened
    }

    fn put_back(&self, sender: SendRequest<RequestBody>) {
        let Pool::Http1 { idle, max_idle } = &self.pool else { return };
        let mut idle = idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < *max_idle && !sender.is_closed() {
            idle.push(sender);
        }
    }
}

/// Whether the environment names a proxy for `scheme` (as reqwest reads it: `http_proxy` for http,
/// `https_proxy` for https, `all_proxy` for both, in either case).
fn proxied(scheme: &str, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let own = if scheme == "https" { ["https_proxy", "HTTPS_PROXY"] } else { ["http_proxy", "HTTP_PROXY"] };
    own.into_iter().chain(["all_proxy", "ALL_PROXY"]).any(|v| var(v).is_some_and(|x| !x.is_empty()))
}

/// HTTP/1.1 over an open stream; the connection's own task ends when the connection does (its error shows in
/// the request's result).
async fn http1<T>(stream: T) -> Result<SendRequest<RequestBody>, SendError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| SendError::handshake(e.to_string()))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// An answer whose status and headers came, and whose body is read piece by piece.
pub struct Answer {
    pub status: u16,
    /// How a new connection opened (none when an idle one was reused, or on the reqwest path).
    pub opened: Option<Opening>,
    body: Body,
}

enum Body {
    Lean { headers: HeaderMap, incoming: hyper::body::Incoming, held: Held, target: Arc<LeanTarget> },
    Reqwest(reqwest::Response),
}

/// What a lean answer holds while it is read: its HTTP/1.1 connection (back to the pool at the body's end), or
/// its HTTP/2 stream's place on a connection.
enum Held {
    Http1(Option<SendRequest<RequestBody>>),
    Http2(#[allow(dead_code)] http2::Lease),
}

impl Answer {
    pub fn headers(&self) -> &HeaderMap {
        match &self.body {
            Body::Lean { headers, .. } => headers,
            Body::Reqwest(r) => r.headers(),
        }
    }

    /// The next piece of the body; `None` at its end (a lean connection then goes back to its pool).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        match &mut self.body {
            Body::Reqwest(r) => r.chunk().await.map_err(SendError::of_reqwest),
            Body::Lean { incoming, held, target, .. } => loop {
                match incoming.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if data.is_empty() => continue,
                        Ok(data) => return Ok(Some(data)),
                        Err(_) => continue, // trailers
                    },
                    Some(Err(e)) => return Err(SendError::transport(e)),
                    None => {
                        if let Held::Http1(sender) = held {
                            if let Some(s) = sender.take() {
                                target.put_back(s);
                            }
                        }
                        return Ok(None);
                    }
                }
            },
        }
    }
}

/// Sends one request: on the lean path when the endpoint has one, else with `client`.
pub async fn send(
    client: &reqwest::Client,
    method: &Method,
    url: &reqwest::Url,
    lean: Option<&Arc<LeanTarget>>,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<Answer, SendError> {
    let Some(target) = lean else {
        let mut waits = 0;
        loop {
            let body = reqwest::Body::wrap(body.clone());
            let request = client.request(method.clone(), url.clone()).headers(headers.clone()).body(body);
            match Box::pin(request.send()).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    return Ok(Answer { status, opened: None, body: Body::Reqwest(response) });
                }
                // It waited for an HTTP/2 connection another request was opening, and that request gave up (its
                // deadline): this one never left, so it waits for a connection of its own, until its own
                // deadline (the caller's), as over HTTP/1.1, instead of failing at once as a connect error.
                Err(e) if abandoned_wait(&e) && waits < MAX_WAITS => waits += 1,
                Err(e) => return Err(SendError::of_reqwest(e)),
            }
        }
    };
    if let Pool::Http2(pool) = &target.pool {
        let make = || target.request(method, headers.clone(), body.clone());
        let (response, lease, opened) = pool.send(&target.dialer, make).await?;
        return Ok(Answer::lean(response, opened, Held::Http2(lease), target));
    }
    let (mut sender, mut opened) = target.connection().await?;
    let response = match sender.try_send_request(target.request(method, headers, body)).await {
        Ok(response) => response,
        // An idle connection the server closed as it was taken: the request never left, so it goes once more,
        // on a new connection (as hyper's own pool does), and the target is not blamed for a stale socket.
        Err(mut e) => match e.take_message() {
            Some(request) if opened.is_none() => {
                (sender, opened) = Box::pin(target.open()).await?;
                sender.send_request(request).await.map_err(SendError::transport)?
            }
            _ => return Err(SendError::transport(e.into_error())),
        },
    };
    Ok(Answer::lean(response, opened, Held::Http1(Some(sender)), target))
}

impl Answer {
    fn lean(
        response: hyper::Response<hyper::body::Incoming>,
        opened: Option<Opening>,
        held: Held,
        target: &Arc<LeanTarget>,
    ) -> Self {
        let (parts, incoming) = response.into_parts();
        let body = Body::Lean { headers: parts.headers, incoming, held, target: target.clone() };
        Answer { status: parts.status.as_u16(), opened, body }
    }
}

/// The most times one request waits again for a shared connection (each wait ends only when another request's
/// connect ends, so this is a bound, not a pace).
const MAX_WAITS: u32 = 64;

/// Whether a request failed only because the shared HTTP/2 connection it waited for was abandoned (hyper-util's
/// pool tells its waiters "request was canceled").
fn abandoned_wait(e: &(dyn std::error::Error + 'static)) -> bool {
    use hyper_util::client::legacy::pool;
    let mut next = Some(e);
    while let Some(e) = next {
        if matches!(e.downcast_ref::<pool::Error>(), Some(pool::Error::CheckoutNoLongerWanted)) {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target(port: u16, max_idle: usize) -> Arc<LeanTarget> {
        let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/v1/chat/completions")).unwrap();
        LeanTarget::of(&url, Protocol::Http1 { max_idle }, None).expect("a plain http URL takes the lean path")
    }

    fn idle(t: &LeanTarget) -> usize {
        let Pool::Http1 { idle, .. } = &t.pool else { panic!("HTTP/1.1") };
        idle.lock().unwrap().len()
    }

    #[test]
    fn a_proxy_is_read_for_the_url_scheme() {
        let env = |set: &'static [&'static str]| move |v: &str| set.contains(&v).then(|| "http://proxy:3128".into());
        assert!(proxied("https", env(&["HTTPS_PROXY"])));
        assert!(!proxied("http", env(&["HTTPS_PROXY"])), "an https proxy is not http's");
        assert!(proxied("http", env(&["http_proxy"])) && !proxied("https", env(&["http_proxy"])));
        assert!(proxied("https", env(&["all_proxy"])) && proxied("http", env(&["ALL_PROXY"])));
        assert!(!proxied("https", |_: &str| Some("".into())), "an empty value names no proxy");
    }

    #[tokio::test]
    async fn preconnected_connections_wait_in_the_pool_up_to_its_size() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accepts and keeps every connection, as a server that has not been asked anything yet.
        let accepted = tokio::spawn(async move {
            let mut kept = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                kept.push(socket);
            }
        });
        let by = Instant::now() + Duration::from_secs(10);
        let t = target(port, 100);
        assert_eq!(t.preconnect(7, by).await, 7);
        assert_eq!(idle(&t), 7);
        let small = target(port, 3);
        assert_eq!(small.preconnect(7, by).await, 3, "no more than the pool keeps");
        assert_eq!(idle(&small), 3);
        accepted.abort();
    }

    #[tokio::test]
    async fn preconnecting_gives_up_at_its_deadline_and_on_a_refusal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let t = target(port, 100);
        assert_eq!(t.preconnect(4, Instant::now() + Duration::from_secs(10)).await, 0, "refused");
        assert_eq!(idle(&t), 0);
        // A listening port, but the deadline has passed: nothing is opened (the run's clock does not wait).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t = target(listener.local_addr().unwrap().port(), 100);
        assert_eq!(t.preconnect(4, Instant::now() - Duration::from_millis(1)).await, 0);
        assert_eq!(idle(&t), 0);
    }
}
