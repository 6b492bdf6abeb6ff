mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            // One line: each layer of context, then the library's message (which carries
            // an OS error in its text, not as a source, so it is printed once).
            eprintln!("error: {e:#}");
            // The library says a setting would fix it; only the binary knows its flag.
            if let Some(hint) = cli::hint(&e) {
                eprintln!("hint: {hint}");
            }
            cli::exit_status(&e)
        }
    }
}
