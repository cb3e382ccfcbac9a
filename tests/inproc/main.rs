//! In-process tests: the whole App and its HTTP routes in the test's own process, on a
//! temporary on-disk store and a listener bound before serving (no child process, no port
//! race, no sleeps). Each test takes milliseconds; `cargo test --test inproc` runs them all.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test and benchmark code: a panic is a failed run, and setup may block"
)]

mod harness;

mod authz;
mod notify;
