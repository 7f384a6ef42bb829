//! Development PKIs made by `chop keys dev` (issue 2 §2), and `chop sign` invocations using them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{ChopRun, chop};

/// Every file `chop keys dev --out DIR` must write.
pub const FILES: [&str; 11] = [
    "root-ca.crt.pem",
    "root-ca.key.pem",
    "issuing-ca.crt.pem",
    "issuing-ca.key.pem",
    "seal-maker.crt.pem",
    "seal-maker.key.pem",
    "signer.crt.pem",
    "signer.key.pem",
    "chain.pem",
    "seal.der",
    "seal.png",
];

/// A valid 统一社会信用代码 (GB 32100-2015) for a first bureau.
pub const USCC_A: &str = "11100000000013338W";
/// A valid 统一社会信用代码 (GB 32100-2015) for a second bureau.
pub const USCC_B: &str = "91350100M000100Y43";

/// A development PKI directory written by `chop keys dev`.
#[derive(Debug, Clone)]
pub struct DevPki {
    /// The `--out` directory.
    pub dir: PathBuf,
}

impl DevPki {
    /// Run `chop keys dev --out DIR EXTRA…`, assert success and that every file exists.
    #[track_caller]
    pub fn create(dir: &Path, extra: &[&str]) -> DevPki {
        let mut args: Vec<OsString> = vec!["keys".into(), "dev".into(), "--out".into(), dir.into()];
        args.extend(extra.iter().map(OsString::from));
        let run = chop(&args);
        run.assert_ok();
        for f in FILES {
            assert!(
                dir.join(f).is_file(),
                "chop keys dev did not write {f}:\n{run}"
            );
        }
        DevPki {
            dir: dir.to_path_buf(),
        }
    }

    /// The root CA certificate (trust anchor).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root-ca.crt.pem")
    }

    /// The signer's PKCS#8 private key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("signer.key.pem")
    }

    /// The signer's certificate.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("signer.crt.pem")
    }

    /// The chain (issuing CA then root).
    pub fn chain(&self) -> PathBuf {
        self.dir.join("chain.pem")
    }

    /// The GB/T 38540 seal object.
    pub fn seal(&self) -> PathBuf {
        self.dir.join("seal.der")
    }

    /// Any file of the PKI directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `--key K --cert C --chain CH --seal S` for `chop sign`.
    pub fn sign_args(&self) -> Vec<OsString> {
        vec![
            "--key".into(),
            self.key().into(),
            "--cert".into(),
            self.cert().into(),
            "--chain".into(),
            self.chain().into(),
            "--seal".into(),
            self.seal().into(),
        ]
    }

    /// SHA-256 fingerprint (lower-case hex) of the signer certificate, to pick our signature
    /// out of a validator's report.
    pub fn signer_fingerprint(&self) -> String {
        let pem = std::fs::read_to_string(self.cert()).expect("signer cert readable");
        let ders = chop_seal::certs::certificates_from_pem(&pem).expect("signer cert is PEM");
        chop_seal::certs::fingerprint_sha256(&ders[0])
    }

    /// `chop sign IN --out OUT <key options> EXTRA…`.
    pub fn sign(&self, input: &Path, output: &Path, extra: &[&str]) -> ChopRun {
        let mut args: Vec<OsString> =
            vec!["sign".into(), input.into(), "--out".into(), output.into()];
        args.extend(self.sign_args());
        args.extend(extra.iter().map(OsString::from));
        chop(&args)
    }

    /// Batch mode: `chop sign --out-dir DIR IN1 IN2 … <key options>`.
    pub fn sign_batch(&self, out_dir: &Path, inputs: &[&Path]) -> ChopRun {
        let mut args: Vec<OsString> = vec!["sign".into(), "--out-dir".into(), out_dir.into()];
        args.extend(inputs.iter().map(|p| p.as_os_str().to_owned()));
        args.extend(self.sign_args());
        chop(&args)
    }
}
