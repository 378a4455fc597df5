//! The open-loop dispatcher and the HTTP client.
//!
//! A pacer thread walks the schedule and fires each request at its intended time, whatever the target is doing.
//! It runs on its own OS thread because tokio's timers wake up to a millisecond late, while a thread's sleep
//! is accurate to tens of microseconds; requests already due are fired in one pass, and in a dense stretch of
//! the schedule the pacer wakes at most once per [`WAKE_QUANTUM`] (each wake-up of the pacer, the worker and the server costs more CPU
//! than the request itself: at 20,000 req/s batching per 500 µs about halved the CPU per request, and per 1 ms
//! took another 12% off, for at most a millisecond of lag, tokio's own timer resolution). Each request runs as a
//! task on the tokio runtime and ends as exactly one [`Sample`].
//! When `max_in_flight` requests are out, a due request is counted as not sent instead of being delayed (which
//! would hide the target's slowness) or dropped.
//!
//! When a class is conversational, the schedule's arrivals are sessions: each runs as one task that sends its
//! turns one after another, turn k+1 due when turn k's answer ended plus the think time (its latency counts from
//! then). A session holds one of the `max_in_flight` places for its whole life, so that open sessions (and the
//! histories they hold) are bounded; a session due when they are all taken is not sent.

use crate::router::{Router, Turn};
use crate::sample::{Outcome, Sample, SessionTurn};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc::UnboundedSender, Semaphore};
use tokio_util::sync::CancellationToken;

/// The requests to send: (request number in the whole schedule, intended send time from the start).
pub type Arrivals = Box<dyn Iterator<Item = (u64, Duration)> + Send>;

/// Shared switches of a running dispatch.
#[derive(Clone)]
pub struct Controls {
    /// Set to stop scheduling new requests (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// Cancelled to give up on requests still in flight.
    pub cancel: CancellationToken,
    pub in_flight: Arc<Semaphore>,
    pub max_in_flight: usize,
}

