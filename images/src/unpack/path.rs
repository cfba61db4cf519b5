//! Normalising tar entry paths: every entry must name a place inside the
//! layer root, and nothing in a layer may climb out of it.

/// Why an entry path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// A `..` component.
    DotDot,
    /// Starts with `/`.
    Absolute,
    /// A NUL byte or an over-long component.
    Malformed,
}

impl PathProblem {
    /// Human-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            PathProblem::DotDot => "path contains '..'",
            PathProblem::Absolute => "absolute path",
            PathProblem::Malformed => "malformed path",
        }
    }
}

/// Splits an entry path into its components, dropping `.` and empty
/// ones. An empty result is the layer root itself.
pub fn components(raw: &[u8]) -> Result<Vec<&[u8]>, PathProblem> {
    if raw.starts_with(b"/") {
        return Err(PathProblem::Absolute);
    }
    if raw.contains(&0) {
        return Err(PathProblem::Malformed);
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err(PathProblem::DotDot),
            c if c.len() > 255 => return Err(PathProblem::Malformed),
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(
            components(b"./usr//bin/").unwrap(),
            vec![&b"usr"[..], b"bin"]
        );
        assert!(components(b"./").unwrap().is_empty());
        assert_eq!(components(b"a/../../etc"), Err(PathProblem::DotDot));
        assert_eq!(components(b"/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(components(b"a\0b"), Err(PathProblem::Malformed));
    }
}
