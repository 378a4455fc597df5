//! Routing one logical request: its class, the tiers it may try, retries with backoff and failover.
//!
//! Without `[[tiers]]` a scenario has one implicit tier (its `target`) and one class (its `body`), so the
//! single-target case is the same code with a chain of one. Each attempt is recorded with its tier, outcome,
//! own latency and the reason the next one was made; the logical request ends as one outcome.

mod answer;
mod body;
mod build;
pub mod client;
mod connect;
mod hedge;
mod http2;
pub mod reach;
mod served_by;
pub mod tls;

use crate::prompt::RequestBody;
use crate::sample::{Attempt, ErrorKind, Outcome, Sample, StreamTiming};
use crate::scenario::{ServedBy, StatusPattern};
use crate::sse::SseReader;
pub use build::{build_router, BuildError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
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
    /// The OpenAI API it speaks: how its answers' usage, text and stream are read.
    pub api: crate::scenario::Api,
    /// US dollars per million input and output tokens.
    pub price_input: f64,
    pub price_output: f64,
}

/// One endpoint of a tier.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: Url,
    /// The lean path to it, for an `http://` or `https://` URL (see [`client`]).
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
        Outcome::Timeout | Outcome::NotSent | Outcome::Cancelled => false,
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
    /// Sessions of several turns, when the class is conversational.
    pub conversation: Option<Conversation>,
    /// Clients that hang up on a share of its requests.
    pub cancel: Option<Cancel>,
}

/// A share of a class's requests whose client hangs up: after a time from the send, or after some tokens.
#[derive(Debug, Clone)]
pub struct Cancel {
    pub share: f64,
    pub after: Option<Duration>,
    pub after_tokens: Option<u64>,
}

/// How a conversational class's sessions go on between turns.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// From the end of an answer to the next turn's send.
    pub think_time: crate::scenario::conversation::ThinkTime,
    /// The run's seed, from which a drawn think time is drawn.
    pub seed: u64,
    /// The header that carries the session's id (none: not sent).
    pub session_header: Option<HeaderName>,
}

impl Conversation {
    /// The think time before turn `turn` (from 1) of session `session`: the same for the same seed, session and
    /// turn, whatever else the run did, and at most [`crate::scenario::conversation::MAX_THINK_TIME`].
    pub fn think_time(&self, session: u64, turn: u32) -> Duration {
        self.think_time.draw(self.seed, session, turn)
    }
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
    /// How a conversational run numbers its requests (each turn when it is due): (first, step), and the next.
    pub turn_numbers: (u64, u64),
    pub turns_numbered: AtomicU64,
}

/// The most bytes of one captured header value kept: enough for any call id, bounded whatever an upstream sends.
pub const MAX_CAPTURED: usize = 256;

/// The id of logical request `index` of run `run_id`: its request-id header and idempotency key, and the
/// `request_id` column of requests.parquet, so a request in the file can be found in the gateway's logs.
pub fn request_id(run_id: u64, index: u64) -> String {
    // Made by hand rather than by `format!`: it is made for every request, and the formatting machinery
    // cost about 400 instructions of it (callgrind).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut number = itoa::Buffer::new();
    let number = number.format(index);
    let mut id = String::with_capacity(26 + number.len());
    id.push_str("slacheck-");
    id.extend((0..16).rev().map(|digit| HEX[(run_id >> (digit * 4) & 0xf) as usize] as char));
    id.push('-');
    id.push_str(number);
    id
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
    /// The upstreams a served-by list names before the one that served.
    gateway_tried: Vec<String>,
    tokens: Option<(u64, u64)>,
    over_budget: bool,
    stream: Option<StreamTiming>,
    phases: Option<crate::sample::Phases>,
    /// The answer's text, when asked for (a conversation's turn).
    answer: Option<String>,
}

impl Exchange {
    fn failed(outcome: Outcome) -> Self {
        Exchange {
            outcome,
            status: None,
            captured: Vec::new(),
            upstream: None,
            gateway_failed_over: false,
            gateway_tried: Vec::new(),
            tokens: None,
            over_budget: false,
            stream: None,
            phases: None,
            answer: None,
        }
    }
}

/// What goes with each attempt of one logical request besides its body: its id (request id and idempotency
/// key), a conversation's session id, and whether the answer's text is kept.
#[derive(Clone, Copy, Default)]
struct Asked<'a> {
    key: Option<&'a HeaderValue>,
    session: Option<&'a (HeaderName, HeaderValue)>,
    answer: bool,
    /// When its client hangs up, if it does: at this moment, or after this many tokens of a stream.
    hang_up_at: Option<Instant>,
    hang_up_after_tokens: Option<u64>,
}

