//! `chop keys`: key management. For now one verb, `chop keys dev`, which writes a development
//! PKI and a seal (issue 2 §2; see keys-dev/). Development only: the keys are unencrypted.

use std::path::PathBuf;

use chop_keys_dev::{DevPki, DevPkiError, DevPkiOptions};
use chop_seal::seal_object::SealType;

use super::Failure;
use crate::exit;

/// `chop keys` verbs.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write a development PKI (root CA, issuing CA, seal maker, signer) and a seal for the
    /// signer. DEVELOPMENT ONLY: private keys are written unencrypted.
    #[command(after_help = crate::exit::HELP)]
    Dev(DevArgs),
}

/// Options of `chop keys dev`.
#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Folder to write the files into (created if missing; existing files are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The organisation's name (signer certificate O, seal picture).
    #[arg(long, value_name = "NAME", default_value = chop_keys_dev::DEFAULT_ORG_NAME)]
    org_name: String,
    /// The organisation's 统一社会信用代码 (GB 32100-2015, 18 characters).
    #[arg(long, value_name = "USCC", default_value = chop_keys_dev::DEFAULT_ORG_ID)]
    org_id: String,
    /// The seal's name (signer certificate CN, seal picture); default: the seal type's
    /// Chinese name (行政审批专用章 for the default type).
    #[arg(long, value_name = "NAME")]
    seal_name: Option<String>,
    /// The seal type: official, approval, licence, finance, contract, other (or the Chinese
    /// name, or the integer code).
    #[arg(long, value_name = "TYPE", default_value = "approval")]
    seal_type: SealType,
}

/// Run a `chop keys` verb and return the exit code.
pub fn run(c: Command) -> u8 {
    match c {
        Command::Dev(a) => super::report(dev(a)),
    }
}

fn dev(a: DevArgs) -> Result<u8, Failure> {
    let opts = DevPkiOptions {
        seal_name: a.seal_name.unwrap_or_else(|| a.seal_type.zh().to_string()),
        org_name: a.org_name,
        org_id: a.org_id,
        seal_type: a.seal_type,
    };
    let pki = DevPki::generate(&opts).map_err(|e| match e {
        DevPkiError::OrgId(_) | DevPkiError::Option(_) => {
            Failure::new(exit::BAD_CREDENTIALS, e.to_string())
        }
        DevPkiError::Picture(_) => Failure::new(exit::USAGE, e.to_string()),
        _ => Failure::new(exit::INTERNAL, e.to_string()),
    })?;
    pki.write_to(&a.out)
        .map_err(|e| Failure::new(exit::IO, e.to_string()))?;

    let d = a.out.display();
    println!("=== DEVELOPMENT PKI - NOT FOR PRODUCTION: private keys are unencrypted ===");
    println!(
        "organisation: {} ({}), seal: {} [{}]",
        opts.org_name, opts.org_id, opts.seal_name, opts.seal_type
    );
    let described = [
        ("root-ca.crt.pem", "root CA certificate (trust anchor)"),
        ("root-ca.key.pem", "root CA private key"),
        ("issuing-ca.crt.pem", "issuing CA certificate"),
        ("issuing-ca.key.pem", "issuing CA private key"),
        ("seal-maker.crt.pem", "seal maker (制章者) certificate"),
        ("seal-maker.key.pem", "seal maker private key"),
        ("signer.crt.pem", "seal signer certificate"),
        ("signer.key.pem", "seal signer private key"),
        ("chain.pem", "chain: issuing CA then root"),
        ("seal.der", "GB/T 38540 seal object for the signer"),
        ("seal.png", "seal picture"),
    ];
    for (file, what) in described {
        println!("wrote {d}/{file:<20} {what}");
    }
    println!("signer: {}", pki.signer.subject());
    println!(
        "seal {} valid until {}",
        pki.seal.info().es_id,
        chop_seal::seal_object::show_time(pki.seal.info().valid_end)
    );
    println!("=== never use these keys for real documents ===");
    Ok(exit::OK)
}
