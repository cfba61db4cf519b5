//! WebSocket, as client-go's WebSocket executor and tunnelling dialer speak
//! it: the frame codec, one connection's reader and writer, the channel
//! protocols for exec and attach and the SPDY tunnel for port-forward.

pub(crate) mod channel;
pub(crate) mod conn;
pub(crate) mod frame;
pub(crate) mod tunnel;
