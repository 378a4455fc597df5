//! The HTTP side of a provider: a small hyper server over [`Provider`], for in-process and standalone use.
//!
//! wiremock (see `wiremock_support`) sends each body whole and keeps a copy of every matched request,
//! so it cannot stream tokens or run for an hour at 50,000 RPM with flat memory. This server shares the same
//! fault logic, streams SSE token by token and keeps no per-request state after answering.

use crate::apis::{self, Api};
use crate::config::{ProviderConfig, StreamFaultKind};
use crate::generation::{Generation, ModelledAnswer, NEVER};
use crate::openai::{self, ChatRequest};
use crate::provider::{Control, Decision, Provider};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, Infallible>;

/// A provider listening on a loopback port. Dropping it stops the server.
pub struct RunningProvider {
    pub addr: SocketAddr,
    pub provider: Arc<Provider>,
    accept_loop: JoinHandle<()>,
}

impl RunningProvider {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The chat-completions endpoint.
    pub fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.base_url())
    }
}

impl Drop for RunningProvider {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("provider {name:?}: cannot listen on {addr}: {source}{hint}")]
    Bind { name: String, addr: SocketAddr, source: std::io::Error, hint: &'static str },
    #[error("provider {name:?}: field `tokenizer`: {message}")]
    Tokenizer { name: String, message: String },
}

/// Starts a provider on `127.0.0.1:<config.port>` (0: any free port). Outage windows count from `started`.
pub async fn start(config: ProviderConfig, started: Instant) -> Result<RunningProvider, ServeError> {
    Ok(bind(config).await?.serve(started))
}

/// A provider listening on its port, with its tokenizer loaded, whose clock has not started: connections wait
/// in the listener's backlog until [`BoundProvider::serve`]. A run binds its providers, does its slow set-up
/// (prompts, TLS roots), and only then starts the clock that its first request and the outage windows share.
pub struct BoundProvider {
    listener: TcpListener,
    pub addr: SocketAddr,
    config: ProviderConfig,
    tokens: Option<crate::tokens::TokenModel>,
}

/// Binds a provider to `127.0.0.1:<config.port>` (0: any free port) without serving yet.
pub async fn bind(config: ProviderConfig) -> Result<BoundProvider, ServeError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
    let name = config.name.clone();
    let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind {
        hint: if source.kind() == std::io::ErrorKind::AddrInUse { " (the port is in use; pick another)" } else { "" },
        name,
        addr,
        source,
    })?;
    let addr = listener.local_addr().expect("a bound listener has an address");
    let tokens = crate::tokens::TokenModel::of(&config)
        .map_err(|message| ServeError::Tokenizer { name: config.name.clone(), message })?;
    Ok(BoundProvider { listener, addr, config, tokens })
}

impl BoundProvider {
    pub fn name(&self) -> &str {
        &self.config.name
    }
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// The chat-completions endpoint.
    pub fn chat_url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    /// Serves from now on; outage windows and the rate limit's bucket count from `started`.
    pub fn serve(self, started: Instant) -> RunningProvider {
        let BoundProvider { listener, addr, config, tokens } = self;
        let queue = config.concurrency.map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1) as usize)));
        let provider = Arc::new(Provider::assemble(config, tokens, started));
        let accept_loop = tokio::spawn(accept(listener, provider.clone(), queue));
        RunningProvider { addr, provider, accept_loop }
    }
}

/// Waiting room of a provider with a `concurrency` limit: a fair (FIFO) semaphore.
type Queue = Option<Arc<tokio::sync::Semaphore>>;

async fn accept(listener: TcpListener, provider: Arc<Provider>, queue: Queue) {
    let ids = Arc::new(AtomicU64::new(1));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        let (provider, ids, queue) = (provider.clone(), ids.clone(), queue.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| handle(provider.clone(), ids.clone(), queue.clone(), req));
            // Errors here are connections closed by a client or reset on purpose: nothing to report.
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Returned by the service to make hyper drop the connection without an answer.
#[derive(Debug)]
struct ResetOnPurpose;
impl std::fmt::Display for ResetOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by mock-upstream fault")
    }
}
impl std::error::Error for ResetOnPurpose {}

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

fn respond(provider: &Provider, status: u16, content_type: &str, body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type)
        .header("x-upstream", provider.name())
        .body(body)
        .expect("static headers are valid")
}

fn json(provider: &Provider, status: u16, body: String) -> Response<Body> {
    respond(provider, status, "application/json", full(body))
}

