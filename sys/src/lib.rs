//! The floor every rukt stage stands on: the few system-level helpers that
//! stage0, `rukt-images`, the contract's runtime half and the stage1
//! engines all need, in one place, with the `unsafe` they need confined
//! here (each block says why it is sound in a `// SAFETY:` comment).
//!
//! - [`atomic`]: replacing a file atomically (temporary file, rename),
//!   durably or not;
//! - [`lock`]: advisory `flock(2)` locks ([`FileLock`], [`LockMode`]);
//! - [`mountinfo`]: parsing `/proc/self/mountinfo`;
//! - [`unmount`]: the safe recursive unmount (made private first, so nothing
//!   propagates to the host, and checked);
//! - [`resolve`]: `openat2(RESOLVE_IN_ROOT)`, opening a path as if a
//!   directory were `/`;
//! - [`fds`]: closing inherited descriptors (`close_range`), now or at exec;
//! - [`view`]: a detached read-only view of a directory (`open_tree`,
//!   `mount_setattr`), to execute a binary nobody can write through;
//! - [`netdev`]: tap devices and IPv4 interface settings by `ioctl(2)`;
//! - [`watch`]: waiting for a directory to change (inotify);
//! - [`socket`]: listening unix sockets of the services (mode, stale files).
//!
//! System calls go through **rustix**; `libc` only where rustix has no
//! wrapper (`close_range`, `fcntl(F_GETFD)` on a raw number, `mount_setattr`, the
//! interface `ioctl`s). This crate
//! depends on no other rukt crate.

pub mod atomic;
pub mod cgroupfs;
pub mod fds;
pub mod lock;
pub mod mountinfo;
pub mod netdev;
pub mod pidns;
pub mod procstat;
pub mod propagation;
pub mod pty;
pub mod resolve;
pub mod session;
pub mod signals;
pub mod socket;
pub mod unmount;
pub mod view;
pub mod warm;
pub mod watch;

pub use lock::{FileLock, LockMode};
