//! Library errors as gRPC statuses: each cause said once, in the message;
//! the code says what a CRI client does with it (kubelet retries
//! `UNAVAILABLE`, treats `NOT_FOUND` as gone, reports `INVALID_ARGUMENT`).

use std::error::Error;

use tonic::Status;

/// `err` and its causes, joined as `rukt` prints them.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// An internal failure.
pub fn internal(err: &(dyn Error + 'static)) -> Status {
    Status::internal(chain(err))
}

/// A request rukt cannot honour, naming what.
pub fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg.into())
}

/// An unknown id.
pub fn not_found(what: &str, id: &str) -> Status {
    Status::not_found(format!("{what} {id:?} not found"))
}

/// A pod library error: an unknown or ambiguous pod is the caller's
/// mistake, the rest is ours.
pub fn pod(err: &rukt_pods::PodError) -> Status {
    match err {
        rukt_pods::PodError::Unknown(id) => not_found("sandbox", id),
        rukt_pods::PodError::Ambiguous { .. } => Status::invalid_argument(chain(err)),
        _ => internal(err),
    }
}

/// Runs blocking work (the libraries are synchronous) off the runtime's
/// threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_said_once_and_unknown_pods_are_not_found() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(chain(&e), "outer: inner");
        let s = pod(&rukt_pods::PodError::Unknown("abc".into()));
        assert_eq!(s.code(), tonic::Code::NotFound);
        assert!(s.message().contains("abc"));
    }
}
