//! Pseudo-terminals for sessions a runtime relays (`rukt cri`'s exec with
//! a tty): a new master and its slave, and the window size set on the
//! master; and for relaying a caller's own terminal (`rukt run
//! --interactive`, `rukt app attach` to an app with a tty), [`RawMode`]
//! and [`Winch`], its resizes.

use std::os::fd::{AsFd, OwnedFd};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// A new pseudo-terminal: `(master, slave)`, both close-on-exec, the
/// slave not made anyone's controlling terminal.
pub fn open() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    Ok((master, slave))
}

/// Sets the terminal's size (columns, rows); its foreground process group
/// gets SIGWINCH.
pub fn set_size(tty: impl AsFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    Ok(rustix::termios::tcsetwinsize(tty, size)?)
}

/// The caller's stdin, when it is a terminal, in raw mode until dropped.
pub struct RawMode(Option<rustix::termios::Termios>);

impl RawMode {
    /// Puts stdin in raw mode if it is a terminal (nothing otherwise).
    pub fn stdin() -> RawMode {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(orig) = &saved {
            let mut raw = orig.clone();
            raw.make_raw();
            let _ = tcsetattr(&stdin, OptionalActions::Now, &raw);
        }
        RawMode(saved)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(orig) = &self.0 {
            let now = rustix::termios::OptionalActions::Now;
            let _ = rustix::termios::tcsetattr(std::io::stdin(), now, orig);
        }
    }
}

/// SIGWINCH taken synchronously: blocked in the calling thread and the
/// threads it starts afterwards; [`Winch::wait`] returns at each one.
pub struct Winch(libc::sigset_t);

impl Winch {
    /// Blocks SIGWINCH in this thread (call it before starting others).
    pub fn block() -> std::io::Result<Winch> {
        // SAFETY: sigemptyset initialises the set; sigaddset only writes to it.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGWINCH);
            set
        };
        // SAFETY: `set` is initialised; the old mask is not asked for.
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        Ok(Winch(set))
    }

    /// Waits for the next SIGWINCH.
    pub fn wait(&self) -> std::io::Result<()> {
        let mut sig = 0;
        // SAFETY: sigwait reads the initialised set and writes one int.
        let r = unsafe { libc::sigwait(&self.0, &mut sig) };
        if r != 0 {
            return Err(std::io::Error::from_raw_os_error(r));
        }
        Ok(())
    }
}

// SAFETY: a sigset_t is plain data, only read after `block`.
unsafe impl Send for Winch {}

#[cfg(test)]
mod tests {
    #[test]
    fn what_the_master_writes_the_slave_reads() {
        let (master, slave) = super::open().unwrap();
        super::set_size(&master, 120, 40).unwrap();
        let size = rustix::termios::tcgetwinsize(&slave).unwrap();
        assert_eq!((size.ws_col, size.ws_row), (120, 40));
        rustix::io::write(&master, b"hi\n").unwrap();
        let mut buf = [0u8; 8];
        let n = rustix::io::read(&slave, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi\n");
    }

    #[test]
    fn a_blocked_sigwinch_is_waited_for() {
        // This thread's own: the harness's other threads do not block it.
        let winch = super::Winch::block().unwrap();
        // SAFETY: raise(3) sends a signal to this thread, blocked: pending.
        assert_eq!(unsafe { libc::raise(libc::SIGWINCH) }, 0);
        winch.wait().unwrap();
    }
}