impl Controls {
    pub fn new(max_in_flight: usize) -> Self {
        Controls {
            stop: Arc::new(AtomicBool::new(false)),
            cancel: CancellationToken::new(),
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Waits until no request is in flight.
    pub async fn drained(&self) {
        let n = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        let _all = self.in_flight.acquire_many(n).await;
    }
}

/// What every dispatcher needs: the request, the run's start, its switches and where samples go.
#[derive(Clone)]
pub struct Dispatch {
    pub router: Arc<Router>,
    pub start: Instant,
    pub controls: Controls,
    /// Each sample boxed: it is moved several times on its way to the recorder (into the channel, out of it, to
    /// the recorder), and a pointer is cheaper to move than its few hundred bytes (-450 instructions a request).
    pub samples: UnboundedSender<Box<Sample>>,
}

/// The shortest interval between two wake-ups of the pacer in a dense stretch of the schedule ([`Batches`]). 1 ms
/// against 500 µs, interleaved (bench/ab.py, 6 runs of 6 s): CPU per request 35.5 → 29.8 µs at 10,000/s and
/// 24.9 → 22.0 µs at 20,000/s; lag p99 0.53 → 1.02 ms. A request is never sent early, and one due more than a
/// quantum after the last wake-up is not delayed.
const WAKE_QUANTUM: Duration = Duration::from_millis(1);

/// Runs the pacer on its own thread until the schedule ends or `stop` is set. Returns when it has fired the last
/// request (requests may still be in flight).
pub fn spawn_pacer(
    schedule: Arrivals,
    dispatch: Dispatch,
    runtime: tokio::runtime::Handle,
) -> std::thread::JoinHandle<()> {
    let Dispatch { router, start, controls, samples } = dispatch;
    std::thread::Builder::new()
        .name("slacheck-pacer".into())
        .spawn(move || {
            // At high rates the pacer fires what is due at most once per quantum, so the tokio worker, the
            // sockets and the server wake once per batch instead of once per request; the lag this adds is
            // below the quantum.
            let mut batches = Batches::new(start);
            // The first spawn of a request task paid for its thread's first large allocation and the runtime's
            // first wake-up (5 to 20 ms on a busy machine): it is paid here, before the clock starts, by a task
            // of the same type that sends nothing. Its handle keeps its memory (one task) until the pacer ends,
            // so the allocator does not give the page back before request 0 needs it.
            let mut _warm_up = fire(&runtime, &router, None, start, &samples, &controls.cancel);
            let _ = runtime.block_on(&mut _warm_up);
            for (index, intended) in schedule {
                let due = batches.due(intended, Instant::now());
                loop {
                    if controls.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    // Short sleeps so that a stop request is seen within 50 ms even between sparse requests.
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                }
                if router.conversational() {
                    let permit = controls.in_flight.clone().try_acquire_owned().ok();
                    let session = Session { router: router.clone(), start, samples: samples.clone() };
                    runtime.spawn(session.run(index, intended, controls.clone(), permit));
                    continue;
                }
                match controls.in_flight.clone().try_acquire_owned() {
                    Ok(permit) => {
                        fire(&runtime, &router, Some((index, intended, permit)), start, &samples, &controls.cancel);
                    }
                    Err(_) => {
                        let done = start.elapsed();
                        let class = router.class_of(index) as u16;
                        let _ = samples.send(Box::new(Sample {
                            request: index,
                            class,
                            ..Sample::not_sent(intended, done)
                        }));
                    }
                }
            }
        })
        .expect("the pacer thread starts")
}

/// When the pacer fires each request: at its intended time, except in a dense stretch of the schedule (the last
/// [`DENSE_AFTER`] requests all due within one [`WAKE_QUANTUM`], a local rate of 4,000/s or more), where a
/// request due less than a quantum after the last wake-up waits for the next. A sparse schedule, or a Poisson
/// one at a few hundred requests a second, keeps the thread sleep's precision; a dense one wakes once a quantum.
struct Batches {
    start: Instant,
    last_wake: Instant,
    /// The intended times of the last [`DENSE_AFTER`] requests, a ring.
    recent: [Option<Duration>; DENSE_AFTER],
    next: usize,
}

/// Requests within one quantum that make a stretch of the schedule dense.
const DENSE_AFTER: usize = 4;

impl Batches {
    fn new(start: Instant) -> Self {
        Batches { start, last_wake: start, recent: [None; DENSE_AFTER], next: 0 }
    }

    /// When to fire the request due at `intended` (from the start), it being `now`.
    fn due(&mut self, intended: Duration, now: Instant) -> Instant {
        let dense = self.recent[self.next].is_some_and(|oldest| intended.saturating_sub(oldest) < WAKE_QUANTUM);
        self.recent[self.next] = Some(intended);
        self.next = (self.next + 1) % DENSE_AFTER;
        let mut due = self.start + intended;
        if due > now {
            if dense {
                due = due.max(self.last_wake + WAKE_QUANTUM);
            }
            self.last_wake = due;
        }
        due
    }
}

/// Spawns request `index`, due at `intended`, holding its in-flight permit; without one, a task of the same size
/// that sends nothing (the pacer's warm-up).
fn fire(
    runtime: &tokio::runtime::Handle,
    router: &Arc<Router>,
    request: Option<(u64, Duration, tokio::sync::OwnedSemaphorePermit)>,
    start: Instant,
    samples: &UnboundedSender<Box<Sample>>,
    cancel: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (router, samples, cancel) = (router.clone(), samples.clone(), cancel.clone());
    runtime.spawn(async move {
        let Some((index, intended, permit)) = request else { return };
        // Boxed, so that the task stays small: tokio copies a task's future when it is spawned and its whole
        // room again when it finishes, and a request's future is kilobytes.
        let sample = Box::pin(router.route(index, intended, start, &cancel)).await;
        drop(permit);
        let _ = samples.send(Box::new(sample));
    })
}

/// One session of a conversational run (or a single request of a class that is not conversational, in such a
/// run): what it needs besides its number and its place.
struct Session {
    router: Arc<Router>,
    start: Instant,
    samples: UnboundedSender<Box<Sample>>,
}

impl Session {
    /// Session `number`, due at `intended`, holding `permit` (none: every place was taken, so it is not sent).
    async fn run(
        self,
        number: u64,
        intended: Duration,
        controls: Controls,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        let Session { router, start, samples } = self;
        let class = router.class_of(number);
        let prompts = &router.classes[class].prompts;
        let conversation = router.classes[class].conversation.clone();
        let mut plan = conversation.as_ref().and_then(|_| prompts.session(number));
        let turns = plan.as_ref().map_or(1, |p| p.turns);
        let header = router.session_header(class, number);
        let mut due = intended;
        for turn in 0..turns {
            if turn > 0 {
                let at = start + due;
                if at > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = controls.cancel.cancelled() => return,
                    }
                }
                if controls.stop.load(Ordering::Relaxed) {
                    return;
                }
            }
            let index = router.next_turn_number();
            let place = plan.as_ref().map(|p| SessionTurn { session: p.number, turn, turns });
            if permit.is_none() {
                let done = start.elapsed();
                let s = Sample { request: index, class: class as u16, session: place, ..Sample::not_sent(due, done) };
                let _ = samples.send(Box::new(s));
                return;
            }
            let prepared = match plan.as_mut() {
                Some(p) => prompts.turn(p, turn),
                None => prompts.prepare(index, None),
            };
            let request = Turn { index, class, prompt: &prepared, session: header.as_ref() };
            let (mut sample, answer) = router.route_turn(request, due, start, &controls.cancel).await;
            sample.session = place;
            let (ok, done) = (sample.outcome == Outcome::Ok, sample.done);
            let _ = samples.send(Box::new(sample));
            if !ok {
                return;
            }
            if let Some(p) = plan.as_mut() {
                prompts.answered(p, answer.as_deref().unwrap_or_default());
            }
            due = done + conversation.as_ref().map_or(Duration::ZERO, |c| c.think_time(number, turn + 1));
        }
        drop(permit);
    }
}

