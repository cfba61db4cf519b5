//! stage0 as a library: the pod lifecycle without a daemon. Each pod is a
//! directory under `<dir>/pods/<state>/`, moved between states by atomic
//! rename and guarded by a `flock` on the directory; the `rukt` binary is a
//! thin command line over this. See `docs/pod-lifecycle.md`.

// Unsafe code is confined to `exe_guard`, which allows it for one system call.
#![deny(unsafe_code)]

pub mod exe_guard;
pub mod pods;
pub mod stage1;
