//! Routing one logical request: its class, the tiers it may try, retries with backoff and failover.
//!
//! Without `[[tiers]]` a scenario has one implicit tier (its `target`) and one class (its `body`), so the
//! single-target case is the same code with a chain of one. Each attempt is recorded with its tier, outcome,
//! own latency and the reason the next one was made; the logical request ends as one outcome.

mod body;
mod build;
pub mod client;
pub mod reach;
mod served_by;
pub mod tls;

use crate::prompt::RequestBody;
use crate::sample::{Attempt, ErrorKind, Outcome, Sample, StreamTiming};
use crate::scenario::{ServedBy, StatusPattern};
use crate::sse::SseReader;
use body::{json_pointer, BodyRead, Read, ReadEnd, WithUsage};
pub use build::{build_router, BuildError};
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use served_by::marks_failover;
pub(crate) use served_by::served_list;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One place requests can go.
#[derive(Debug, Clone)]
pub struct Tier {
    pub name: String,
    /// Where its requests go: one endpoint, or several in regions split by weight.
    pub endpoints: Vec<Endpoint>,
    /// Per attempt.
    pub timeout: Duration,
    /// US dollars per million input and output tokens.
    pub price_input: f64,
    pub price_output: f64,
}

/// One endpoint of a tier.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Url,
    /// The lean HTTP/1.1 path to it, for a plain `http://` URL (see [`client`]).
    pub lean: Option<std::sync::Arc<client::LeanTarget>>,
    /// Under `load.max_connections`: one permit per connection to it. An attempt holds one from before its send
    /// to the end of its answer, and waits for one in turn (the semaphore is fair), so no more requests are out
    /// to the endpoint than it has connections.
    pub slots: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Index into [`Router::regions`].
    pub region: Option<u16>,
    pub weight: f64,
}

impl Tier {
    /// The endpoint for logical request `index`: a weighted draw that depends only on the index.
    pub fn endpoint(&self, index: u64) -> &Endpoint {
        &self.endpoints[weighted_index(self.endpoints.iter().map(|e| e.weight), unit(mix(index ^ 0xE9D0)))]
    }
}

/// Whether an outcome means that an answer arrived (a status line at least), so that it could have named its
/// upstream.
fn answered(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Ok => true,
        Outcome::Error(kind) => matches!(
            kind,
            ErrorKind::Status(_) | ErrorKind::MalformedBody | ErrorKind::BodyTooLarge | ErrorKind::Stream { .. }
        ),
        Outcome::Timeout | Outcome::NotSent => false,
    }
}

impl Router {
    /// Each class's primary upstream as the requests will name it: its first tier, unless a served-by value
    /// names the upstream (then the episodes choose it from the traffic).
    pub fn class_primaries(&self) -> Option<Vec<String>> {
        self.served_by.is_none().then(|| self.classes.iter().map(|c| self.tiers[c.order[0]].name.clone()).collect())
    }
}

/// The index that a draw `u` in [0, 1) picks among `weights`, each chosen in proportion to its weight.
fn weighted_index(weights: impl Iterator<Item = f64> + Clone, u: f64) -> usize {
    let mut x = u * weights.clone().sum::<f64>();
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
        last = i;
    }
    last
}

/// One kind of request.
pub struct Class {
    pub name: String,
    pub weight: f64,
    /// Tier indices, in the order they are tried.
    pub order: Vec<usize>,
    /// What its requests say, and their body on each tier (the model differs per tier).
    pub prompts: crate::prompt::Prompts,
}

/// When to try again, and where.
#[derive(Debug, Clone)]
pub struct Policy {
    pub failover: bool,
    pub on_status: Vec<u16>,
    pub on_timeout: bool,
    pub on_transport: bool,
    pub latency_budget: Option<Duration>,
    pub retries: u32,
    pub backoff: Duration,
    pub backoff_cap: Duration,
    pub idempotency_header: Option<HeaderName>,
    /// Send a duplicate to the next tier when the first has not answered after this long.
    pub hedge_after: Option<Duration>,
    /// At most this share of logical requests gets a hedge.
    pub hedge_max_share: f64,
}

