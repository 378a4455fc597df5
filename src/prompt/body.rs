//! A request's body as a few shared pieces: a prefix of a megabyte, or a dataset's line, is referenced by every
//! request that sends it, on every tier and every attempt, instead of being copied into each body. Both client
//! paths send the pieces one after another (an HTTP body of several frames, its length known in advance).

use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The most pieces of one body: the envelope's head, a shared prefix, the request's own messages, the tail.
const PIECES: usize = 4;

/// A request body in pieces, sent in order.
#[derive(Debug, Clone, Default)]
pub struct RequestBody {
    pieces: [Bytes; PIECES],
    /// The next piece to send.
    next: usize,
}

impl RequestBody {
    /// A body of `pieces` (empty ones are skipped when sent).
    pub fn of(pieces: [Bytes; PIECES]) -> Self {
        RequestBody { pieces, next: 0 }
    }

    /// Its length in bytes (what is left to send).
    pub fn len(&self) -> usize {
        self.pieces[self.next..].iter().map(Bytes::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body in one piece: a copy, for tests and for whatever must see it whole.
    pub fn to_bytes(&self) -> Bytes {
        let mut whole = BytesMut::with_capacity(self.len());
        for piece in &self.pieces[self.next..] {
            whole.extend_from_slice(piece);
        }
        whole.freeze()
    }
}

impl From<Bytes> for RequestBody {
    fn from(whole: Bytes) -> Self {
        RequestBody::of([whole, Bytes::new(), Bytes::new(), Bytes::new()])
    }
}

impl PartialEq for RequestBody {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        while self.next < PIECES {
            let next = self.next;
            self.next += 1;
            let piece = std::mem::take(&mut self.pieces[next]);
            if !piece.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn its_pieces_are_sent_in_order_with_their_length_known() {
        let body = RequestBody::of([
            Bytes::from_static(b"{\"a\":["),
            Bytes::new(),
            Bytes::from_static(b"1,2"),
            Bytes::from_static(b"]}"),
        ]);
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(11));
        assert_eq!(body.to_bytes(), "{\"a\":[1,2]}");
        let collected = body.clone().collect().await.unwrap().to_bytes();
        assert_eq!(collected, "{\"a\":[1,2]}");
        assert_eq!(RequestBody::from(Bytes::from_static(b"x")).len(), 1);
    }
}
