//! Pod networking, on the CNI plugins the distribution ships
//! (`docs/networking.md`). No daemon: the stage1 that runs a pod creates its
//! network namespace and runs each network's plugins against it
//! ([`pod::setup`]); the same records let the pod's `gc` undo it after a
//! crash ([`pod::teardown`]). stage0 uses the configuration half
//! ([`catalog`], [`ports`]) when it prepares a pod.
//!
//! Layout of the crate:
//! - [`conf`]: one CNI configuration list, parsed strictly;
//! - [`builtin`]: the `default` and `default-restricted` networks;
//! - [`catalog`]: finding a network by name in `net.d` and its plugins;
//! - [`plugin`]: running one plugin per the CNI spec;
//! - [`chain`]: ADD, DEL and CHECK over a whole list;
//! - [`result`]: a CNI result as the contract's [`rukt_contract::NetworkResult`];
//! - [`netns`]: named network namespaces under `/run/netns`;
//! - [`record`]: what a pod attached, written before each ADD;
//! - [`ports`]: host port reservations shared by every pod of a store;
//! - [`dns`]: the pod's `resolv.conf` and `hosts`;
//! - [`podfiles`]: the pod's three `/etc` files, for every engine;
//! - [`sweep`]: rules a plugin could not remove once the namespace was gone;
//! - [`pod`]: setting a pod's networks up and tearing them down.

#![forbid(unsafe_code)]

pub mod builtin;
pub mod catalog;
pub mod chain;
pub mod conf;
pub mod dns;
pub mod netns;
pub mod plugin;
pub mod pod;
pub mod podfiles;
pub mod ports;
pub mod record;
pub mod result;
pub mod sweep;

pub use catalog::Catalog;
pub use conf::{ConfError, NetConf};
pub use pod::{Attached, NetError};