/// Closed loop (wrk2's model): `connections` tasks; each free one takes the next request of the schedule,
/// waits until it is due, sends it and waits for the answer. A request due while every connection is busy goes
/// out late; its latency still counts from when it was due. tokio's timer makes lag about 1 ms here.
pub fn spawn_connections(
    schedule: Arrivals,
    connections: usize,
    dispatch: Dispatch,
) -> Vec<tokio::task::JoinHandle<()>> {
    let schedule = Arc::new(std::sync::Mutex::new(schedule));
    (0..connections)
        .map(|_| {
            let schedule = schedule.clone();
            let Dispatch { router, start, controls, samples } = dispatch.clone();
            tokio::spawn(async move {
                loop {
                    let next = schedule.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((index, intended)) = next else { return };
                    let due = start + intended;
                    // A request already due goes at once: no timer to register and fire.
                    if due > Instant::now() {
                        tokio::time::sleep_until(due.into()).await;
                    }
                    if controls.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(permit) = controls.in_flight.clone().acquire_owned().await else { return };
                    let sample = router.route(index, intended, start, &controls.cancel).await;
                    drop(permit);
                    let _ = samples.send(Box::new(sample));
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When each request of `schedule` (µs from the start) fires, in µs: at its due time, or at once when the
    /// pacer woke later than that for an earlier one.
    fn fired(schedule: &[u64]) -> Vec<u64> {
        let start = Instant::now();
        let mut batches = Batches::new(start);
        let mut now = start;
        let us = |d: Duration| d.as_micros() as u64;
        schedule
            .iter()
            .map(|&at| {
                now = now.max(batches.due(Duration::from_micros(at), now));
                us(now - start)
            })
            .collect()
    }

    #[test]
    fn a_sparse_schedule_fires_on_time_and_a_dense_one_once_a_millisecond() {
        // 833/s, and a Poisson-like run of gaps: never four requests within a millisecond, so never delayed.
        let uniform: Vec<u64> = (0..20).map(|i| 1_200 * i).collect();
        assert_eq!(fired(&uniform), uniform);
        let gappy = [0, 300, 2_300, 2_500, 5_500, 5_600, 5_700, 7_000, 7_100];
        assert_eq!(fired(&gappy), gappy);
        // 10,000/s from 10 ms: the first four on time; the fifth (10.4 ms) finds four within a millisecond and
        // waits a quantum after the last wake-up (10.3 ms): 11.3 ms, when the nine due by then go too; then one
        // wake-up a millisecond, each firing the ten due since the last.
        let dense: Vec<u64> = (0..40).map(|i| 10_000 + 100 * i).collect();
        let got = fired(&dense);
        assert_eq!(got[..4], [10_000, 10_100, 10_200, 10_300]);
        assert_eq!(got[4..14], [11_300; 10]);
        assert_eq!(got[14..24], [12_300; 10]);
        assert_eq!(got[24..34], [13_300; 10]);
        // None early, none later than a quantum.
        assert!(dense.iter().zip(&got).all(|(due, at)| at >= due && at - due <= 1_000), "{got:?}");
    }
}
