//! `rukt-images`: OCI images for rukt. Parses references
//! ([`reference`]), fetches from registries (v2, [`registry`]) and local
//! sources (OCI layouts and archives, docker archives: [`source`]), verifies
//! every digest and size while streaming ([`fetch`]), keeps the result in a
//! content-addressed store with each layer unpacked once ([`store`],
//! [`unpack`]; `docs/on-disk-format.md`), and removes, re-verifies, exports
//! and extracts what it holds ([`gc`], [`verify`], [`export`], [`extract`]),
//! recording what it stores and removes in the event journal ([`events`]).
//!
//! A library: it returns typed errors and logs through `tracing`, never
//! prints. It knows nothing of pods; the pods library tells it what pods use
//! when it collects garbage. It may depend on the system floor (`rukt-sys`)
//! and the event journal (`rukt-events`), and nothing else of rukt.

#![forbid(unsafe_code)]

pub mod digest;
pub mod events;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod gc;
pub mod lookup;
pub mod media;
pub mod platform;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod source;
pub mod store;
pub mod unpack;
pub mod verify;
