//! Command-line interface, layered as ripgrep's: `flags` (the clap structs), `args` (their
//! resolution into the library's options), `run` (the command bodies), `progress` (what a
//! batch shows while it works). The binary is the only place that knows flags; the library's
//! errors name none, and these modules add the flag as context.
mod args;
mod flags;
mod progress;
mod run;

pub use flags::Cli;
pub use run::{exit_status, run};