/// One turn of a conversation, as the session that sends it knows it.
pub struct Turn<'a> {
    /// The request number it is counted under.
    pub index: u64,
    pub class: usize,
    pub prompt: &'a crate::prompt::Prepared,
    /// The session header and its value, when the class sends one.
    pub session: Option<&'a (HeaderName, HeaderValue)>,
}

impl Router {
    /// The class of request number `index`: a weighted draw that depends only on the seed and the index.
    pub fn class_of(&self, index: u64) -> usize {
        weighted_index(self.classes.iter().map(|c| c.weight), unit(mix(self.seed ^ mix(index))))
    }

    /// Whether the schedule's arrivals are sessions (some class is conversational) rather than requests.
    pub fn conversational(&self) -> bool {
        self.classes.iter().any(|c| c.conversation.is_some())
    }

    /// The number of the next request of a conversational run: turns are numbered as they fall due, so that the
    /// numbers are dense and in about intended order (a shard's stride kept).
    pub fn next_turn_number(&self) -> u64 {
        let (first, step) = self.turn_numbers;
        first + step * self.turns_numbered.fetch_add(1, Ordering::Relaxed)
    }

    /// The session header of class `class` with session `session`'s id, when the class sends one.
    pub fn session_header(&self, class: usize, session: u64) -> Option<(HeaderName, HeaderValue)> {
        let name = self.classes[class].conversation.as_ref()?.session_header.clone()?;
        let value = HeaderValue::from_str(&format!("slacheck-{:016x}-s{session}", self.run_id)).ok()?;
        Some((name, value))
    }

    /// Sends logical request `index`, due at `intended`, through its class's tiers.
    pub async fn route(&self, index: u64, intended: Duration, start: Instant, cancel: &CancellationToken) -> Sample {
        let class = self.class_of(index);
        let prompt =
            self.classes[class].prompts.prepare(index, self.shapes.as_ref().and_then(|s| s.get(index as usize)));
        let turn = Turn { index, class, prompt: &prompt, session: None };
        self.send(turn, false, intended, start, cancel).await.0
    }

    /// Sends one turn of a conversation, due at `intended`; returns its sample and the answer's text (when one
    /// came).
    pub async fn route_turn(
        &self,
        turn: Turn<'_>,
        intended: Duration,
        start: Instant,
        cancel: &CancellationToken,
    ) -> (Sample, Option<String>) {
        self.send(turn, true, intended, start, cancel).await
    }

