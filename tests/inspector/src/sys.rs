//! The few system calls the inspector makes through libc, wrapped: errno names, the
//! descriptor table, write probes, mount flags, credentials and interface flags.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The symbolic name of an errno value (`EROFS`), `E<n>` for ones not listed.
pub fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ELOOP => "ELOOP",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTSUP => "ENOTSUP",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        _ => return format!("E{errno}"),
    };
    name.to_owned()
}

/// The errno name of an I/O error (its text when it carries no errno).
pub fn error_name(err: &io::Error) -> String {
    err.raw_os_error()
        .map_or_else(|| err.to_string(), errno_name)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

/// `open(path, flags)`, returning the descriptor.
pub fn open(path: &Path, flags: i32) -> io::Result<i32> {
    let c = c_path(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; open reads it only.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

/// Closes a descriptor this process opened.
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor the caller owns and no longer uses; errors are irrelevant.
    unsafe {
        libc::close(fd);
    }
}

/// Tries to open `path` for writing (never truncating, creating or writing): `"opened"`, or
/// the errno name of the refusal.
pub fn write_probe(path: &Path) -> String {
    match open(path, libc::O_WRONLY | libc::O_NOCTTY | libc::O_NONBLOCK) {
        Ok(fd) => {
            close(fd);
            "opened".to_owned()
        }
        Err(e) => error_name(&e),
    }
}

/// Whether the mount holding `path` is read-only (`ST_RDONLY` from statvfs).
pub fn mount_read_only(path: &Path) -> io::Result<bool> {
    let fd = open(path, libc::O_PATH)?;
    let ro = fd_mount_read_only(fd);
    close(fd);
    ro
}

/// Whether the mount of open descriptor `fd` (an `O_PATH` one will do) is read-only.
pub fn fd_mount_read_only(fd: i32) -> io::Result<bool> {
    // SAFETY: statvfs is plain old data; zeroed is a valid initial value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable statvfs for the call; a bad `fd` gives EBADF.
    let rc = unsafe { libc::fstatvfs(fd, &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// The filesystem magic of the filesystem holding `path` (`statfs`'s `f_type`).
pub fn fs_magic(path: &Path) -> io::Result<i64> {
    let c = c_path(path)?;
    // SAFETY: statfs is plain old data; zeroed is a valid initial value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid, writable statfs for the call.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type)
}

/// The descriptors open in this process, as numbers: `/proc/self/fd` read through a
/// descriptor of its own, which is left out.
pub fn open_fds() -> io::Result<Vec<i32>> {
    let dir_fd = open(
        Path::new("/proc/self/fd"),
        libc::O_RDONLY | libc::O_DIRECTORY,
    )?;
    // SAFETY: `dir_fd` is an open directory descriptor; fdopendir takes ownership of it.
    let dir = unsafe { libc::fdopendir(dir_fd) };
    if dir.is_null() {
        let err = io::Error::last_os_error();
        close(dir_fd);
        return Err(err);
    }
    let mut fds = Vec::new();
    loop {
        // SAFETY: `dir` is a valid DIR stream until closedir below.
        let entry = unsafe { libc::readdir(dir) };
        if entry.is_null() {
            break;
        }
        // SAFETY: readdir returned a valid dirent whose d_name is NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
        if let Ok(fd) = name.to_string_lossy().parse::<i32>()
            && fd != dir_fd
        {
            fds.push(fd);
        }
    }
    // SAFETY: `dir` is valid and closed exactly once; this also closes `dir_fd`.
    unsafe {
        libc::closedir(dir);
    }
    fds.sort_unstable();
    Ok(fds)
}

/// Real uid, gid, effective uid and gid.
pub fn ids() -> [u32; 4] {
    // SAFETY: these calls take no arguments and cannot fail.
    unsafe {
        [
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
        ]
    }
}

/// Supplementary groups.
pub fn groups() -> io::Result<Vec<u32>> {
    let mut buf = vec![0 as libc::gid_t; 256];
    let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
    // SAFETY: `buf` has room for `len` gids and stays alive for the call.
    let n = unsafe { libc::getgroups(len, buf.as_mut_ptr()) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    buf.truncate(n);
    Ok(buf)
}

/// `gethostname`.
pub fn hostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length during the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// Whether network interface `name` is up (`IFF_UP` from `SIOCGIFFLAGS`).
pub fn interface_up(name: &str) -> io::Result<bool> {
    // SAFETY: socket takes plain integers.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain old data; zeroed is a valid initial value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    // SAFETY: `sock` is open and `req` a valid ifreq the kernel fills in.
    let rc = unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) };
    let result = if rc != 0 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: SIOCGIFFLAGS set the flags member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        Ok(i32::from(flags) & libc::IFF_UP != 0)
    };
    close(sock);
    result
}
