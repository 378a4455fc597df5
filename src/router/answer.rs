//! Reading one attempt's answer: its headers (served-by, a failover marker, captured headers), its body under the
//! size cap and the deadline (a stream event by event), and what the attempt came to.

use super::body::{self, json_pointer, BodyRead, Read, ReadEnd, WithUsage};
use super::served_by::{marks_failover, served_list, ServedList};
use super::{client, Asked, Exchange, Router, MAX_CAPTURED};
use crate::sample::{ErrorKind, Outcome};
use crate::scenario::{Api, ServedBy};
use crate::sse::SseReader;
use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Router {
    /// Reads an answer's body under the size cap and `deadline`: a stream event by event into `sse` (which
    /// outlives a deadline that cuts it short), anything else whole, kept only when it is parsed later.
    pub(super) async fn read(
        &self,
        response: &mut client::Answer,
        deadline: tokio::time::Instant,
        sse: &mut Option<(SseReader, Instant)>,
        asked: Asked<'_>,
        api: Api,
    ) -> Result<Read, client::SendError> {
        let answer = asked.answer;
        let status = response.status;
        let listed = match &self.served_by {
            Some(ServedBy::Header(h)) => response.headers().get(h).and_then(|v| v.to_str().ok()).map(served_list),
            _ => None,
        };
        let listed_failover = listed.as_ref().is_some_and(ServedList::failed_over);
        let ServedList { served: upstream, tried, .. } = listed.unwrap_or_default();
        let failed_over = self.failed_over_marker.as_ref().and_then(|h| response.headers().get(h));
        let failed_over = listed_failover || failed_over.is_some_and(|v| marks_failover(v.as_bytes()));
        let content_type = response.headers().get("content-type").map(|v| v.as_bytes().to_vec()).unwrap_or_default();
        let json = content_type.starts_with(b"application/json");
        if content_type.starts_with(b"text/event-stream") {
            let (reader, _) = sse.insert((SseReader::of(api), Instant::now()));
            reader.text = answer.then(String::new);
            let mut reading = BodyRead { max: self.max_body, read: 0, kept: None, deadline };
            while let Some(chunk) = response.chunk().await? {
                if let Some(end) = reading.account(&chunk) {
                    return Ok(Read::Ended(status, end));
                }
                reader.feed(&chunk, Instant::now());
                if reader.overflowed {
                    return Ok(Read::Ended(status, ReadEnd::StreamOverflow));
                }
                if asked.hang_up_after_tokens.is_some_and(|n| reader.token_events >= n) {
                    return Ok(Read::Ended(status, ReadEnd::HungUp));
                }
            }
            return Ok(Read::Whole { status, upstream, tried, failed_over, body: Bytes::new(), json: false });
        }
        // Read the whole body (a response counts only when it has fully arrived), but keep only what is
        // parsed later: a JSON body (usage, served-by field) of a success.
        let keep = json || answer || matches!(self.served_by, Some(ServedBy::Json(_)));
        let kept = keep.then(BytesMut::new);
        let mut reading = BodyRead { max: self.max_body, read: 0, kept, deadline };
        while let Some(chunk) = response.chunk().await? {
            if let Some(end) = reading.account(&chunk) {
                return Ok(Read::Ended(status, end));
            }
        }
        let body = reading.kept.map(BytesMut::freeze).unwrap_or_default();
        Ok(Read::Whole { status, upstream, tried, failed_over, body, json })
    }

    /// The values of `target.capture_headers` in an answer, each cut to [`MAX_CAPTURED`] bytes.
    pub(super) fn captured(&self, headers: &HeaderMap) -> Vec<Option<String>> {
        let value = |name: &HeaderName| {
            let v = headers.get(name)?.as_bytes();
            let cut = &v[..v.len().min(MAX_CAPTURED)];
            Some(String::from_utf8_lossy(cut).into_owned())
        };
        self.capture.iter().map(value).collect()
    }

    /// What one attempt's reading came to: its outcome, upstream and tokens (the stream's timing is added by
    /// the caller, which still holds it when the deadline cut the reading short).
    pub(super) fn exchange_of(
        &self,
        result: Result<Result<Read, client::SendError>, tokio::time::error::Elapsed>,
        over_budget: bool,
        sse: &mut Option<(SseReader, Instant)>,
        answer: bool,
        api: Api,
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
            Ok(Ok(Read::Ended(_, ReadEnd::HungUp))) => Exchange::failed(Outcome::Cancelled),
            Ok(Ok(Read::Ended(status, ReadEnd::StreamOverflow))) => {
                let after_first_token = sse.as_ref().is_some_and(|(r, _)| r.first_token.is_some());
                let fault = crate::sse::StreamFault::Malformed;
                let outcome = match self.success.iter().any(|p| p.matches(status)) {
                    true => Outcome::Error(ErrorKind::Stream { fault, after_first_token }),
                    false => Outcome::Error(ErrorKind::Status(status)),
                };
                Exchange::failed(outcome)
            }
            Ok(Ok(Read::Whole { status, upstream, tried, failed_over, body, json })) => {
                let ok = self.success.iter().any(|p| p.matches(status));
                let upstream = match &self.served_by {
                    Some(ServedBy::Json(pointer)) => json_pointer(&body, pointer),
                    _ => upstream,
                };
                let parsed = (ok && json).then(|| serde_json::from_slice::<WithUsage>(&body));
                // A usage without the keys its API reports is as malformed as one that is not JSON.
                let usage = match &parsed {
                    Some(Ok(WithUsage { usage: Some(u) })) => Some(u.tokens(api).ok_or(())),
                    _ => None,
                };
                let stream_fault =
                    sse.as_mut().filter(|_| ok).and_then(|(r, _)| r.finish().map(|f| (f, r.first_token.is_some())));
                let outcome = match (ok, &parsed, stream_fault) {
                    (false, _, _) => Outcome::Error(ErrorKind::Status(status)),
                    (true, Some(Err(_)), _) => Outcome::Error(ErrorKind::MalformedBody),
                    (true, _, _) if usage == Some(Err(())) => Outcome::Error(ErrorKind::MalformedBody),
                    (true, _, Some((fault, after_first_token))) => {
                        Outcome::Error(ErrorKind::Stream { fault, after_first_token })
                    }
                    _ => Outcome::Ok,
                };
                let tokens = match (&parsed, &sse) {
                    (Some(Ok(_)), _) => usage.and_then(Result::ok),
                    (_, Some((r, _))) => r.usage,
                    _ => None,
                };
                let answer = match sse.as_mut() {
                    _ if !answer || outcome != Outcome::Ok => None,
                    Some((r, _)) => r.text.take(),
                    None => body::answer_text(&body, api),
                };
                Exchange {
                    outcome,
                    status: None,
                    captured: Vec::new(),
                    upstream,
                    gateway_failed_over: failed_over,
                    gateway_tried: tried,
                    tokens,
                    over_budget: false,
                    stream: None,
                    phases: None,
                    answer,
                }
            }
        }
    }
}
