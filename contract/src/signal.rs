//! Signals by name, as the manifest carries an app's stop signal
//! ([`crate::App::stop_signal`]): the canonical spelling is `SIGQUIT`, and
//! [`parse`] takes what images (`StopSignal`), podman (`--stop-signal`) and
//! CRI write: `SIGQUIT`, `QUIT`, `quit`, `3`, `SIGRTMIN+3`. Numbers are
//! Linux's, with glibc's real-time range (`SIGRTMIN` = 34, `SIGRTMAX` = 64)
//! as docker, podman and `kill -l` number it.

/// Linux's standard signals, numbers 1 to 31, in order.
const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];
/// glibc's first real-time signal (the kernel's 32 and 33 are its own).
pub const SIGRTMIN: i32 = 34;
/// The last real-time signal.
pub const SIGRTMAX: i32 = 64;

/// A signal that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal {0:?} (a name such as SIGQUIT or QUIT, or a number from 1 to 64)")]
pub struct SignalError(pub String);

/// The signal `text` names, as its canonical name (`SIGQUIT`,
/// `SIGRTMIN+3`).
pub fn parse(text: &str) -> Result<String, SignalError> {
    let bad = || SignalError(text.to_string());
    let number = match text.trim().parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let upper = text.trim().to_ascii_uppercase();
            number(upper.strip_prefix("SIG").unwrap_or(&upper)).ok_or_else(bad)?
        }
    };
    name(number).ok_or_else(bad)
}

/// The number of the signal called `name` (with or without `SIG`,
/// upper case), if Linux has it.
pub fn number(name: &str) -> Option<i32> {
    let name = match name.strip_prefix("SIG").unwrap_or(name) {
        // Other names of three of them.
        "CLD" => "CHLD",
        "IOT" => "ABRT",
        "POLL" => "IO",
        name => name,
    };
    if let Some(i) = NAMES.iter().position(|n| *n == name) {
        return Some(i as i32 + 1);
    }
    let offset = |s: &str| -> Option<i32> {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse().ok()
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        SIGRTMIN
            + rest
                .strip_prefix('+')
                .map_or_else(|| offset(rest), offset)?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        SIGRTMAX
            - rest
                .strip_prefix('-')
                .map_or_else(|| offset(rest), offset)?
    } else {
        return None;
    };
    (SIGRTMIN..=SIGRTMAX).contains(&n).then_some(n)
}

/// The canonical name of signal `number`.
pub fn name(number: i32) -> Option<String> {
    match number {
        1..=31 => Some(format!("SIG{}", NAMES[number as usize - 1])),
        SIGRTMIN => Some("SIGRTMIN".into()),
        n if (SIGRTMIN..=SIGRTMAX).contains(&n) => Some(format!("SIGRTMIN+{}", n - SIGRTMIN)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_gives_the_canonical_name() {
        for text in ["SIGQUIT", "QUIT", "quit", "SigQuit", "3", " 3 "] {
            assert_eq!(parse(text).unwrap(), "SIGQUIT", "{text}");
        }
        assert_eq!(parse("SIGRTMIN+3").unwrap(), "SIGRTMIN+3");
        assert_eq!(parse("RTMAX-2").unwrap(), "SIGRTMIN+28");
        assert_eq!(parse("SIGRTMIN").unwrap(), "SIGRTMIN");
        assert_eq!(parse("37").unwrap(), "SIGRTMIN+3");
        assert_eq!(parse("9").unwrap(), "SIGKILL");
    }

    #[test]
    fn names_and_numbers_agree_with_linux() {
        assert_eq!(number("SIGTERM"), Some(15));
        assert_eq!(number("SIGWINCH"), Some(28));
        assert_eq!(number("SIGSYS"), Some(31));
        assert_eq!(number("SIGRTMIN+3"), Some(37));
        assert_eq!(number("SIGRTMAX"), Some(64));
        assert_eq!(number("SIGCLD"), number("SIGCHLD"));
        assert_eq!(number("IOT"), Some(6));
        for n in 1..=64 {
            if let Some(name) = name(n) {
                assert_eq!(number(&name), Some(n), "{name}");
            } else {
                assert!((32..34).contains(&n), "{n}");
            }
        }
    }

    #[test]
    fn what_is_no_signal_is_refused() {
        for text in [
            "", "0", "65", "-1", "SIGNOPE", "RTMIN+31", "RTMAX-31", "RTMIN+x", "33",
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().starts_with("unknown signal"), "{text}: {e}");
        }
    }
}
