//! The lean path's HTTP/2 (hyper's `client::conn::http2`): per endpoint, a fixed number of connections, each
//! carrying many requests at once as streams, h2c (prior knowledge) over TCP or `h2` by ALPN over TLS.
//!
//! A request takes a stream on the least busy connection. A connection that is not open (before the run, or
//! after it went away) is opened by the first request that needs it, timed as over HTTP/1.1; the others that
//! need it meanwhile wait for that one rather than open their own, so the connections opened are the ones
//! configured, not one per request. A stream the server cannot take yet (its SETTINGS_MAX_CONCURRENT_STREAMS)
//! waits in hyper's queue for one to end; a request the server did not process (it refused the stream, or went
//! away without it: RFC 9113 §8.7) is sent again, on a fresh connection after a GOAWAY. Whatever else fails is
//! the attempt's error, as over HTTP/1.1, and the caller's deadline bounds every wait.

use super::connect::{Dialed, Dialer, Opening, SendError};
use crate::prompt::RequestBody;
use hyper::client::conn::http2::SendRequest;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};

/// An endpoint's HTTP/2 connections.
#[derive(Debug)]
pub(super) struct Pool {
    slots: Box<[Slot]>,
    /// Streams out on each connection: a request takes the least busy.
    busy: Mutex<Box<[usize]>>,
    /// `load.streams_per_connection`: also the streams opened before the server's SETTINGS arrive.
    streams: Option<usize>,
}

/// One of the pool's connections.
#[derive(Debug, Default)]
struct Slot {
    /// The open connection, numbered so that one found gone is not mistaken for its successor.
    sender: Mutex<Option<(u64, SendRequest<RequestBody>)>>,
    /// Held while the connection opens; counts the connections opened in this slot.
    opening: tokio::sync::Mutex<u64>,
}

/// A stream's place on one of the pool's connections, held until its answer has been read or dropped.
pub(super) struct Lease {
    pool: Arc<Pool>,
    slot: usize,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.pool.busy.lock().unwrap_or_else(|p| p.into_inner())[self.slot] -= 1;
    }
}

/// The most times one request is sent again because the server did not process it (each time costs a round
/// trip, and the caller's deadline bounds them too).
const MAX_RESENDS: u32 = 8;

impl Pool {
    pub fn new(connections: usize, streams: Option<usize>) -> Arc<Self> {
        let connections = connections.max(1);
        Arc::new(Pool {
            slots: (0..connections).map(|_| Slot::default()).collect(),
            busy: Mutex::new(vec![0; connections].into_boxed_slice()),
            streams,
        })
    }

    pub fn connections(&self) -> usize {
        self.slots.len()
    }

    /// Sends the request `make` builds on one of the pool's connections: its answer's head, the stream's lease,
    /// and how the connection opened when this request opened it. A request the server did not process goes
    /// again (a new copy from `make`).
    pub async fn send(
        self: &Arc<Self>,
        dialer: &Dialer,
        make: impl Fn() -> hyper::Request<RequestBody>,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, Lease, Option<Opening>), SendError> {
        // When a request opens two connections (the first went away at once), the first is the one it reports.
        let mut opened = None;
        let mut resends = 0;
        loop {
            let lease = self.lease();
            let (number, mut sender, opening) = self.connection(lease.slot, dialer).await?;
            opened = opened.or(opening);
            let (error, given_back) = match sender.try_send_request(make()).await {
                Ok(response) => return Ok((response, lease, opened)),
                // Given back: it never reached the connection, which had closed.
                Err(mut e) => {
                    let given_back = e.take_message().is_some();
                    (e.into_error(), given_back)
                }
            };
            let gone = given_back || went_away(&error);
            if gone {
                self.forget(lease.slot, number);
            }
            resends += 1;
            if !(gone || refused(&error)) || resends > MAX_RESENDS {
                return Err(SendError::transport(error));
            }
        }
    }

