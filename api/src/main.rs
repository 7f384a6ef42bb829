//! `chop`: the command-line interface (and, later, the server) of Chop.
//!
//! Exit codes are shared by every command and documented in `docs/CLI.md`; see [`exit`].

mod archive;
mod cli;
mod exit;
mod registry;
mod server;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => exit::USAGE.into(),
            };
        }
    };
    cli::run(args)
}
