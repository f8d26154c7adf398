//! Sockscope's benchmark suite (issue 7): the project's own pipelined, content-checked load
//! generator ([`load`]) and fast echo server ([`echo`]), the relays it compares ([`peers`]),
//! the recording check ([`verify`]), the comparison and its targets ([`suite`]), the capture
//! store micro-bench ([`storebench`]) and the charts ([`svg`]). `make bench` runs it all.

pub mod codec;
pub mod echo;
pub mod load;
pub mod peers;
pub mod procstat;
pub mod soakmix;
pub mod soakrun;
pub mod storebench;
pub mod suite;
pub mod svg;
pub mod verify;
