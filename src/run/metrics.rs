//! `run --metrics-addr`: the Prometheus exposition served over HTTP while the run goes (and for
//! `--metrics-linger` after it, so that a last scrape sees the final numbers). The recorder renders the text once
//! a second; a scrape only copies it and adds the requests in flight.

use super::RunError;
use crate::engine::Controls;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Scrapes answered at once; more wait for a free one (each is a few kilobytes and ends within seconds), or
/// take the slot of a connection that has not sent a byte yet.
const MAX_SCRAPES: usize = 16;
/// The most of a request head read, and the longest a scraper may take to send it.
const MAX_HEAD: usize = 8 << 10;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The latest exposition, shared by the recorder (which writes it) and the server (which reads it).
#[derive(Clone, Default)]
pub(super) struct Exposition(Arc<Mutex<String>>);

impl Exposition {
    pub(super) fn set(&self, text: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Listens on `addr` and answers `GET /metrics` until the task is aborted. An address that cannot be bound is
/// a usage error, found before anything is sent.
pub(super) async fn serve(
    addr: SocketAddr,
    exposition: Exposition,
    controls: Controls,
) -> Result<tokio::task::JoinHandle<()>, RunError> {
    let listener = TcpListener::bind(addr).await.map_err(|source| RunError::Metrics { addr, source })?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPES));
    let mut open = Connections::default();
    Ok(tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { continue };
            if slots.available_permits() == 0 {
                open.close_oldest_idle();
            }
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let (exposition, controls) = (exposition.clone(), controls.clone());
            let silent = Arc::new(AtomicBool::new(true));
            let heard = silent.clone();
            let task = tokio::spawn(async move {
                let _ = tokio::time::timeout(HEAD_TIMEOUT, answer(&mut socket, &heard, &exposition, &controls)).await;
                drop(slot);
            });
            open.add(silent, task.abort_handle());
        }
    }))
}

/// The connections being answered, oldest first, each with whether it is still silent (no byte of a request
/// yet). Idle connections (a port scan, a client that keeps one open) would otherwise hold every slot until
/// their head timeout, and a real scrape behind them timed out.
#[derive(Default)]
struct Connections(std::collections::VecDeque<(Arc<AtomicBool>, tokio::task::AbortHandle)>);

impl Connections {
    fn add(&mut self, silent: Arc<AtomicBool>, task: tokio::task::AbortHandle) {
        self.0.retain(|(_, t)| !t.is_finished());
        self.0.push_back((silent, task));
    }

    /// Closes the oldest connection that has sent nothing, freeing its slot for the newest.
    fn close_oldest_idle(&mut self) {
        self.0.retain(|(_, t)| !t.is_finished());
        if let Some(i) = self.0.iter().position(|(silent, _)| silent.load(Ordering::Relaxed)) {
            if let Some((_, task)) = self.0.remove(i) {
                task.abort();
            }
        }
    }
}

/// Reads one request head and answers it: the exposition for `GET /metrics` (or `/`), 404 otherwise. `silent`
/// is cleared at the request's first byte.
async fn answer(
    socket: &mut tokio::net::TcpStream,
    silent: &AtomicBool,
    exposition: &Exposition,
    controls: &Controls,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut piece = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = socket.read(&mut piece).await?;
        if n == 0 {
            break;
        }
        silent.store(false, Ordering::Relaxed);
        head.extend_from_slice(&piece[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let path = line.split(|b| *b == b' ').nth(1).unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET ") && matches!(path, b"/metrics" | b"/") {
        let mut text = exposition.get();
        let in_flight = controls.max_in_flight.saturating_sub(controls.in_flight.available_permits());
        crate::report::prometheus::in_flight(&mut text, in_flight as u64);
        ("200 OK", text)
    } else {
        ("404 Not Found", "slacheck serves GET /metrics\n".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// The live exposition of a run, and the server that answers scrapes of it.
pub struct LiveMetrics {
    addr: SocketAddr,
    exposition: Exposition,
    judge: Judge,
    server: tokio::task::JoinHandle<()>,
    linger: Duration,
    /// Caught from the start, so that a signal that comes before the linger begins still ends it.
    signals: crate::signals::Signals,
}

impl LiveMetrics {
    /// Listens when `--metrics-addr` asks for it.
    pub(super) async fn start(
        opts: &super::RunOptions,
        scenario: &crate::scenario::Scenario,
        controls: &Controls,
    ) -> Result<Option<Self>, RunError> {
        let Some(addr) = opts.metrics_addr else { return Ok(None) };
        let exposition = Exposition::default();
        let server = serve(addr, exposition.clone(), controls.clone()).await?;
        let signals = crate::signals::Signals::catch().map_err(RunError::Signals)?;
        let judge = Judge {
            scenario: scenario.name.clone(),
            shard: opts.shard,
            sla: scenario.sla.clone(),
            undecided_passes: scenario.sla.insufficient_data == crate::scenario::InsufficientData::Pass,
            buckets: crate::report::buckets::Buckets::of(&scenario.sla),
        };
        Ok(Some(LiveMetrics { addr, exposition, judge, server, linger: opts.metrics_linger, signals }))
    }

    /// What the recorder calls once a second.
    pub(super) fn snapshot(&self) -> crate::measure::Snapshot {
        let (exposition, judge) = (self.exposition.clone(), self.judge.clone());
        Box::new(move |result, episode_open| exposition.set(judge.exposition(result, episode_open, true)))
    }

    /// The finished run's numbers: those of summary.json (its verdict `interrupted` when it is not `complete`).
    pub(super) fn last(&self, result: &crate::measure::RunResult, complete: bool) {
        self.exposition.set(self.judge.exposition(result, false, complete));
    }

    /// Serves the final numbers for `--metrics-linger` (SIGINT, SIGTERM or SIGHUP ends it early, as does one
    /// that stopped the run), then stops listening.
    pub async fn linger(mut self) {
        if !self.linger.is_zero() {
            eprintln!("serving the final metrics on http://{}/metrics for {:?}", self.addr, self.linger);
            tokio::select! {
                _ = tokio::time::sleep(self.linger) => {}
                _ = self.signals.next() => {}
            }
        }
        self.server.abort();
    }
}

/// The run's labels, and how its verdict is judged (as summary.json's `outcome`).
#[derive(Clone)]
struct Judge {
    scenario: String,
    shard: Option<crate::profile::Shard>,
    sla: crate::scenario::Sla,
    undecided_passes: bool,
    buckets: crate::report::buckets::Buckets,
}

impl Judge {
    fn exposition(&self, result: &crate::measure::RunResult, episode_open: bool, complete: bool) -> String {
        let verdict = match complete {
            true => crate::sla::evaluate(&self.sla, result).outcome(self.undecided_passes),
            false => crate::sla::Outcome::Interrupted,
        };
        let run = crate::report::prometheus::RunState {
            scenario: &self.scenario,
            shard: self.shard,
            verdict,
            episode_open,
            buckets: &self.buckets,
        };
        crate::report::prometheus::exposition(result, &run)
    }
}
