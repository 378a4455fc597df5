//! A server that stalls: for `stall` at the end of every `period` it does nothing at all (it neither accepts
//! nor answers, as a process in a long pause), then answers everything that waited at once; the rest of the time
//! it answers at once. Its listen backlog is 100, a common server's. What a client without coordinated omission
//! must measure follows from the stall schedule alone ([`Stalls::truth`]), whatever the client does.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stall schedule: `stall` at the end of every `period` from the server's start (so that a client starting
/// with the server meets a stall only after it has begun).
#[derive(Debug, Clone, Copy)]
pub struct Stalls {
    pub period: Duration,
    pub stall: Duration,
}

impl Stalls {
    /// How long a request that arrives `at` after the schedule's origin waits for its answer: until the end of
    /// the stall it arrives in, or not at all.
    pub fn wait_at(&self, at: Duration) -> Duration {
        let phase = Duration::from_nanos((at.as_nanos() % self.period.as_nanos()) as u64);
        match self.period - phase {
            left if left <= self.stall => left,
            _ => Duration::ZERO,
        }
    }

    /// The `q`-quantile of the latency of requests sent evenly at `rate` for `duration` (a whole number of
    /// periods, so that where the stalls fall in the run does not matter), with an instant answer outside the
    /// stalls: the `ceil(q n)`-th smallest of the waits at the requests' times.
    pub fn truth(&self, rate: f64, duration: Duration, q: f64) -> Duration {
        let n = (rate * duration.as_secs_f64()).round() as usize;
        let mut waits: Vec<Duration> = (0..n).map(|i| self.wait_at(Duration::from_secs_f64(i as f64 / rate))).collect();
        waits.sort();
        waits[((q * n as f64).ceil() as usize).clamp(1, n) - 1]
    }
}

/// A running stall server on 127.0.0.1.
pub struct StallServer {
    pub port: u16,
    /// The latest it resumed after the end of a stall (its own timer's lateness on this machine), in µs.
    late_us: Arc<AtomicU64>,
    /// Connections it accepted.
    accepted: Arc<AtomicU64>,
}

impl StallServer {
    pub fn late(&self) -> Duration {
        Duration::from_micros(self.late_us.load(Ordering::Relaxed))
    }

    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

/// Starts a stall server on its own thread; it runs until the test process ends.
pub fn serve(stalls: Stalls) -> StallServer {
    let late_us = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let (late, count) = (late_us.clone(), accepted.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let listener = socket.listen(100).unwrap();
            let origin = Instant::now();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                wait_out(stalls, origin, &late).await;
                let Ok((tcp, _)) = listener.accept().await else { continue };
                count.fetch_add(1, Ordering::Relaxed);
                let _ = tcp.set_nodelay(true);
                let late = late.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let late = late.clone();
                        async move {
                            let _ = request.into_body().collect().await;
                            wait_out(stalls, origin, &late).await;
                            let answer = hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(ANSWER)))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(answer)
                        }
                    });
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).expect("the stall server starts");
    StallServer { port, late_us, accepted }
}

const ANSWER: &[u8] = br#"{"usage":{"prompt_tokens":1,"completion_tokens":1}}"#;

/// Waits until the stall that `now` falls in (if any) has ended, and keeps the latest the wait ended.
async fn wait_out(stalls: Stalls, origin: Instant, late_us: &AtomicU64) {
    let wait = stalls.wait_at(origin.elapsed());
    if wait.is_zero() {
        return;
    }
    let end = Instant::now() + wait;
    tokio::time::sleep_until(end.into()).await;
    late_us.fetch_max(end.elapsed().as_micros() as u64, Ordering::Relaxed);
}
