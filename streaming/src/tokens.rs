//! One-time tokens: each registered session gets a random token that is
//! good for one connection within its lifetime (a minute by default, as in
//! kubelet's streaming server), and the number waiting is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::request::{RegisterError, Request};

/// The waiting sessions.
pub(crate) struct Tokens {
    map: Mutex<HashMap<String, (Request, Instant)>>,
    ttl: Duration,
    max: usize,
}

impl Tokens {
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Tokens {
            map: Mutex::new(HashMap::new()),
            ttl,
            max,
        }
    }

    /// Stores `request` under a new random token (122 random bits).
    pub(crate) fn insert(&self, request: Request) -> Result<String, RegisterError> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, expires)| *expires > now);
        if map.len() >= self.max {
            return Err(RegisterError::TooMany);
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        map.insert(token.clone(), (request, now + self.ttl));
        Ok(token)
    }

    /// Takes the session of `token` if it is still valid; a token is
    /// consumed by its first use whatever happens next.
    pub(crate) fn take(&self, token: &str) -> Option<Request> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (request, expires) = map.remove(token)?;
        (expires > Instant::now()).then_some(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Request {
        Request::PortForward {
            sandbox_id: "s".into(),
            ports: vec![],
        }
    }

    #[test]
    fn tokens_are_single_use_and_expire() {
        let tokens = Tokens::new(Duration::from_millis(50), 2);
        let a = tokens.insert(pf()).unwrap();
        let b = tokens.insert(pf()).unwrap();
        assert_ne!(a, b);
        assert_eq!(tokens.insert(pf()), Err(RegisterError::TooMany));
        assert_eq!(tokens.take(&a), Some(pf()));
        assert_eq!(tokens.take(&a), None, "a token is good once");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(tokens.take(&b), None, "an expired token is refused");
        assert!(
            tokens.insert(pf()).is_ok(),
            "expired tokens free their place"
        );
    }
}
