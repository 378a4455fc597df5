//! An HTTP/2-only server for the tests (hyper's): cleartext h2c (prior knowledge), or over TLS with ALPN `h2`.
//! It counts what it saw: connections, requests and those that came over HTTP/2, and the most requests at once
//! on one connection; it can limit its streams (SETTINGS_MAX_CONCURRENT_STREAMS) and go away (GOAWAY) after a
//! number of requests on each connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the server behaves.
#[derive(Clone, Default)]
pub struct Options {
    /// TLS with this configuration (ALPN `h2` is set here); none: h2c.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_streams: Option<u32>,
    /// GOAWAY (graceful) once a connection has had this many requests.
    pub goaway_after: Option<u64>,
    /// How long each answer takes.
    pub delay: Duration,
}

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    /// Connections accepted (slacheck's check that the target is reachable is one, before the run).
    pub connections: AtomicU64,
    /// Connections that carried requests.
    pub used_connections: AtomicU64,
    pub requests: AtomicU64,
    pub http2_requests: AtomicU64,
    /// The most requests at once on one connection.
    pub most_on_a_connection: AtomicU64,
}

impl Seen {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

pub struct H2Server {
    pub port: u16,
    pub seen: Arc<Seen>,
}

const ANSWER: &[u8] = br#"{"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

/// Starts a server on its own thread; it runs until the test process ends.
pub fn serve(options: Options) -> H2Server {
    let seen = Arc::new(Seen::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let counts = seen.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let tls = options.tls.clone().map(|config| {
                let mut config = rustls::ServerConfig::clone(&config);
                config.alpn_protocols = vec![b"h2".to_vec()];
                tokio_rustls::TlsAcceptor::from(Arc::new(config))
            });
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                counts.connections.fetch_add(1, Ordering::Relaxed);
                let _ = tcp.set_nodelay(true);
                let (options, counts, tls) = (options.clone(), counts.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                connection(stream, options, counts).await
                            }
                        }
                        None => connection(tcp, options, counts).await,
                    }
                });
            }
        });
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).expect("the h2 server starts");
    H2Server { port, seen }
}

/// Serves one connection, and goes away from it after `options.goaway_after` requests.
async fn connection<T>(io: T, options: Options, seen: Arc<Seen>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let max_streams = options.max_streams;
    let at_once = Arc::new(AtomicU64::new(0));
    let served = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (counters, done) = ((at_once, served, seen, first), enough.clone());
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let (at_once, served, seen, first) = counters.clone();
        let (enough, options) = (done.clone(), options.clone());
        async move {
            let now = at_once.fetch_add(1, Ordering::Relaxed) + 1;
            seen.most_on_a_connection.fetch_max(now, Ordering::Relaxed);
            seen.requests.fetch_add(1, Ordering::Relaxed);
            if first.swap(false, Ordering::Relaxed) {
                seen.used_connections.fetch_add(1, Ordering::Relaxed);
            }
            if request.version() == hyper::Version::HTTP_2 {
                seen.http2_requests.fetch_add(1, Ordering::Relaxed);
            }
            let _ = request.into_body().collect().await;
            tokio::time::sleep(options.delay).await;
            at_once.fetch_sub(1, Ordering::Relaxed);
            if options.goaway_after.is_some_and(|n| served.fetch_add(1, Ordering::Relaxed) + 1 == n) {
                enough.notify_one();
            }
            let answer = hyper::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(ANSWER)))
                .unwrap();
            Ok::<_, std::convert::Infallible>(answer)
        }
    });
    let mut builder = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.max_concurrent_streams(max_streams);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = enough.notified() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
