//! A pod's identity: a random (version 4) UUID, written lowercase and
//! hyphenated, as in rkt. Typed once, where a name enters the library, so
//! nothing downstream handles a bare string.

use std::fmt;
use std::str::FromStr;

/// A pod's UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodUuid(uuid::Uuid);

impl PodUuid {
    /// A fresh, random UUID for a new pod.
    pub fn new_random() -> PodUuid {
        PodUuid(uuid::Uuid::new_v4())
    }

    /// Whether the written form starts with `prefix` (`rukt status 0f1e`).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        !prefix.is_empty() && self.to_string().starts_with(prefix)
    }
}

impl fmt::Display for PodUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

/// A string that is not a pod UUID in its written form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a pod UUID")]
pub struct NotAUuid(pub String);

impl FromStr for PodUuid {
    type Err = NotAUuid;

    /// Only the lowercase hyphenated form names a pod directory.
    fn from_str(s: &str) -> Result<PodUuid, NotAUuid> {
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.as_hyphenated().to_string() == s => Ok(PodUuid(u)),
            _ => Err(NotAUuid(s.to_string())),
        }
    }
}

impl serde::Serialize for PodUuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_form_round_trips() {
        let u = PodUuid::new_random();
        assert_eq!(u.to_string().parse::<PodUuid>().unwrap(), u);
        assert!(u.has_prefix(&u.to_string()[..4]));
        assert!(!u.has_prefix(""));
    }

    #[test]
    fn only_the_directory_form_is_a_pod_uuid() {
        assert!(
            "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
                .parse::<PodUuid>()
                .is_ok()
        );
        assert!(
            "0F1E2D3C-4B5A-4978-8A9B-0C1D2E3F4A5B"
                .parse::<PodUuid>()
                .is_err()
        );
        assert!(
            "0f1e2d3c4b5a49788a9b0c1d2e3f4a5b"
                .parse::<PodUuid>()
                .is_err()
        );
        assert!("../etc".parse::<PodUuid>().is_err());
    }
}
