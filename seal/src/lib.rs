//! # chop-seal
//!
//! Everything Chop does to a PDF and to a seal, with no network and no database:
//!
//! - [`codes`]: organisation and document identifiers (GB 32100 统一社会信用代码, …).
//! - [`seal_object`]: the GB/T 38540-2020 `SESeal` v4 electronic seal object, DER encode/decode/verify.
//! - [`picture`]: the standard round seal picture (PNG).
//! - [`keys`] and [`certs`]: signing keys behind the [`keys::Signer`] trait, certificates as DER.
//! - [`cms`]: CMS SignedData (RFC 5652) for PAdES (ETSI EN 319 142-1), building and parsing.
//! - [`pdf`]: the PDF syntax we need: revisions, object serialisation, the incremental update.
//! - [`sign`]: sealing a PDF (PAdES B-B with a visible seal).
//! - [`verify`]: verifying any signed PDF and explaining the result.

pub mod certs;
pub mod cms;
pub mod codes;
pub mod keys;
pub mod licence;
pub mod pdf;
pub mod picture;
pub mod seal_object;
pub mod sign;
pub mod verify;
