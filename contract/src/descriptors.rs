//! Version 2: descriptors and sockets stage0 hands through to the stage1
//! for systemd: socket activation (`LISTEN_FDS`, `LISTEN_FDNAMES`,
//! `LISTEN_PID`, descriptors from [`LISTEN_FDS_START`]) and readiness
//! notification (`NOTIFY_SOCKET`). stage0 keeps descriptors
//! `3..3+count` open across its exec of `run` (the stage1 has stage0's
//! PID, so `LISTEN_PID` stays true), puts the lock descriptor above them and
//! closes every other one. A stage1 that does not enforce
//! [`crate::Feature::ListenFds`] or [`crate::Feature::NotifySocket`] gets
//! neither.

/// Number of passed descriptors (sd_listen_fds(3)).
pub const ENV_LISTEN_FDS: &str = "LISTEN_FDS";
/// Their names, `:`-separated.
pub const ENV_LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
/// The PID the descriptors are meant for.
pub const ENV_LISTEN_PID: &str = "LISTEN_PID";
/// The service manager's notification socket (sd_notify(3)).
pub const ENV_NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// The first passed descriptor.
pub const LISTEN_FDS_START: i32 = 3;

/// Descriptors passed by socket activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenFds {
    /// How many, from [`LISTEN_FDS_START`].
    pub count: u32,
    /// One name per descriptor (`unknown` where none was given).
    pub names: Vec<String>,
}

impl ListenFds {
    /// The descriptors the variables describe, with sd_listen_fds(3)
    /// semantics: only when `LISTEN_PID` is `my_pid` and `LISTEN_FDS` is a
    /// positive number; names are split on `:`, padded with `unknown` and
    /// cut to the count.
    pub fn from_env_vars(
        listen_pid: Option<&str>,
        listen_fds: Option<&str>,
        names: Option<&str>,
        my_pid: u32,
    ) -> Option<ListenFds> {
        if listen_pid?.trim().parse::<u32>().ok()? != my_pid {
            return None;
        }
        let count: u32 = listen_fds?.trim().parse().ok().filter(|n| *n > 0)?;
        let mut names: Vec<String> = names
            .filter(|n| !n.is_empty())
            .map(|n| n.split(':').map(str::to_string).collect())
            .unwrap_or_default();
        names.resize(count as usize, "unknown".to_string());
        Some(ListenFds { count, names })
    }

    /// [`ListenFds::from_env_vars`] on this process's environment and PID.
    pub fn from_env() -> Option<ListenFds> {
        let var = |name| std::env::var(name).ok();
        let (pid, fds, names) = (
            var(ENV_LISTEN_PID),
            var(ENV_LISTEN_FDS),
            var(ENV_LISTEN_FDNAMES),
        );
        ListenFds::from_env_vars(
            pid.as_deref(),
            fds.as_deref(),
            names.as_deref(),
            std::process::id(),
        )
    }

    /// The descriptor numbers.
    pub fn fds(&self) -> std::ops::Range<i32> {
        LISTEN_FDS_START..LISTEN_FDS_START + self.count as i32
    }

    /// `LISTEN_FDNAMES`'s value for these descriptors.
    pub fn names_value(&self) -> String {
        self.names.join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_for_this_pid() {
        let got = ListenFds::from_env_vars(Some("42"), Some("2"), Some("http:admin"), 42);
        assert_eq!(
            got,
            Some(ListenFds {
                count: 2,
                names: vec!["http".into(), "admin".into()],
            })
        );
        assert_eq!(got.unwrap().fds(), 3..5);
        assert_eq!(
            ListenFds::from_env_vars(Some("41"), Some("2"), None, 42),
            None
        );
        assert_eq!(ListenFds::from_env_vars(None, Some("2"), None, 42), None);
        assert_eq!(
            ListenFds::from_env_vars(Some("42"), Some("0"), None, 42),
            None
        );
        assert_eq!(
            ListenFds::from_env_vars(Some("42"), Some("x"), None, 42),
            None
        );
    }

    #[test]
    fn names_are_padded_and_cut() {
        let got = ListenFds::from_env_vars(Some("7"), Some("3"), Some("a"), 7).unwrap();
        assert_eq!(got.names, ["a", "unknown", "unknown"]);
        assert_eq!(got.names_value(), "a:unknown:unknown");
        let got = ListenFds::from_env_vars(Some("7"), Some("1"), Some("a:b"), 7).unwrap();
        assert_eq!(got.names, ["a"]);
        let got = ListenFds::from_env_vars(Some("7"), Some("1"), None, 7).unwrap();
        assert_eq!(got.names, ["unknown"]);
    }
}