    /// One logical request through its class's tiers: attempts, retries, hedging and failover.
    async fn send(
        &self,
        request: Turn<'_>,
        answer: bool,
        intended: Duration,
        start: Instant,
        cancel: &CancellationToken,
    ) -> (Sample, Option<String>) {
        let sent = start.elapsed();
        let Turn { index, class: class_index, prompt, session } = request;
        let class = &self.classes[class_index];
        // Held until the request ends: a body that would pass the memory cap is not sent (the generator's
        // limit), so a silent target cannot make requests in flight hold more than the scenario allows.
        let Some(_held) = self.memory.reserve(prompt.own_bytes()) else {
            self.not_sent_memory.fetch_add(1, Ordering::Relaxed);
            let done = start.elapsed();
            return (Sample { request: index, class: class_index as u16, ..Sample::not_sent(intended, done) }, None);
        };
        let key = self.request_key(index);
        // Whether this request's client hangs up: a draw from the seed and its number alone.
        let hang_up = class.cancel.as_ref().filter(|c| unit(mix(self.seed ^ 0xCA4C_E1ED ^ mix(index))) < c.share);
        let asked = Asked {
            key: key.as_ref(),
            session,
            answer,
            hang_up_at: hang_up.and_then(|c| c.after).map(|after| start + sent + after),
            hang_up_after_tokens: hang_up.and_then(|c| c.after_tokens),
        };
        let (mut attempts, mut last) = (Vec::new(), Exchange::failed(Outcome::Timeout));
        let mut tiers = if self.policy.failover { &class.order[..] } else { &class.order[..1] };
        self.logical_requests.fetch_add(1, Ordering::Relaxed);
        let (mut hedge, mut hedged_away) = (None, None);
        if let (Some(after), [first, second, rest @ ..]) = (self.policy.hedge_after, tiers) {
            let bodies = [first, second].map(|t| class.prompts.body(prompt, *t));
            let (e, hedged, lost) =
                Box::pin(self.race([*first, *second], index, bodies, after, asked, start, cancel, &mut attempts)).await;
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
                let body = class.prompts.body(prompt, tier);
                // Pinned in place, as in `attempt`: the select's tuple would take a copy of its kilobytes.
                let attempt = std::pin::pin!(self.attempt(&self.tiers[tier], index, body, asked, start));
                last = tokio::select! {
                    e = attempt => e,
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
        let answer = last.answer.take().filter(|_| last.outcome == Outcome::Ok);
        let sample = Sample {
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
            gateway_tried: std::mem::take(&mut last.gateway_tried),
            status: last.status,
            captured: last.captured,
            tokens: last.tokens,
            input_tokens: prompt.input_tokens(),
            attempts,
            stream: last.stream,
            hedge,
            hedged_away,
            session: None,
        };
        (sample, answer)
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
        // Shared bytes, so that each attempt's copy of the header allocates nothing.
        sent.then(|| HeaderValue::from_maybe_shared(bytes::Bytes::from(request_id(self.run_id, index))).ok()).flatten()
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

    /// Whether an attempt's result calls for another attempt (a retry or the next tier).
    fn triggers(&self, e: &Exchange) -> bool {
        match &e.outcome {
            Outcome::Ok | Outcome::NotSent | Outcome::Cancelled => false,
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

    /// One attempt; `asked.key` is the logical request's id, sent as its idempotency key and request id.
    async fn attempt(&self, tier: &Tier, index: u64, body: RequestBody, asked: Asked<'_>, start: Instant) -> Exchange {
        let endpoint = tier.endpoint(index);
        // Room for the headers added below and by the client (host, user agent, content length): a clone would
        // have none and grow as each one comes.
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 6);
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        for name in [&self.policy.idempotency_header, &self.request_id_header].into_iter().flatten() {
            if let Some(key) = asked.key {
                headers.insert(name, key.clone());
            }
        }
        if let Some((name, value)) = asked.session {
            headers.insert(name, value.clone());
        }
        let (limit, over_budget) = match self.policy.latency_budget {
            Some(b) if b < tier.timeout => (b, true),
            _ => (tier.timeout, false),
        };
        let deadline = tokio::time::Instant::now() + limit;
        // A client that hangs up before the deadline ends the attempt then: cancelled, not timed out.
        let hang_up = asked.hang_up_at.map(tokio::time::Instant::from_std).filter(|h| *h < deadline);
        let deadline = hang_up.unwrap_or(deadline);
        // Lives outside the timed future, so that a stream cut short by a timeout still tells its first token.
        let mut sse: Option<(SseReader, Instant)> = None;
        let mut head: Option<(u16, Vec<Option<String>>)> = None;
        let mut phases = None;
        // Pinned where it is built: moved into the timeout, its kilobytes were copied on every request.
        let result = {
            let exchange = std::pin::pin!(async {
                // Held to the end of the answer, whatever ends it; a wait counts against the attempt's deadline.
                let waiting = Instant::now();
                let slot = match &endpoint.slots {
                    Some(slots) => {
                        Some(slots.acquire().await.map_err(|_| client::SendError::Transport("closed".into()))?)
                    }
                    None => None,
                };
                let wait = slot.as_ref().map(|_| waiting.elapsed());
                let sending = Instant::now();
                let mut response =
                    client::send(&self.client, &self.method, &endpoint.url, endpoint.lean.as_ref(), headers, body)
                        .await?;
                let (connect, tls) = response.opened.map_or((None, None), |o| (Some(o.connect), o.tls));
                phases = Some(crate::sample::Phases { wait, connect, tls, headers: sending.elapsed() });
                head = Some((response.status, self.captured(response.headers())));
                self.read(&mut response, deadline, &mut sse, asked, tier.api).await
            });
            tokio::time::timeout_at(deadline, exchange).await
        };
        let at = |i: Instant| i.saturating_duration_since(start);
        let stream = sse.as_ref().map(|(r, headers)| StreamTiming {
            headers: at(*headers),
            first_token: r.first_token.map(at),
            last_token: r.last_token.map(at),
            tokens: r.tokens(),
            tokens_after_first: r.tokens_after_first(),
            largest_gap: r.largest_gap,
        });
        let mut e = self.exchange_of(result, over_budget, &mut sse, asked.answer, tier.api);
        if hang_up.is_some() && e.outcome == Outcome::Timeout {
            e = Exchange::failed(Outcome::Cancelled);
        }
        e.stream = stream;
        e.phases = phases;
        (e.status, e.captured) = head.map_or((None, Vec::new()), |(status, captured)| (Some(status), captured));
        e
    }
}

#[cfg(test)]
mod tests;
