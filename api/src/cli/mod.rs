//! Command-line parsing and dispatch. Each verb lives in its own module with an `Args`
//! struct and a `run` function returning the process exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod archive;
mod demo;
mod keys;
mod licence;
mod package;
mod seal;
mod serve;
mod sign;
mod verify;

/// Chop: electronic seals, e-licences and a tamper-evident archive.
#[derive(Parser, Debug)]
#[command(name = "chop", version, about, after_help = crate::exit::HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Key management (development PKI).
    #[command(subcommand)]
    Keys(keys::Command),
    /// Make and inspect GB/T 38540 seal objects.
    #[command(subcommand)]
    Seal(seal::Command),
    /// Seal PDF documents (PAdES with a visible seal).
    Sign(sign::Args),
    /// Verify signed PDF documents.
    Verify(verify::Args),
    /// Make development keys and a seal, seal a sample PDF, and print how to check it.
    Demo(demo::Args),
    /// The tamper-evident archive: ingest, verify, checkpoints, proofs, records.
    #[command(subcommand)]
    Archive(archive::Command),
    /// E-licences (电子证照): types, issuance, registry, lifecycle.
    #[command(subcommand)]
    Licence(licence::Command),
    /// Run the REST API server (HTTP; OpenAPI at /openapi.json, Swagger UI at /docs).
    Serve(serve::Args),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Keys(c) => keys::run(c),
        Command::Seal(c) => seal::run(c),
        Command::Sign(a) => sign::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Archive(c) => archive::run(c),
        Command::Licence(c) => licence::run(c),
        Command::Serve(a) => serve::run(a),
    };
    ExitCode::from(code)
}

/// A failure at the binary edge: a one-line message and an exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Print a failure as `chop: <message>` on stderr and return its exit code.
pub fn report(result: Result<u8, Failure>) -> u8 {
    match result {
        Ok(code) => code,
        Err(f) => {
            eprintln!("chop: {}", f.message);
            f.code
        }
    }
}
