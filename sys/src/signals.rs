//! Signal dispositions for an app's start. A signal ignored by a process
//! stays ignored across `exec`, so whatever ignored one anywhere up the chain
//! (the Rust runtime ignores SIGPIPE; a shell starts a background job with
//! SIGINT and SIGQUIT ignored; `nohup` ignores SIGHUP) would hand that on to
//! the app, which then cannot even trap it: `--stop-signal=SIGQUIT` would
//! find an app deaf to it. An app starts as a service manager starts its
//! services (systemd's, under which rkt ran its apps): every signal at its
//! default.

/// Sets every signal but SIGKILL and SIGSTOP to its default action,
/// through the system call itself: the C library refuses to touch the two it
/// keeps for its threads (32 and 33), which a process can still have
/// ignored and a non-glibc app may use. Only makes that system call, so it
/// is safe between `fork` and `exec`.
pub fn reset_dispositions() {
    // An all-zero kernel `struct sigaction`: SIG_DFL, no flags, no restorer,
    // an empty mask (larger than the kernel's on every 64-signal platform).
    let action = [0u64; 8];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads `action` (zeroed, large enough) and
        // writes nothing (no old action asked for); 8 is the kernel's
        // signal set size for its 64 signals.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `sig`'s disposition is SIG_IGN (1), asked of the kernel
    /// (the C library answers nothing for its own signals).
    fn ignored(sig: i32) -> bool {
        let mut old = [0u64; 8];
        // SAFETY: rt_sigaction only writes the current action into `old`
        // (large enough), its handler first.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                0usize,
                old.as_mut_ptr(),
                8usize,
            );
        }
        old[0] == 1
    }

    #[test]
    fn ignored_signals_get_their_default() {
        // In a child: the test process itself keeps the Rust runtime's SIGPIPE.
        // SAFETY: the child only calls sigaction and _exit.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: SIG_IGN installs no handler.
                unsafe {
                    libc::signal(libc::SIGQUIT, libc::SIG_IGN);
                    libc::signal(libc::SIGINT, libc::SIG_IGN);
                }
                let before = ignored(libc::SIGQUIT) && ignored(libc::SIGINT);
                // 32 is one the C library keeps for itself: set through the raw call.
                // SAFETY: as in reset_dispositions; SIG_IGN is 1.
                unsafe {
                    let mut ign = [0u64; 8];
                    ign[0] = 1;
                    libc::syscall(libc::SYS_rt_sigaction, 32, ign.as_ptr(), 0usize, 8usize);
                }
                reset_dispositions();
                let after = [libc::SIGQUIT, libc::SIGINT, libc::SIGPIPE, libc::SIGHUP, 32]
                    .iter()
                    .any(|s| ignored(*s));
                // SAFETY: _exit ends the child at once.
                unsafe { libc::_exit(if before && !after { 0 } else { 1 }) }
            }
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            pid => {
                let mut status = 0;
                // SAFETY: waits for our own child, writing its status into `status`.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                    "{status}"
                );
            }
        }
    }
}