    /// Opens connection `slot` unless it is open; whether it opened (before the run: its time is not a request's).
    pub async fn open(&self, slot: usize, dialer: &Dialer) -> Result<bool, SendError> {
        Ok(self.connection(slot, dialer).await?.2.is_some())
    }

    /// A stream on the least busy connection.
    fn lease(self: &Arc<Self>) -> Lease {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (0..busy.len()).min_by_key(|i| busy[*i]).unwrap_or(0);
        busy[slot] += 1;
        Lease { pool: self.clone(), slot }
    }

    /// Connection `slot`, opened (and timed) if it is not open.
    async fn connection(
        &self,
        slot: usize,
        dialer: &Dialer,
    ) -> Result<(u64, SendRequest<RequestBody>, Option<Opening>), SendError> {
        let slot = &self.slots[slot];
        if let Some((number, sender)) = open_sender(slot) {
            return Ok((number, sender, None));
        }
        let mut opened = slot.opening.lock().await;
        // Another request may have opened it while this one waited.
        if let Some((number, sender)) = open_sender(slot) {
            return Ok((number, sender, None));
        }
        let (dialed, opening) = dialer.dial().await?;
        let sender = handshake(dialed, self.streams).await?;
        *opened += 1;
        *slot.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some((*opened, sender.clone()));
        Ok((*opened, sender, Some(opening)))
    }

    /// Forgets connection `number` of `slot` (it went away), unless another has taken its place already.
    fn forget(&self, slot: usize, number: u64) {
        let mut sender = self.slots[slot].sender.lock().unwrap_or_else(|p| p.into_inner());
        if sender.as_ref().is_some_and(|(n, _)| *n == number) {
            *sender = None;
        }
    }
}

/// The slot's connection, when it is open.
fn open_sender(slot: &Slot) -> Option<(u64, SendRequest<RequestBody>)> {
    let sender = slot.sender.lock().unwrap_or_else(|p| p.into_inner());
    sender.as_ref().filter(|(_, s)| !s.is_closed()).map(|(n, s)| (*n, s.clone()))
}

/// HTTP/2 over an open connection: h2c over TCP, and over TLS unless the server chose another protocol by ALPN.
/// The connection's own task ends when the connection does.
async fn handshake(dialed: Dialed, streams: Option<usize>) -> Result<SendRequest<RequestBody>, SendError> {
    match dialed {
        Dialed::Tcp(tcp) => over(tcp, streams).await,
        Dialed::Tls(tls) => match tls.get_ref().1.alpn_protocol() {
            Some(p) if p != b"h2" => Err(SendError::handshake(format!(
                "the server chose {} by ALPN, not h2: it does not speak HTTP/2 over TLS (target.http = \"2\")",
                String::from_utf8_lossy(p)
            ))),
            _ => over(tls, streams).await,
        },
    }
}

async fn over<T>(io: T, streams: Option<usize>) -> Result<SendRequest<RequestBody>, SendError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.initial_max_send_streams(streams);
    let (sender, connection) =
        builder.handshake(hyper_util::rt::TokioIo::new(io)).await.map_err(|e| SendError::handshake(e.to_string()))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// The HTTP/2 error among `e`'s causes.
fn h2_error(e: &hyper::Error) -> Option<&h2::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = next {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        next = e.source();
    }
    None
}

/// Whether the server refused the stream (RST_STREAM REFUSED_STREAM): it did not process the request.
fn refused(e: &hyper::Error) -> bool {
    h2_error(e).is_some_and(|h| h.is_remote() && h.reason() == Some(h2::Reason::REFUSED_STREAM))
}