pub struct Router {
    pub client: reqwest::Client,
    /// The run's TLS configuration, when an endpoint is https (both client paths use it).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    pub method: Method,
    pub headers: HeaderMap,
    pub tiers: Vec<Tier>,
    /// Region names of the tiers' endpoints.
    pub regions: Vec<String>,
    pub classes: Vec<Class>,
    pub policy: Policy,
    pub served_by: Option<ServedBy>,
    /// The gateway's header that says it failed over internally.
    pub failed_over_marker: Option<HeaderName>,
    pub success: Vec<StatusPattern>,
    /// The longest response body read (`target.max_body`).
    pub max_body: usize,
    /// Distinguishes this run's request ids (and idempotency keys) from another's.
    pub run_id: u64,
    /// The header that carries each logical request's id (`target.request_id_header`), if any.
    pub request_id_header: Option<HeaderName>,
    /// Response headers kept per request (`target.capture_headers`).
    pub capture: Vec<HeaderName>,
    pub seed: u64,
    /// A trace's per-request lengths, by request number, when its rows carry them.
    pub shapes: Option<std::sync::Arc<[crate::trace::RequestShape]>>,
    /// Counters for the hedge budget.
    pub hedges_sent: AtomicU64,
    pub logical_requests: AtomicU64,
    /// Attempts that could not open a socket (EMFILE, ENFILE): counted as not sent.
    pub out_of_files: AtomicU64,
    /// The bytes of request bodies in flight, within `load.max_request_memory` less the shared prompts.
    pub memory: crate::prompt::memory::BodyMemory,
    /// Requests not sent because their bodies would have passed it.
    pub not_sent_memory: AtomicU64,
}

/// The most bytes of one captured header value kept: enough for any call id, bounded whatever an upstream sends.
pub const MAX_CAPTURED: usize = 256;

/// The id of logical request `index` of run `run_id`: its request-id header and idempotency key, and the
/// `request_id` column of requests.parquet, so a request in the file can be found in the gateway's logs.
pub fn request_id(run_id: u64, index: u64) -> String {
    format!("slacheck-{run_id:016x}-{index}")
}

pub use crate::prompt::mix;

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// What one attempt came to, before the policy decides whether to go on.
struct Exchange {
    outcome: Outcome,
    /// The answer's HTTP status, when a status line came.
    status: Option<u16>,
    /// The answer's values of the captured headers.
    captured: Vec<Option<String>>,
    upstream: Option<String>,
    /// The gateway's own marker says it failed over internally.
    gateway_failed_over: bool,
    tokens: Option<(u64, u64)>,
    over_budget: bool,
    stream: Option<StreamTiming>,
    phases: Option<crate::sample::Phases>,
}

impl Exchange {
    fn failed(outcome: Outcome) -> Self {
        Exchange {
            outcome,
            status: None,
            captured: Vec::new(),
            upstream: None,
            gateway_failed_over: false,
            tokens: None,
            over_budget: false,
            stream: None,
            phases: None,
        }
    }
}

impl Router {
    /// The class of request number `index`: a weighted draw that depends only on the seed and the index.
    pub fn class_of(&self, index: u64) -> usize {
        weighted_index(self.classes.iter().map(|c| c.weight), unit(mix(self.seed ^ mix(index))))
    }

