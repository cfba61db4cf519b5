//! The last step inside an app's init before it execs the app, run by
//! libcontainer after the pivot into the app's root, the capability drop and
//! the seccomp filter: undo the supervisor's blocked signal mask (a mask
//! survives exec, and the app must be able to receive SIGTERM) and any
//! ignored signal ([`rukt_sys::signals`]), and tie the
//! app to the supervisor's life with a parent-death signal, so a `kill -9`
//! of the supervisor takes its apps with it. Then exec as libcontainer's
//! default executor does.
//!
//! It also installs the app's seccomp filter, compiled once by the
//! supervisor ([`crate::bpf`]): for apps this saves libcontainer's compiling
//! it in every init; for `enter` it is what confines the command at all
//! (libcontainer's tenant builds its `linux` section anew, without one).

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// The executor of every nspawn app and `enter` command.
#[derive(Clone, Default)]
pub struct AppExecutor {
    /// The app's compiled filter, installed last.
    pub seccomp: Option<Vec<u8>>,
}

impl Executor for AppExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        if let Some(bpf) = &self.seccomp {
            // no_new_privs is set (the app's setting, on by default), which
            // lets an unprivileged process install a filter. An `enter` into
            // an app that runs without it (`allow_new_privileges`) may not
            // install one any more: the command then gets no_new_privs, more
            // confined than the app, never less.
            let loaded = match crate::bpf::load(bpf) {
                Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes integers only.
                    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
                    crate::bpf::load(bpf)
                }
                other => other,
            };
            loaded.map_err(|e| {
                ExecutorError::Other(format!("cannot install the app's seccomp filter: {e}"))
            })?;
        }
        // SAFETY: an empty, initialised sigset_t; sigprocmask only changes
        // this thread's mask.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        }
        // An ignored signal stays ignored across exec: the Rust runtime's
        // SIGPIPE (`yes | head` in an app would spin on EPIPE), a background
        // job's SIGINT and SIGQUIT (the app could not trap its stop signal).
        rukt_sys::signals::reset_dispositions();
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches
        // no memory of ours.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) } != 0 {
            return Err(ExecutorError::Other(format!(
                "cannot set the parent-death signal: {}",
                std::io::Error::last_os_error()
            )));
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
