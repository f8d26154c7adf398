//! Sockscope's capture proxy (DESIGN.md §3): a listener in reverse mode or forward HTTP proxy
//! mode (CONNECT with TLS interception by a local CA, absolute-form requests), relaying bytes
//! unchanged while an observer beside each direction records every frame.

pub mod ca;
mod error;
pub mod http;
pub mod relay;
mod server;
pub mod tls;
pub mod upstream;

pub use error::ProxyError;
pub use relay::RelayLimits;
pub use server::{Injector, Proxy, ProxyConfig, ProxyLimits, Toward};
