//! SPDY/3.1, as kubelet's streaming server and spdystream speak it: the
//! frame codec, header-block compression, one connection's tasks, and the
//! exec/attach and port-forward protocols on top.

pub(crate) mod dictionary;
pub(crate) mod exec;
pub(crate) mod frame;
pub(crate) mod headers;
pub(crate) mod portforward;
pub(crate) mod session;
