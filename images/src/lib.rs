//! placeholder
pub mod digest;
pub mod export;
pub mod extract;
pub mod fetch;
pub mod gc;
pub mod lookup;
pub mod media;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod source;
pub mod store;
pub mod unpack;
pub mod verify;
