//! Pseudo-terminals for sessions a runtime relays (`rukt cri`'s exec with
//! a tty): a new master and its slave, and the window size set on the
//! master.

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
}
