//! The run's `[[scrape]]` endpoints: started once the results folder exists (before the first request is due),
//! finished after the last answer, their counts put into the summary beside slacheck's own.

use super::RunError;
use crate::report::Summary;
use crate::scenario::LoadedScenario;
use crate::scrape::{Scraper, Scraping, ServerMetrics, FILE_NAME};
use std::path::Path;
use std::time::{Duration, Instant};

/// The scraper of the scenario's `[[scrape]]` endpoints, if any, built before the run's clock starts.
pub(super) fn prepare(loaded: &LoadedScenario) -> Result<Option<Scraper>, RunError> {
    let specs = &loaded.scenario.scrape;
    let tls = match specs.iter().any(|s| s.url.starts_with("https:")) {
        true => Some(crate::router::tls::client_config(&loaded.tls(), false)?),
        false => None,
    };
    Scraper::new(specs, tls).map_err(|e| RunError::Client(e.to_string()))
}

/// From now to the first request: 100 ms, and with `[[scrape]]` as long again as the first scrape may take
/// (at most a second more), so that it answers before the first request is due.
pub(super) fn lead(loaded: &LoadedScenario) -> Duration {
    let first_scrape = loaded.scenario.scrape.iter().map(|s| s.timeout()).max().unwrap_or_default();
    Duration::from_millis(100) + first_scrape.min(Duration::from_secs(1))
}

/// Starts scraping into the results folder.
pub(super) fn start(scraper: Option<Scraper>, dir: &Path, start: Instant) -> Result<Option<Scraping>, RunError> {
    let Some(scraper) = scraper else { return Ok(None) };
    scraper.start(dir, start).map(Some).map_err(|source| RunError::Io { path: dir.join(FILE_NAME), source })
}

/// The last scrape (while the mock providers still serve); a file that could not be written is added to
/// `write_errors`.
pub(super) async fn finish(
    scraping: Option<Scraping>,
    dir: &Path,
    write_errors: &mut Vec<RunError>,
) -> Option<ServerMetrics> {
    let (metrics, error) = scraping?.finish().await;
    if let Some(source) = error {
        write_errors.push(RunError::NotWritten { path: dir.join(FILE_NAME), source });
    }
    Some(metrics)
}

/// The scrapes' counts in `summary`, reconciled with slacheck's own.
pub(super) fn put(summary: &mut Summary, metrics: Option<ServerMetrics>) {
    summary.server_metrics = metrics;
    crate::report::reconcile::reconcile(summary);
}
