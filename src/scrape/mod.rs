//! The target's own metrics: each `[[scrape]]` endpoint read in the Prometheus text format once before the
//! run's first request, every `every` during it and once after it. Samples go to server_metrics.parquet;
//! counters' increases over the run, and the sums that `reconcile` asks for, go to summary.json (the report
//! holds them against slacheck's own counts).
//!
//! A scrape is bounded by its timeout and [`fetch::MAX_BODY`]; one that fails is counted by why, and never
//! stalls or fails the run. Parsing and writing happen on a thread of their own, off the requests' runtime.
//!
//! - [`fetch`]: one scrape, bounded in time and size.
//! - [`parse`]: the text format, line by line.
//! - [`series`]: series' increases, resets handled, at most [`series::MAX_SERIES`].
//! - [`shown`]: the `show` selectors' lines for the timeline, scrape by scrape.
//! - [`file`]: the samples, in server_metrics.parquet.

pub mod fetch;
pub mod file;
pub mod parse;
pub mod series;
pub mod shown;

use crate::scenario::scrape::{ScrapeSpec, Selector};
pub use file::FILE_NAME;
use parquet::data_type::ByteArray;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The counters listed in summary.json (the largest increases first); all of them are in the Parquet file.
pub const MAX_LISTED: usize = 500;

/// What the scrapes came to, in summary.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerMetrics {
    pub scrapes: Vec<ScrapeCounts>,
    /// Distinct series kept; samples of series beyond the cap; lines that did not read as the format.
    pub series: u64,
    pub samples_beyond_cap: u64,
    pub unread_lines: u64,
    /// Counters' increases from the first scrape to the last, the largest first.
    pub counters: Vec<CounterIncrease>,
    /// Counters not listed (beyond [`MAX_LISTED`]).
    pub counters_not_listed: u64,
    /// The gateway's counters against slacheck's counts (`reconcile`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reconcile: Vec<Reconciled>,
    /// The series `show` chose, scrape by scrape, as the timeline draws them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<shown::Shown>,
}

/// One endpoint's scrapes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScrapeCounts {
    pub url: String,
    pub every_s: f64,
    pub ok: u64,
    pub failed: u64,
    /// Failed scrapes by why: `timeout`, `connection`, `status N`, `too large`, `not text`.
    pub failures: BTreeMap<String, u64>,
    /// The first and last successful scrapes, in seconds from the run's start (negative: before it).
    pub first_s: Option<f64>,
    pub last_s: Option<f64>,
    /// Distinct series of this endpoint kept.
    pub series: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterIncrease {
    pub url: String,
    pub metric: String,
    pub labels: String,
    pub increase: f64,
}

/// One line of the reconciliation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reconciled {
    /// What slacheck counted: `requests`, `errors`, `fallbacks` or `tokens_out`.
    pub name: String,
    pub url: String,
    pub selector: String,
    /// The selected series' increases added up (0 when the metric has series but none matches); absent when
    /// no scrape succeeded or the endpoint has no series of the metric.
    pub gateway: Option<f64>,
    pub series_matched: u64,
    /// slacheck's own count, and the gateway's minus it (filled by the report).
    pub slacheck: Option<u64>,
    pub difference: Option<f64>,
}

/// One scrape's result, from a scraping task to the collector.
struct Scraped {
    scrape: usize,
    time_s: f64,
    body: Result<String, fetch::Failure>,
}

/// The endpoints to scrape and the client that reads them, built before the run's clock starts (a client
/// with TLS roots takes tens of milliseconds to build, which the first requests would wait for).
pub struct Scraper {
    specs: Vec<ScrapeSpec>,
    client: reqwest::Client,
}

impl Scraper {
    /// A scraper for `specs` (none without any). `tls`: the run's https configuration, for https endpoints.
    pub fn new(
        specs: &[ScrapeSpec],
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Option<Scraper>, reqwest::Error> {
        if specs.is_empty() {
            return Ok(None);
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("slacheck/", env!("CARGO_PKG_VERSION")));
        if let Some(config) = tls {
            builder = builder.tls_backend_preconfigured(rustls::ClientConfig::clone(&config));
        }
        Ok(Some(Scraper { specs: specs.to_vec(), client: builder.build()? }))
    }

    /// Starts scraping into `dir`, timed from `start`: each endpoint at once, then every `every`.
    pub fn start(self, dir: &Path, start: Instant) -> Result<Scraping, std::io::Error> {
        let file = file::SampleFile::create(dir).map_err(std::io::Error::other)?;
        let (tx, rx) = mpsc::channel(4);
        let stop = CancellationToken::new();
        let client = self.client;
        let tasks = self
            .specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                tokio::spawn(scrape_loop(i, spec.clone(), client.clone(), start, tx.clone(), stop.clone()))
            })
            .collect();
        let specs = self.specs;
        let collector = std::thread::spawn(move || collect(&specs, rx, file));
        Ok(Scraping { stop, tasks, collector })
    }
}

/// The scrapes under way.
pub struct Scraping {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    collector: std::thread::JoinHandle<(ServerMetrics, Option<std::io::Error>)>,
}