async fn handle(
    provider: Arc<Provider>,
    ids: Arc<AtomicU64>,
    queue: Queue,
    req: Request<Incoming>,
) -> Result<Response<Body>, ResetOnPurpose> {
    let p = &*provider;
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let id = req.headers().get(crate::ledger::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(ResetOnPurpose),
    };
    Ok(match (method, path.as_str()) {
        (Method::POST, path) if Api::of_path(path).is_some() => {
            // Waits its turn before the provider even looks at it, as a saturated server's queue does.
            let modelled = ModelledAnswer::new(provider.clone(), Instant::now());
            let _turn = match &queue {
                Some(q) => Some(q.clone().acquire_owned().await.map_err(|_| ResetOnPurpose)?),
                None => None,
            };
            let api = Api::of_path(path).unwrap_or(Api::Chat);
            return generate(provider.clone(), ids, body, id, api, modelled).await;
        }
        (Method::GET, "/v1/models") => json(p, 200, openai::models(&p.config.models)),
        (Method::GET, "/healthz") => json(p, 200, r#"{"status":"ok"}"#.to_string()),
        (Method::GET, "/__stats") => json(p, 200, serde_json::to_string(&p.stats()).unwrap_or_default()),
        (Method::GET, crate::metrics::PATH) => {
            respond(p, 200, crate::metrics::CONTENT_TYPE, full(crate::metrics::exposition(&p.stats())))
        }
        (Method::POST, "/__control") => match serde_json::from_slice::<Control>(&body) {
            Ok(c) => match p.control(&c) {
                Ok(change) => {
                    eprintln!("mock-upstream: {change}");
                    json(p, 200, serde_json::json!({ "ok": true, "change": change }).to_string())
                }
                Err(e) => json(p, 400, openai::error_body(400, &e)),
            },
            Err(e) => json(p, 400, openai::error_body(400, &format!("bad control request: {e}"))),
        },
        _ => json(p, 404, openai::error_body(404, &format!("no route for {path}"))),
    })
}

/// Answers one request of `api` (chat, completions, embeddings or responses), whole or streamed; `modelled`
/// counts from when it began to wait its turn (the queue is part of the model's time).
async fn generate(
    provider: Arc<Provider>,
    ids: Arc<AtomicU64>,
    body: Bytes,
    request_id: Option<String>,
    api: Api,
    modelled: ModelledAnswer,
) -> Result<Response<Body>, ResetOnPurpose> {
    // Every wait of this answer is a deadline counted from here, so the timer's granularity is paid once, not
    // once a chunk.
    let began = Instant::now();
    if let Some(r) = &request_id {
        provider.ledger.began(r);
    }
    // Ends the id's generation when dropped: when the answer is complete, or when its client went away first.
    let mut generation =
        Generation { provider: provider.clone(), id: request_id, complete: false, tokens: 0, model: modelled };
    let request = ChatRequest::parse(&body);
    let model = request.model().to_string();
    let stream = request.stream && api.streams();
    let decision = provider.decide(began, &model, stream);
    let id = ids.fetch_add(1, Ordering::Relaxed);
    let shaped = provider.tokens.as_ref().map(|t| t.shape(&body, &request, provider.config.completion_tokens));
    let (prompt_tokens, mut completion_tokens, prefill, decode) = match shaped {
        Some(s) => (s.prompt_tokens, s.completion_tokens, s.prefill, s.decode_per_token),
        None => (
            openai::prompt_tokens(&body),
            request.completion_tokens(provider.config.completion_tokens),
            Duration::ZERO,
            Duration::ZERO,
        ),
    };
    if !api.generates() {
        completion_tokens = 0;
    }
    if !matches!(decision, Decision::Answer { .. }) {
        generation.complete();
    }
    match decision {
        Decision::Reset => {
            generation.model.ends_at(began);
            Err(ResetOnPurpose)
        }
        Decision::Hang => {
            generation.model.ends_at(began + NEVER);
            tokio::time::sleep(NEVER).await;
            Err(ResetOnPurpose)
        }
        Decision::Error { status, delay, retry_after } => {
            generation.model.ends_at(began + delay);
            tokio::time::sleep_until((began + delay).into()).await;
            provider.count_late(began + delay, Instant::now());
            let mut r = json(&provider, status, openai::error_body(status, "injected by mock-upstream"));
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", s.into());
            }
            Ok(r)
        }
        Decision::Answer { delay, malformed, stream_fault } => {
            provider.count_prompt(api, prompt_tokens);
            if stream {
                let tokens = Tokens { prompt: prompt_tokens, completion: completion_tokens, decode };
                let first_due = began + delay + prefill;
                let body = sse_body(generation, Answer { api, id, model }, first_due, tokens, stream_fault);
                let mut r = respond(&provider, 200, "text/event-stream", body);
                r.headers_mut().insert("cache-control", "no-cache".parse().expect("valid header"));
                return Ok(r);
            }
            let due = began + delay + prefill + decode.saturating_mul(completion_tokens);
            generation.model.ends_at(due);
            tokio::time::sleep_until(due.into()).await;
            provider.count_late(due, Instant::now());
            generation.produced(u64::from(completion_tokens));
            generation.complete();
            let text = match (malformed, api) {
                (true, _) => openai::MALFORMED_BODY.to_string(),
                (false, Api::Chat) => openai::completion(id, &model, prompt_tokens, completion_tokens),
                (false, Api::Completions) => apis::completion(id, &model, prompt_tokens, completion_tokens),
                (false, Api::Embeddings) => apis::embeddings(&body, &model, prompt_tokens),
                (false, Api::Responses) => apis::response_whole(id, &model, prompt_tokens, completion_tokens),
            };
            Ok(json(&provider, 200, text))
        }
    }
}

