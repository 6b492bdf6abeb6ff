use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = gradtrust_video::cli::Cli::parse();
    match gradtrust_video::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
