//! The fault models as a wiremock [`Respond`] implementation, for tests built on wiremock.
//!
//! Mount it with [`mount`] on your own `MockServer`. Two limits of wiremock apply: a stream is sent whole after
//! its time to first token (no gaps between tokens), and a connection cannot be reset from a responder, so the
//! `reset` outage mode answers 502 with `x-mock-fault: reset`. The standalone server ([`crate::server`]) has
//! neither limit.

use crate::openai::{self, ChatRequest};
use crate::provider::{Decision, Provider};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// Answers chat-completions requests as the provider's fault models decide.
pub struct ChatResponder {
    pub provider: Arc<Provider>,
    ids: AtomicU64,
}

impl ChatResponder {
    pub fn new(provider: Arc<Provider>) -> Self {
        ChatResponder { provider, ids: AtomicU64::new(1) }
    }
}

impl Respond for ChatResponder {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let p = &self.provider;
        let chat = ChatRequest::parse(&request.body);
        let model = chat.model().to_string();
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let prompt = openai::prompt_tokens(&request.body);
        let tokens = chat.completion_tokens(p.config.completion_tokens);
        let base = |status: u16| ResponseTemplate::new(status).insert_header("x-upstream", p.name());
        match p.decide(Instant::now(), &model, chat.stream) {
            Decision::Reset => base(502)
                .insert_header("x-mock-fault", "reset")
                .set_body_raw(openai::error_body(502, "reset (simulated)"), "application/json"),
            Decision::Hang => base(504).set_delay(Duration::from_secs(24 * 3600)),
            Decision::Error { status, delay, retry_after } => {
                let mut t = base(status)
                    .set_delay(delay)
                    .set_body_raw(openai::error_body(status, "injected by mock-upstream"), "application/json");
                if let Some(s) = retry_after {
                    t = t.insert_header("retry-after", s.to_string().as_str());
                }
                t
            }
            Decision::Answer { delay, malformed, .. } if chat.stream => {
                let _ = malformed;
                let mut body = String::new();
                for i in 0..tokens {
                    body.push_str(&openai::chunk_event(id, &model, i, 1));
                }
                body.push_str(&openai::stream_end(id, &model, prompt, tokens, p.config.stream.usage));
                base(200).set_delay(delay).set_body_raw(body, "text/event-stream")
            }
            Decision::Answer { delay, malformed, .. } => {
                let body = if malformed {
                    openai::MALFORMED_BODY.to_string()
                } else {
                    openai::completion(id, &model, prompt, tokens)
                };
                base(200).set_delay(delay).set_body_raw(body, "application/json")
            }
        }
    }
}

/// Mounts a provider's endpoints (`/v1/chat/completions`, `/v1/models`, `/healthz`) on a wiremock server.
pub async fn mount(server: &MockServer, provider: Arc<Provider>) {
    let models = openai::models(&provider.config.models);
    let name = provider.name().to_string();
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ChatResponder::new(provider))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-upstream", name.as_str())
                .set_body_raw(models, "application/json"),
        )
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/healthz"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-upstream", name.as_str())
                .set_body_raw(r#"{"status":"ok"}"#, "application/json"),
        )
        .mount(server)
        .await;
}
