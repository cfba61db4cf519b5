//! stage0 as a library: the pod lifecycle without a daemon. Each pod is a
//! directory under `<dir>/pods/<state>/`, moved between states by atomic
//! rename and guarded by a `flock` on the directory; the `rukt` binary is a
//! thin command line over this. See `docs/pod-lifecycle.md`.

#![forbid(unsafe_code)]

pub mod pods;
pub mod stage1;
