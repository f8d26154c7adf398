//! End-to-end tests of Sockscope. The Rust ones are in `tests/tests/`; the GUI suite (the
//! built app driven through tauri-driver and WebKitWebDriver under Xvfb) is in `tests/gui/`.