impl Scraping {
    /// Scrapes once more (after the run) and returns what the scrapes came to, and the file's error if it could
    /// not be written.
    pub async fn finish(self) -> (ServerMetrics, Option<std::io::Error>) {
        self.stop.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        let collector = self.collector;
        tokio::task::spawn_blocking(move || collector.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| (ServerMetrics::default(), Some(std::io::Error::other("the scrapes' collector failed"))))
    }
}

/// Scrapes one endpoint now, then every `every` until stopped, then once more.
async fn scrape_loop(
    scrape: usize,
    spec: ScrapeSpec,
    client: reqwest::Client,
    start: Instant,
    tx: mpsc::Sender<Scraped>,
    stop: CancellationToken,
) {
    let timeout = spec.timeout();
    loop {
        let began = Instant::now();
        let last = stop.is_cancelled();
        let body = fetch::fetch(&client, &spec.url, timeout).await;
        let time_s = seconds_since(start, Instant::now());
        if tx.send(Scraped { scrape, time_s, body }).await.is_err() || last {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until((began + spec.every.0).into()) => {}
            _ = stop.cancelled() => {}
        }
    }
}

fn seconds_since(start: Instant, at: Instant) -> f64 {
    match at.checked_duration_since(start) {
        Some(d) => d.as_secs_f64(),
        None => -start.duration_since(at).as_secs_f64(),
    }
}

/// Folds every scrape as it comes and writes its samples; at the end, the counts, counters and reconciliation.
fn collect(
    specs: &[ScrapeSpec],
    mut rx: mpsc::Receiver<Scraped>,
    mut file: file::SampleFile,
) -> (ServerMetrics, Option<std::io::Error>) {
    let mut fold = series::Fold::default();
    let mut lines = shown::Lines::new(specs);
    let urls: Vec<ByteArray> = specs.iter().map(|s| ByteArray::from(s.url.as_str())).collect();
    let mut counts: Vec<ScrapeCounts> = specs
        .iter()
        .map(|s| ScrapeCounts { url: s.url.clone(), every_s: s.every.0.as_secs_f64(), ..ScrapeCounts::default() })
        .collect();
    let mut error = None;
    while let Some(Scraped { scrape, time_s, body }) = rx.blocking_recv() {
        let c = &mut counts[scrape];
        match body {
            Ok(text) => {
                c.ok += 1;
                c.first_s.get_or_insert(time_s);
                c.last_s = Some(time_s);
                fold.add(scrape, &text, |row| {
                    if error.is_none() {
                        let written = file.push(time_s, &urls[scrape], row.metric, row.labels, row.value);
                        error = written.err().map(std::io::Error::other);
                    }
                });
                lines.observe(scrape, time_s, &fold);
            }
            Err(why) => {
                c.failed += 1;
                *c.failures.entry(why.label()).or_default() += 1;
            }
        }
    }
    if error.is_none() {
        error = file.finish().err().map(std::io::Error::other);
    }
    let mut metrics = summarize(specs, &fold, counts);
    metrics.shown = lines.finish();
    (metrics, error)
}

fn summarize(specs: &[ScrapeSpec], fold: &series::Fold, mut scrapes: Vec<ScrapeCounts>) -> ServerMetrics {
    for s in fold.series() {
        scrapes[s.scrape].series += 1;
    }
    let mut counters: Vec<CounterIncrease> = fold
        .series()
        .filter(|s| s.counter)
        .map(|s| CounterIncrease {
            url: specs[s.scrape].url.clone(),
            metric: s.metric.clone(),
            labels: parse::labels_text(&s.labels),
            increase: s.increase,
        })
        .collect();
    counters.sort_by(|a, b| {
        b.increase.total_cmp(&a.increase).then_with(|| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)))
    });
    let counters_not_listed = counters.len().saturating_sub(MAX_LISTED) as u64;
    counters.truncate(MAX_LISTED);
    let mut reconcile = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        for (name, text) in spec.reconcile.iter().flat_map(|r| r.entries()) {
            let Ok(selector) = Selector::parse(text) else { continue };
            let family: Vec<&series::Series> =
                fold.series().filter(|s| s.scrape == i && s.metric == selector.metric).collect();
            let matched: Vec<f64> =
                family.iter().filter(|s| selector.matches(&s.metric, &s.labels)).map(|s| s.increase).collect();
            reconcile.push(Reconciled {
                name: name.to_string(),
                url: spec.url.clone(),
                selector: text.to_string(),
                // A labelled counter that never counted has no series yet: 0, when its metric is there at all.
                gateway: (!family.is_empty()).then(|| matched.iter().sum::<f64>() + 0.0),
                series_matched: matched.len() as u64,
                slacheck: None,
                difference: None,
            });
        }
    }
    ServerMetrics {
        scrapes,
        series: fold.count() as u64,
        samples_beyond_cap: fold.beyond_cap,
        unread_lines: fold.unread_lines,
        counters,
        counters_not_listed,
        reconcile,
        shown: Vec::new(),
    }
}