    /// Sends logical request `index`, due at `intended`, through its class's tiers.
    pub async fn route(&self, index: u64, intended: Duration, start: Instant, cancel: &CancellationToken) -> Sample {
        let sent = start.elapsed();
        let class_index = self.class_of(index);
        let class = &self.classes[class_index];
        let prompt = class.prompts.prepare(index, self.shapes.as_ref().and_then(|s| s.get(index as usize)));
        // Held until the request ends: a body that would pass the memory cap is not sent (the generator's
        // limit), so a silent target cannot make requests in flight hold more than the scenario allows.
        let Some(_held) = self.memory.reserve(prompt.own_bytes()) else {
            self.not_sent_memory.fetch_add(1, Ordering::Relaxed);
            let done = start.elapsed();
            return Sample { request: index, class: class_index as u16, ..Sample::not_sent(intended, done) };
        };
        let key = self.request_key(index);
        let (mut attempts, mut last) = (Vec::new(), Exchange::failed(Outcome::Timeout));
        let mut tiers = if self.policy.failover { &class.order[..] } else { &class.order[..1] };
        self.logical_requests.fetch_add(1, Ordering::Relaxed);
        let (mut hedge, mut hedged_away) = (None, None);
        if let (Some(after), [first, second, rest @ ..]) = (self.policy.hedge_after, tiers) {
            let bodies = [first, second].map(|t| class.prompts.body(&prompt, *t));
            let (e, hedged, lost) =
                self.race([*first, *second], index, bodies, after, key.as_ref(), start, cancel, &mut attempts).await;
            hedged_away = lost.map(|t| t as u16);
            hedge =
                hedged.then(|| e.outcome == Outcome::Ok && attempts.last().is_some_and(|a| a.tier as usize == *second));
            let go_on =
                e.outcome != Outcome::Ok && self.triggers(&e) && e.outcome != Outcome::Error(ErrorKind::Interrupted);
            last = e;
            tiers = if go_on { rest } else { &[] };
        }
        'tiers: for &tier in tiers {
            for retry in 0..=self.policy.retries {
                if retry > 0 && !self.back_off(retry, index, attempts.len(), cancel).await {
                    break 'tiers;
                }
                let began = start.elapsed();
                let body = class.prompts.body(&prompt, tier);
                last = tokio::select! {
                    e = self.attempt(&self.tiers[tier], index, body, key.as_ref(), start) => e,
                    _ = cancel.cancelled() => Exchange::failed(Outcome::Error(ErrorKind::Interrupted)),
                };
                let elapsed = start.elapsed().saturating_sub(began);
                let trigger = self.triggers(&last);
                if last.outcome == Outcome::NotSent {
                    break 'tiers;
                }
                attempts.push(self.attempt_of(tier, index, &last, elapsed));
                if last.outcome == Outcome::Ok || !trigger || last.outcome == Outcome::Error(ErrorKind::Interrupted) {
                    break 'tiers;
                }
            }
        }
        let served = (last.outcome == Outcome::Ok).then(|| attempts.last().map(|a| a.tier)).flatten();
        let (upstream, served_by_missing) = self.upstream_of(&mut last, &attempts);
        Sample {
            request: index,
            intended,
            sent: (last.outcome != Outcome::NotSent).then_some(sent),
            done: start.elapsed(),
            outcome: last.outcome,
            class: class_index as u16,
            served,
            upstream,
            served_by_missing,
            gateway_failed_over: last.gateway_failed_over,
            status: last.status,
            captured: last.captured,
            tokens: last.tokens,
            input_tokens: prompt.input_tokens(),
            attempts,
            stream: last.stream,
            hedge,
            hedged_away,
        }
    }

    /// Waits before retry number `retry` (from 1): a jittered exponential backoff up to its cap. False when the
    /// run was cancelled meanwhile.
    async fn back_off(&self, retry: u32, index: u64, attempts: usize, cancel: &CancellationToken) -> bool {
        let ceiling = self.policy.backoff.saturating_mul(1 << (retry - 1).min(20)).min(self.policy.backoff_cap);
        let jitter = unit(mix(index ^ mix(attempts as u64 ^ self.seed)));
        tokio::select! {
            _ = tokio::time::sleep(ceiling.mul_f64(jitter)) => true,
            _ = cancel.cancelled() => false,
        }
    }

    /// The record of one attempt of request `index` on `tier`, which took `elapsed`.
    fn attempt_of(&self, tier: usize, index: u64, e: &Exchange, elapsed: Duration) -> Attempt {
        Attempt {
            tier: tier as u16,
            region: self.tiers[tier].endpoint(index).region,
            outcome: e.outcome.clone(),
            elapsed,
            over_budget: e.over_budget,
            phases: e.phases,
        }
    }

    /// The logical request's id as a header value, when it is sent (request id or idempotency key).
    fn request_key(&self, index: u64) -> Option<HeaderValue> {
        let sent = self.policy.idempotency_header.is_some() || self.request_id_header.is_some();
        sent.then(|| HeaderValue::from_str(&request_id(self.run_id, index)).ok()).flatten()
    }

    /// Who served a request, and whether an answer lacked the served-by value: with `served_by` only the answer
    /// names its upstream; without it, the tier that answered last does.
    fn upstream_of(&self, last: &mut Exchange, attempts: &[Attempt]) -> (Option<String>, bool) {
        let missing = self.served_by.is_some() && last.upstream.is_none() && answered(&last.outcome);
        let upstream = match &self.served_by {
            Some(_) => last.upstream.take(),
            None => attempts.last().map(|a| self.tiers[a.tier as usize].name.clone()),
        };
        (upstream, missing)
    }

    /// The first tier, and after `after` without an answer a duplicate on the second, if the hedge budget
    /// allows; the first success wins and the other is cancelled (not in `attempts`: its outcome is unknown).
    /// Returns the deciding exchange, whether a hedge was sent, and the tier whose attempt was cancelled.
    #[allow(clippy::too_many_arguments)]
    async fn race(
        &self,
        tiers: [usize; 2],
        index: u64,
        bodies: [RequestBody; 2],
        after: Duration,
        key: Option<&HeaderValue>,
        start: Instant,
        cancel: &CancellationToken,
        attempts: &mut Vec<Attempt>,
    ) -> (Exchange, bool, Option<usize>) {
        let [body_a, body_b] = bodies;
        let record = |attempts: &mut Vec<Attempt>, tier: usize, began: Duration, e: &Exchange| {
            attempts.push(self.attempt_of(tier, index, e, start.elapsed().saturating_sub(began)));
        };
        let interrupted = || Exchange::failed(Outcome::Error(ErrorKind::Interrupted));
        let began_a = start.elapsed();
        let first = self.attempt(&self.tiers[tiers[0]], index, body_a, key, start);
        tokio::pin!(first);
        tokio::select! {
            e = &mut first => {
                record(attempts, tiers[0], began_a, &e);
                return (e, false, None);
            }
            _ = tokio::time::sleep(after) => {}
            _ = cancel.cancelled() => return (interrupted(), false, None),
        }
        let (sent, requests) =
            (self.hedges_sent.load(Ordering::Relaxed), self.logical_requests.load(Ordering::Relaxed));
        let allowed = (sent as f64) < self.policy.hedge_max_share * requests as f64;
        if !allowed {
            let e = tokio::select! { e = &mut first => e, _ = cancel.cancelled() => interrupted() };
            record(attempts, tiers[0], began_a, &e);
            return (e, false, None);
        }
        self.hedges_sent.fetch_add(1, Ordering::Relaxed);
        let began_b = start.elapsed();
        let second = self.attempt(&self.tiers[tiers[1]], index, body_b, key, start);
        tokio::pin!(second);
        // Whichever answers first is recorded; a success wins and the other is dropped, else the other decides.
        let (won, e) = tokio::select! {
            e = &mut first => (0, e),
            e = &mut second => (1, e),
            _ = cancel.cancelled() => return (interrupted(), true, None),
        };
        let began = [began_a, began_b];
        record(attempts, tiers[won], began[won], &e);
        if e.outcome == Outcome::Ok {
            return (e, true, Some(tiers[1 - won]));
        }
        let other = if won == 0 { second.as_mut() } else { first.as_mut() };
        let e = tokio::select! { e = other => e, _ = cancel.cancelled() => interrupted() };
        record(attempts, tiers[1 - won], began[1 - won], &e);
        (e, true, None)
    }

    /// Whether an attempt's result calls for another attempt (a retry or the next tier).
    fn triggers(&self, e: &Exchange) -> bool {
        match &e.outcome {
            Outcome::Ok | Outcome::NotSent => false,
            Outcome::Timeout => e.over_budget || self.policy.on_timeout,
            Outcome::Error(ErrorKind::Status(s)) => self.policy.on_status.contains(s),
            Outcome::Error(ErrorKind::Connect | ErrorKind::Tls(_) | ErrorKind::Transport) => self.policy.on_transport,
            Outcome::Error(ErrorKind::Interrupted) => false,
            // Before its first token a broken stream can still be retried; after it the user saw a broken answer.
            Outcome::Error(ErrorKind::Stream { after_first_token, .. }) => {
                !after_first_token && self.policy.on_transport
            }
            Outcome::Error(ErrorKind::MalformedBody | ErrorKind::BodyTooLarge) => self.policy.on_transport,
        }
    }

    /// One attempt; `key` is the logical request's id, sent as its idempotency key and request id.
    async fn attempt(
        &self,
        tier: &Tier,
        index: u64,
        body: RequestBody,
        key: Option<&HeaderValue>,
        start: Instant,
    ) -> Exchange {
        let endpoint = tier.endpoint(index);
        let mut headers = self.headers.clone();
        for name in [&self.policy.idempotency_header, &self.request_id_header].into_iter().flatten() {
            if let Some(key) = key {
                headers.insert(name, key.clone());
            }
        }
        let (limit, over_budget) = match self.policy.latency_budget {
            Some(b) if b < tier.timeout => (b, true),
            _ => (tier.timeout, false),
        };
        let deadline = tokio::time::Instant::now() + limit;
        // Lives outside the timed future, so that a stream cut short by a timeout still tells its first token.
        let mut sse: Option<(SseReader, Instant)> = None;
        let mut head: Option<(u16, Vec<Option<String>>)> = None;
        let mut phases = None;
        let exchange = async {
            // Held to the end of the answer, whatever ends it; a wait counts against the attempt's deadline.
            let waiting = Instant::now();
            let slot = match &endpoint.slots {
                Some(slots) => Some(slots.acquire().await.map_err(|_| client::SendError::Transport("closed".into()))?),
                None => None,
            };
            let wait = slot.as_ref().map(|_| waiting.elapsed());
            let sending = Instant::now();
            let mut response =
                client::send(&self.client, &self.method, &endpoint.url, endpoint.lean.as_ref(), headers, body).await?;
            let (connect, tls) = response.opened.map_or((None, None), |o| (Some(o.connect), o.tls));
            phases = Some(crate::sample::Phases { wait, connect, tls, headers: sending.elapsed() });
            head = Some((response.status, self.captured(response.headers())));
            self.read(&mut response, deadline, &mut sse).await
        };
        let result = tokio::time::timeout_at(deadline, exchange).await;
        let at = |i: Instant| i.saturating_duration_since(start);
        let stream = sse.as_ref().map(|(r, headers)| StreamTiming {
            headers: at(*headers),
            first_token: r.first_token.map(at),
            last_token: r.last_token.map(at),
            tokens: r.tokens(),
            tokens_after_first: r.tokens_after_first(),
            largest_gap: r.largest_gap,
        });
        let mut e = self.exchange_of(result, over_budget, &mut sse);
        e.stream = stream;
        e.phases = phases;
        (e.status, e.captured) = head.map_or((None, Vec::new()), |(status, captured)| (Some(status), captured));
        e
    }

    /// Reads an answer's body under the size cap and `deadline`: a stream event by event into `sse` (which
    /// outlives a deadline that cuts it short), anything else whole, kept only when it is parsed later.
    async fn read(
        &self,
        response: &mut client::Answer,
        deadline: tokio::time::Instant,
        sse: &mut Option<(SseReader, Instant)>,
    ) -> Result<Read, client::SendError> {
        let status = response.status;
        let listed = match &self.served_by {
            Some(ServedBy::Header(h)) => response.headers().get(h).and_then(|v| v.to_str().ok()).map(served_list),
            _ => None,
        };
        let (upstream, tried_before) = listed.unwrap_or((None, 0));
        let failed_over = self.failed_over_marker.as_ref().and_then(|h| response.headers().get(h));
        let failed_over = tried_before > 0 || failed_over.is_some_and(|v| marks_failover(v.as_bytes()));
        let content_type = response.headers().get("content-type").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
        let json = content_type.starts_with(b"application/json");
        if content_type.starts_with(b"text/event-stream") {
            let (reader, _) = sse.insert((SseReader::default(), Instant::now()));
            let mut reading = BodyRead { max: self.max_body, read: 0, kept: None, deadline };
            while let Some(chunk) = response.chunk().await? {
                if let Some(end) = reading.account(&chunk) {
                    return Ok(Read::Ended(status, end));
                }
                reader.feed(&chunk, Instant::now());
                if reader.overflowed {
                    return Ok(Read::Ended(status, ReadEnd::StreamOverflow));
                }
            }
            return Ok(Read::Whole { status, upstream, failed_over, body: Bytes::new(), json: false });
        }
        // Read the whole body (a response counts only when it has fully arrived), but keep only what is
        // parsed later: a JSON body (usage, served-by field) of a success.
        let keep = json || matches!(self.served_by, Some(ServedBy::Json(_)));
        let kept = keep.then(BytesMut::new);
        let mut reading = BodyRead { max: self.max_body, read: 0, kept, deadline };
        while let Some(chunk) = response.chunk().await? {
            if let Some(end) = reading.account(&chunk) {
                return Ok(Read::Ended(status, end));
            }
        }
        let body = reading.kept.map(BytesMut::freeze).unwrap_or_default();
        Ok(Read::Whole { status, upstream, failed_over, body, json })
    }

    /// The values of `target.capture_headers` in an answer, each cut to [`MAX_CAPTURED`] bytes.
    fn captured(&self, headers: &HeaderMap) -> Vec<Option<String>> {
        let value = |name: &HeaderName| {
            let v = headers.get(name)?.as_bytes();
            let cut = &v[..v.len().min(MAX_CAPTURED)];
            Some(String::from_utf8_lossy(cut).into_owned())
        };
        self.capture.iter().map(value).collect()
    }

    /// What one attempt's reading came to: its outcome, upstream and tokens (the stream's timing is added by
    /// the caller, which still holds it when the deadline cut the reading short).
    fn exchange_of(
        &self,
        result: Result<Result<Read, client::SendError>, tokio::time::error::Elapsed>,
        over_budget: bool,
        sse: &mut Option<(SseReader, Instant)>,
    ) -> Exchange {
        match result {
            Err(_) | Ok(Ok(Read::Ended(_, ReadEnd::Deadline))) => {
                Exchange { over_budget, ..Exchange::failed(Outcome::Timeout) }
            }
            // No socket could be opened: the request never left this machine, and the limit is the generator's.
            Ok(Err(client::SendError::Connect { out_of_files: true, .. })) => {
                self.out_of_files.fetch_add(1, Ordering::Relaxed);
                Exchange::failed(Outcome::NotSent)
            }
            Ok(Err(client::SendError::Connect { .. })) => Exchange::failed(Outcome::Error(ErrorKind::Connect)),
            Ok(Err(client::SendError::Tls { reason, .. })) => Exchange::failed(Outcome::Error(ErrorKind::Tls(reason))),
            Ok(Err(client::SendError::Transport(_))) => Exchange::failed(Outcome::Error(ErrorKind::Transport)),
            Ok(Ok(Read::Ended(_, ReadEnd::TooLarge))) => Exchange::failed(Outcome::Error(ErrorKind::BodyTooLarge)),
            Ok(Ok(Read::Ended(status, ReadEnd::StreamOverflow))) => {
                let after_first_token = sse.as_ref().is_some_and(|(r, _)| r.first_token.is_some());
                let fault = crate::sse::StreamFault::Malformed;
                let outcome = match self.success.iter().any(|p| p.matches(status)) {
                    true => Outcome::Error(ErrorKind::Stream { fault, after_first_token }),
                    false => Outcome::Error(ErrorKind::Status(status)),
                };
                Exchange::failed(outcome)
            }
            Ok(Ok(Read::Whole { status, upstream, failed_over, body, json })) => {
                let ok = self.success.iter().any(|p| p.matches(status));
                let upstream = match &self.served_by {
                    Some(ServedBy::Json(pointer)) => json_pointer(&body, pointer),
                    _ => upstream,
                };
                let parsed = (ok && json).then(|| serde_json::from_slice::<WithUsage>(&body));
                let stream_fault =
                    sse.as_mut().filter(|_| ok).and_then(|(r, _)| r.finish().map(|f| (f, r.first_token.is_some())));
                let outcome = match (ok, &parsed, stream_fault) {
                    (false, _, _) => Outcome::Error(ErrorKind::Status(status)),
                    (true, Some(Err(_)), _) => Outcome::Error(ErrorKind::MalformedBody),
                    (true, _, Some((fault, after_first_token))) => {
                        Outcome::Error(ErrorKind::Stream { fault, after_first_token })
                    }
                    _ => Outcome::Ok,
                };
                let tokens = match (&parsed, &sse) {
                    (Some(Ok(w)), _) => w.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)),
                    (_, Some((r, _))) => r.usage,
                    _ => None,
                };
                Exchange {
                    outcome,
                    status: None,
                    captured: Vec::new(),
                    upstream,
                    gateway_failed_over: failed_over,
                    tokens,
                    over_budget: false,
                    stream: None,
                    phases: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
