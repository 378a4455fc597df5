//! A small HTTP/1.1 proxy on 127.0.0.1 for tests: it forwards each request to an upstream, streams the answer
//! back as it comes, and records what passed (the request's headers and body, the answer's bytes). With
//! `keep_reading`, a client that hangs up mid-answer is not passed on: the proxy reads the upstream's answer to
//! its end, as a gateway that does not propagate cancellation does, and counts what it read after the client left.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// One request that passed through.
#[derive(Debug, Clone, Default)]
pub struct Passed {
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The answer's bytes, as read from the upstream (all of them with `keep_reading`).
    pub answer: Vec<u8>,
    /// The client went away before the answer ended.
    pub client_left: bool,
    /// Content events (`data:` lines with `"content"`) read from the upstream after the client left.
    pub events_after_client_left: u64,
    /// The upstream's answer was read to its end.
    pub finished: bool,
}

impl Passed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub passed: Arc<Mutex<Vec<Passed>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy to `upstream` (host:port) on a free loopback port.
    pub async fn start(upstream: SocketAddr, keep_reading: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().unwrap();
        let passed: Arc<Mutex<Vec<Passed>>> = Arc::default();
        let log = passed.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let log = log.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req| forward(req, upstream, keep_reading, log.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Proxy { addr, passed, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    pub fn passed(&self) -> Vec<Passed> {
        self.passed.lock().unwrap().clone()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn forward(
    req: Request<Incoming>,
    upstream: SocketAddr,
    keep_reading: bool,
    log: Arc<Mutex<Vec<Passed>>>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let slot = {
        let mut list = log.lock().unwrap();
        list.push(Passed { headers, body: body.clone(), ..Passed::default() });
        list.len() - 1
    };
    let failed = || Response::builder().status(502).body(Full::new(Bytes::new()).boxed()).unwrap();
    let Ok(stream) = TcpStream::connect(upstream).await else { return Ok(failed()) };
    let Ok((mut sender, connection)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
        return Ok(failed());
    };
    let driver = tokio::spawn(connection);
    let mut out = Request::builder().method(parts.method).uri(parts.uri.path());
    for (name, value) in &parts.headers {
        if name != "host" {
            out = out.header(name, value);
        }
    }
    let out = out.header("host", upstream.to_string()).body(Full::new(body)).unwrap();
    let Ok(answer) = sender.send_request(out).await else { return Ok(failed()) };
    let (parts, mut incoming) = answer.into_parts();
    // One frame at a time: the proxy learns of a client that left at the next frame hyper fails to write.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    tokio::spawn(async move {
        let mut client_gone = false;
        loop {
            let frame = match incoming.frame().await {
                Some(Ok(frame)) => frame,
                Some(Err(_)) => break,
                None => {
                    log.lock().unwrap()[slot].finished = true;
                    break;
                }
            };
            let Ok(data) = frame.into_data() else { continue };
            {
                let mut list = log.lock().unwrap();
                let p = &mut list[slot];
                p.answer.extend_from_slice(&data);
                if client_gone {
                    p.events_after_client_left += content_events(&data);
                }
            }
            if !client_gone && tx.send(Ok(Frame::data(data))).await.is_err() {
                client_gone = true;
                log.lock().unwrap()[slot].client_left = true;
                if !keep_reading {
                    break;
                }
            }
        }
        // Closes the upstream connection: a hang-up passed on (or the answer's end).
        driver.abort();
    });
    let mut response = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    Ok(response.body(BodyExt::boxed(StreamBody::new(stream))).unwrap())
}

/// SSE events carrying content in `data` (a piece may hold several).
fn content_events(data: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(data);
    text.lines().filter(|l| l.starts_with("data:") && l.contains("\"content\"")).count() as u64
}
