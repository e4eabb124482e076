//! The body read timeout: a request body must be complete within a time of
//! its head. A handler reading a body that is late gets [`BodyReadTimeout`]
//! as the body's error (the webhook answers `408`); hyper then closes the
//! connection, whose body was not read to its end.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

/// A request body that did not arrive within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0} s")]
pub struct BodyReadTimeout(pub u64);

/// A request body that fails with [`BodyReadTimeout`] if it is still
/// incomplete at its deadline; the deadline counts from the request head.
pub struct DeadlineBody<B> {
    body: B,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<B> DeadlineBody<B> {
    pub fn new(body: B, timeout: Duration) -> DeadlineBody<B> {
        DeadlineBody {
            body,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> http_body::Body for DeadlineBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                Poll::Ready(Some(Err(BodyReadTimeout(self.timeout.as_secs()).into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    #[tokio::test(start_paused = true)]
    async fn a_body_still_incomplete_at_its_deadline_fails() {
        use http_body_util::BodyExt;
        let started = Instant::now();
        let error = DeadlineBody::new(Stalled, TIMEOUT)
            .collect()
            .await
            .unwrap_err();
        assert!(error.is::<BodyReadTimeout>(), "{error}");
        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_in_time_is_read_whole() {
        use http_body_util::{BodyExt, Full};
        let body = DeadlineBody::new(Full::new(Bytes::from_static(b"{}")), TIMEOUT);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
    }

    /// A body whose sender never sends another byte.
    struct Stalled;

    impl http_body::Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }
}