/// Which answer a stream carries: its API, id and model.
struct Answer {
    api: Api,
    id: u64,
    model: String,
}

impl Answer {
    /// The events before the first token (a response's opening events; none for the others).
    fn opening(&self) -> Option<String> {
        (self.api == Api::Responses).then(|| apis::response_opening(self.id, &self.model))
    }

    /// Chunk `index` (from 0), carrying `tokens` tokens.
    fn chunk(&self, index: u32, tokens: u32) -> String {
        match self.api {
            Api::Completions => apis::completion_chunk(self.id, &self.model, tokens),
            Api::Responses => apis::response_delta(self.id, index, tokens),
            Api::Chat | Api::Embeddings => openai::chunk_event(self.id, &self.model, index, tokens),
        }
    }

    /// The events after the last of `chunks` chunks, with the usage (a chat or completions stream's only when
    /// the provider sends usage).
    fn end(&self, chunks: u32, tokens: &Tokens, usage: bool) -> String {
        let (id, model) = (self.id, self.model.as_str());
        match self.api {
            Api::Completions => apis::completion_end(id, model, tokens.prompt, tokens.completion, usage),
            Api::Responses => apis::response_end(id, model, chunks, tokens.prompt, tokens.completion),
            Api::Chat | Api::Embeddings => openai::stream_end(id, model, tokens.prompt, tokens.completion, usage),
        }
    }
}

/// A streamed answer's token counts, and the decode time of each token after the first chunk.
struct Tokens {
    prompt: u32,
    completion: u32,
    decode: Duration,
}

/// An SSE body: headers go out at once, the first token at `first_due`, then one token per inter-token gap (plus
/// the decode time of a token-aware provider). Each chunk waits until its own deadline, the previous one's plus
/// its gap, never a relative sleep: a timer that wakes up to a millisecond late would otherwise add that
/// millisecond to every gap (5 ms came out as 6.1 ms). Each chunk's tokens are counted as it is made; dropping
/// the body (the client went away) ends the generation there.
fn sse_body(
    generation: Generation,
    answer: Answer,
    first_due: Instant,
    tokens: Tokens,
    fault: Option<StreamFaultKind>,
) -> Body {
    let (completion_tokens, decode) = (tokens.completion, tokens.decode);
    let opening = answer.opening().map(|text| Ok::<_, Infallible>(Frame::data(Bytes::from(text))));
    let (answer, tokens) = (Arc::new(answer), Arc::new(tokens));
    // The first chunk may carry several tokens; the others one each.
    let first = generation.provider.config.stream.first_chunk_tokens.clamp(1, completion_tokens.max(1));
    let chunks = completion_tokens - first + 1;
    let halfway = chunks / 2;
    let frames = futures_util::stream::unfold((0u32, first_due, generation), move |(index, due, mut generation)| {
        let provider = generation.provider.clone();
        let (answer, counts) = (answer.clone(), tokens.clone());
        async move {
            if index > chunks {
                return None;
            }
            let mut due = if index == 0 { due } else { due + provider.inter_token_gap() + decode };
            tokio::time::sleep_until(due.into()).await;
            let tokens = if index == 0 { first } else { 1 };
            let text = if index == chunks {
                generation.model.ends_at(due);
                provider.count_late(due, Instant::now());
                generation.complete();
                answer.end(chunks, &counts, provider.config.stream.usage)
            } else {
                // A truncated stream and an error event end the answer on the provider's side (complete, not a
                // client that went away); a malformed chunk carries no token.
                match fault {
                    Some(StreamFaultKind::Truncate) if index == halfway => {
                        generation.model.ends_at(due);
                        generation.complete();
                        return None;
                    }
                    Some(StreamFaultKind::Malformed) if index == halfway => openai::MALFORMED_CHUNK.to_string(),
                    Some(StreamFaultKind::Error) if index == halfway => {
                        generation.model.ends_at(due);
                        generation.complete();
                        return Some((
                            Ok(Frame::data(Bytes::from(openai::ERROR_EVENT))),
                            (chunks + 1, due, generation),
                        ));
                    }
                    Some(StreamFaultKind::Stall) if index == halfway => {
                        let stall = provider.config.stream_faults.as_ref().map(|f| f.stall.0).unwrap_or_default();
                        // The stall delays this chunk and every one after it, as a stalled server's would.
                        due += stall;
                        tokio::time::sleep_until(due.into()).await;
                        generation.produced(u64::from(tokens));
                        answer.chunk(index, tokens)
                    }
                    _ => {
                        generation.produced(u64::from(tokens));
                        answer.chunk(index, tokens)
                    }
                }
            };
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(text))), (index + 1, due, generation)))
        }
    });
    BodyExt::boxed(StreamBody::new(futures_util::StreamExt::chain(futures_util::stream::iter(opening), frames)))
}
