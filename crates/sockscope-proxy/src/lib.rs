//! Sockscope's capture proxy (DESIGN.md §3): a listener in reverse mode or forward HTTP proxy
//! mode (CONNECT with TLS interception by a local CA, absolute-form requests), relaying bytes
//! unchanged while an observer beside each direction records every frame.

pub mod ca;
mod error;
pub mod http;
pub mod intercept;
pub mod relay;
pub mod rules;
mod server;
pub mod tls;
pub mod upstream;

pub use error::ProxyError;
pub use intercept::{Decision, HeldMessage, Intercept, InterceptEvent, Resolution, RuleStatus};
pub use relay::RelayLimits;
pub use rules::{Action, DirMatch, Matcher, OpcodeMatch, Rule};
pub use server::{Injector, Proxy, ProxyConfig, ProxyLimits, Toward};
