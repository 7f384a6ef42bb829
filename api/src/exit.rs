//! Process exit codes, one table for every `chop` command (documented in docs/CLI.md and in
//! `chop --help`).

/// Everything succeeded (for `verify`: every signature TOTAL-PASSED).
#[allow(dead_code)]
pub const OK: u8 = 0;
/// `verify`: at least one signature is TOTAL-FAILED.
pub const TOTAL_FAILED: u8 = 1;
/// `verify`: no failure, but at least one signature is INDETERMINATE (e.g. no trust anchor).
pub const INDETERMINATE: u8 = 2;
/// Usage error (bad flags or arguments); for `verify` also: not a readable PDF, or no signature.
pub const USAGE: u8 = 3;
/// The input PDF cannot be sealed: not a PDF, malformed, truncated, encrypted, or certified
/// with DocMDP P=1.
pub const BAD_DOCUMENT: u8 = 4;
/// A key, certificate or seal problem: key does not match the certificate, signer not in the
/// seal's certList, seal outside its validity period, seal maker signature invalid, invalid
/// organisation code.
pub const BAD_CREDENTIALS: u8 = 5;
/// Reading or writing a file failed.
pub const IO: u8 = 6;
/// `archive verify`: the archive has a problem (chain, tree, checkpoint or document);
/// `archive check-proof`: the proof does not verify; `archive verify-package`: the package has
/// a problem; `archive export`: the written package's four-property report fails.
pub const ARCHIVE_INVALID: u8 = 7;
/// The archive database cannot be opened, migrated, read or written.
pub const STORAGE: u8 = 8;
/// `licence`: the licence, organisation, seal or licence type does not exist.
pub const NOT_FOUND: u8 = 9;
/// `licence`: the change is not allowed now (the licence is already revoked or superseded, an
/// idempotency key was used for another request, the seal is revoked or another bureau's).
pub const CONFLICT: u8 = 10;
/// A bug in Chop.
#[allow(dead_code)]
pub const INTERNAL: u8 = 70;

/// Help text listing the exit codes (appended to `chop --help`).
pub const HELP: &str = "Exit codes:
  0  success (verify: every signature TOTAL-PASSED)
  1  verify: at least one signature TOTAL-FAILED
  2  verify: otherwise at least one signature INDETERMINATE
  3  usage error; verify: not a readable PDF or no signature
  4  the PDF cannot be sealed (not a PDF, malformed, encrypted, DocMDP P=1)
  5  key, certificate or seal problem (key/cert mismatch, signer not in certList, seal expired, bad maker signature, invalid USCC)
  6  a file could not be read or written
  7  archive verify: the archive has a problem; archive check-proof: the proof does not verify;
     archive verify-package: the package has a problem; archive export: the package's report fails
  8  the archive database cannot be opened, read or written
  9  licence: no such licence, organisation, seal or licence type
 10  licence: not allowed now (already revoked or superseded, idempotency key reused, seal unusable)
 70  internal error (a bug: please report it)";