/// Whether the server went away gracefully (GOAWAY NO_ERROR) without this request: only the streams it did not
/// process get that error, as those it did finish before the connection closes.
fn went_away(e: &hyper::Error) -> bool {
    h2_error(e).is_some_and(|h| h.is_go_away() && h.is_remote() && h.reason() == Some(h2::Reason::NO_ERROR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A loopback listener, its address, and a count of the answers its server gives.
    async fn listen() -> (tokio::net::TcpListener, String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        (listener, addr, Arc::new(AtomicUsize::new(0)))
    }

    /// An h2c server that takes one stream at a time and answers each after 20 ms; counts what it answered.
    async fn one_stream_server() -> (String, Arc<AtomicUsize>) {
        let (listener, addr, answered) = listen().await;
        let count = answered.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let count = count.clone();
                let service = hyper::service::service_fn(move |_: hyper::Request<hyper::body::Incoming>| {
                    let count = count.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        count.fetch_add(1, Ordering::Relaxed);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Empty::<bytes::Bytes>::new(),
                        ))
                    }
                });
                let mut server = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
                server.max_concurrent_streams(1);
                tokio::spawn(server.serve_connection(hyper_util::rt::TokioIo::new(tcp), service));
            }
        });
        (addr, answered)
    }

    /// An h2c server (the h2 crate's, to choose its GOAWAY) whose first connection goes away (GOAWAY NO_ERROR,
    /// last stream 0) 50 ms after its handshake, having processed nothing; the others answer every request.
    async fn going_away_server() -> (String, Arc<AtomicUsize>) {
        let (listener, addr, answered) = listen().await;
        let count = answered.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Ok((tcp, _)) = listener.accept().await {
                let (count, going) = (count.clone(), std::mem::replace(&mut first, false));
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(tcp).await else { return };
                    if going {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                    }
                    while let Some(Ok((_, mut respond))) = conn.accept().await {
                        assert!(!going, "a connection that went away processes nothing");
                        count.fetch_add(1, Ordering::Relaxed);
                        let _ = respond.send_response(hyper::Response::new(()), true);
                    }
                });
            }
        });
        (addr, answered)
    }

    /// Sends `count` requests at once through `pool` to `addr`; each must be answered 200. Returns how many
    /// opened a connection.
    async fn send_at_once(pool: &Arc<Pool>, addr: &str, count: usize) -> usize {
        let dialer = Arc::new(Dialer { addr: addr.to_string(), tls: None });
        let mut sending = tokio::task::JoinSet::new();
        for _ in 0..count {
            let (pool, dialer, uri) = (pool.clone(), dialer.clone(), format!("http://{addr}/"));
            sending.spawn(async move {
                let make = || hyper::Request::builder().uri(&uri).body(RequestBody::default()).unwrap();
                let sent = pool.send(&dialer, make).await;
                sent.map(|(response, _, opened)| (response.status().as_u16(), opened.is_some()))
            });
        }
        let mut opened = 0;
        while let Some(done) = sending.join_next().await {
            let (status, opener) = done.unwrap().unwrap_or_else(|e| panic!("a request failed: {e:?}"));
            assert_eq!(status, 200);
            opened += usize::from(opener);
        }
        opened
    }

    #[tokio::test]
    async fn requests_a_server_went_away_without_go_again_on_a_new_connection() {
        let (addr, answered) = going_away_server().await;
        let pool = Pool::new(1, None);
        let dialer = Dialer { addr: addr.clone(), tls: None };
        assert!(pool.open(0, &dialer).await.unwrap(), "opened before the requests");
        let opened = send_at_once(&pool, &addr, 3).await;
        assert_eq!(answered.load(Ordering::Relaxed), 3, "each answered once, on the second connection");
        assert_eq!(opened, 1, "the second connection, opened by one of them");
    }

    #[tokio::test]
    async fn streams_the_server_refused_before_its_settings_came_are_sent_again() {
        let (addr, answered) = one_stream_server().await;
        // Ten at once on a connection not open yet: the first opens it and the others wait for it, then all go
        // before the server's SETTINGS (one stream) arrive, as hyper allows 100 until then; the server refuses
        // nine (REFUSED_STREAM), and those go again, to wait for the stream in turn.
        let opened = send_at_once(&Pool::new(1, None), &addr, 10).await;
        assert_eq!(answered.load(Ordering::Relaxed), 10, "each answered once");
        assert_eq!(opened, 1, "one connection, opened by one request");
    }
}
