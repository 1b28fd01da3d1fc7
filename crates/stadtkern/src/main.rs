//! The `stadtkern` command line. Thin: parse, load configuration, call the library.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = stadtkern::cli::Cli::parse();
    match stadtkern::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stadtkern: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
