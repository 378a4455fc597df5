//! Progress while a run goes: a bar redrawn on a terminal, a plain line every [`LINE_EVERY`] in a log (CI), and
//! nothing when asked to be quiet. A log gets lines, not a bar, because a bar's redraws are control characters
//! that a CI log shows as garbage, and without any line a ten-minute run shows no sign of life until it ends.

use crate::measure::Live;
use slacheck_common::units::fmt_ms;
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a log gets a progress line.
pub const LINE_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing (`--quiet`, `--json`, capacity steps, tests in process).
    #[default]
    Off,
    /// A bar on stderr, redrawn four times a second.
    Bar,
    /// A line on stderr every [`LINE_EVERY`].
    Lines,
}

impl Progress {
    /// The bar on a terminal, lines otherwise, nothing when quiet.
    pub fn wanted(quiet: bool) -> Self {
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Progress::Off,
            (false, true) => Progress::Bar,
            (false, false) => Progress::Lines,
        }
    }
}

/// Progress being shown; [`Shown::finish`] ends it before the summary is printed.
pub(super) struct Shown {
    bar: Option<indicatif::ProgressBar>,
    task: tokio::task::JoinHandle<()>,
}

impl Shown {
    /// Starts showing `kind` for a run of `expected` requests over `duration`.
    pub(super) fn start(kind: Progress, live: Arc<Live>, expected: u64, duration: Duration) -> Option<Shown> {
        match kind {
            Progress::Off => None,
            Progress::Bar => Some(bar(live, expected, duration)),
            Progress::Lines => Some(lines(live, duration)),
        }
    }

    pub(super) fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bar(live: Arc<Live>, expected: u64, duration: Duration) -> Shown {
    let bar = indicatif::ProgressBar::new(expected);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} req  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let task_bar = bar.clone();
    let task = tokio::spawn(async move {
        let began = Instant::now();
        let mut last = (0u64, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let done = live.finished.load(Ordering::Relaxed);
            let rate = (done - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-3);
            last = (done, Instant::now());
            let remaining = duration.saturating_sub(began.elapsed());
            task_bar.set_position(done);
            let p99_us = live.last_p99_us.load(Ordering::Relaxed);
            // No second has closed before the first answers: no p99 yet, rather than "0.0ms".
            let p99 = if p99_us == 0 { "–".to_string() } else { fmt_ms(p99_us as f64 / 1000.0) };
            task_bar.set_message(format!(
                "{rate:.0}/s  p99 {p99}  failed {}  {}s left",
                live.failed.load(Ordering::Relaxed),
                remaining.as_secs()
            ));
        }
    });
    Shown { bar: Some(bar), task }
}

fn lines(live: Arc<Live>, duration: Duration) -> Shown {
    let task = tokio::spawn(async move {
        let began = Instant::now();
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + LINE_EVERY, LINE_EVERY);
        let mut last = (0u64, Instant::now());
        loop {
            every.tick().await;
            let done = live.finished.load(Ordering::Relaxed);
            let rate = (done - last.0) as f64 / last.1.elapsed().as_secs_f64().max(1e-3);
            last = (done, Instant::now());
            eprintln!(
                "{}",
                line(
                    began.elapsed(),
                    duration,
                    done,
                    rate,
                    live.last_p99_us.load(Ordering::Relaxed),
                    live.failed.load(Ordering::Relaxed)
                )
            );
        }
    });
    Shown { bar: None, task }
}

/// One progress line: where the run is, its rate over the last line's interval, and the last second's p99.
fn line(elapsed: Duration, planned: Duration, ended: u64, rate_per_s: f64, p99_us: u64, failed: u64) -> String {
    let (elapsed, planned) = (elapsed.as_secs_f64(), planned.as_secs_f64());
    // Past the schedule a run waits for its last answers, and a conversational one for its sessions' last turns.
    let at = if elapsed <= planned + 0.5 {
        format!("{elapsed:.0} s of {planned:.0} s")
    } else {
        format!("{elapsed:.0} s (the {planned:.0} s schedule is over: the last answers and turns)")
    };
    format!(
        "slacheck: {at}, {ended} requests ended ({rate_per_s:.1}/s over the last {} s), {failed} errors or \
         timeouts, last second's p99 {}",
        LINE_EVERY.as_secs(),
        fmt_ms(p99_us as f64 / 1000.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_where_the_run_is_and_what_it_saw() {
        let l = line(Duration::from_millis(20_040), Duration::from_secs(60), 8_600, 429.96, 149_200, 3);
        assert_eq!(
            l,
            "slacheck: 20 s of 60 s, 8600 requests ended (430.0/s over the last 10 s), 3 errors or timeouts, \
             last second's p99 149.2ms"
        );
        let past = line(Duration::from_secs(20), Duration::from_secs(15), 240, 12.0, 2_994_200, 0);
        assert_eq!(
            past,
            "slacheck: 20 s (the 15 s schedule is over: the last answers and turns), 240 requests ended \
             (12.0/s over the last 10 s), 0 errors or timeouts, last second's p99 2.99s"
        );
    }

    #[test]
    fn quiet_is_off_whatever_stderr_is() {
        assert_eq!(Progress::wanted(true), Progress::Off);
    }
}
