//! # chop-keys-dev — a development PKI (NOT FOR PRODUCTION)
//!
//! Generates, in memory, everything needed to seal documents on a developer's machine
//! (issue 2 §2):
//!
//! - a root CA (ECDSA P-256, CA, 20 years),
//! - an issuing CA under it (pathLenConstraint 0, 10 years),
//! - a seal maker (制章者) certificate, which signs GB/T 38540 seal objects
//!   (keyUsage digitalSignature + nonRepudiation, 5 years),
//! - a seal signer certificate in the ETSI EN 319 412-3 legal-person profile: subject
//!   `C=CN, O=<org name>, organizationIdentifier (2.5.4.97)=NTRCN-<USCC>, CN=<seal name>`,
//!   keyUsage (critical) digitalSignature + nonRepudiation, SKI and AKI, 3 years,
//! - a `SESeal` for that signer made by the seal maker, valid from now to the signer
//!   certificate's notAfter, with the standard round seal picture.
//!
//! Every certificate's CN ends with [`DEV_MARK`]. Private keys are unencrypted PKCS#8: they are
//! for development and tests only. Production keys come from files or a PKCS#11 token.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chop_seal::codes::{self, CodeError};
use chop_seal::keys::{KeyError, SoftwareKey};
use chop_seal::picture::{self, PictureError, RoundSeal};
use chop_seal::seal_object::{
    CHOP_VID, SESeal, STANDARD_SEAL_DIAMETER_MM, SealError, SealInfo, SealType,
};
use rcgen::string::PrintableString;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Suffix of every development certificate's common name.
pub const DEV_MARK: &str = " (DEV - NOT FOR PRODUCTION)";

/// OID of the X.520 `organizationIdentifier` attribute (ETSI EN 319 412-1 §5.1.4).
pub const OID_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];

/// Organisation of the development CAs and seal maker.
const DEV_PKI_ORG: &str = "Chop Development PKI";

/// Validity of each certificate, in years.
const ROOT_YEARS: i32 = 20;
const ISSUING_YEARS: i32 = 10;
const MAKER_YEARS: i32 = 5;
const SIGNER_YEARS: i32 = 3;

/// What the development PKI is made for: the organisation and its seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevPkiOptions {
    /// The organisation's name (signer certificate `O`, seal picture, seal `extDatas`).
    pub org_name: String,
    /// The organisation's 统一社会信用代码 (GB 32100-2015), validated before anything is made.
    pub org_id: String,
    /// The seal's name (signer certificate `CN`, seal `name`, text below the star).
    pub seal_name: String,
    /// The seal's type.
    pub seal_type: SealType,
}

/// The default organisation's 统一社会信用代码: `11320100MB0000000` with its GB 32100 check `J`.
pub const DEFAULT_ORG_ID: &str = "11320100MB0000000J";
/// The default organisation's name.
pub const DEFAULT_ORG_NAME: &str = "南京市示例区行政审批局";
/// The default seal name.
pub const DEFAULT_SEAL_NAME: &str = "行政审批专用章";

impl Default for DevPkiOptions {
    /// 南京市示例区行政审批局 (11320100MB0000000J), 行政审批专用章, type approval.
    fn default() -> Self {
        Self {
            org_name: DEFAULT_ORG_NAME.into(),
            org_id: DEFAULT_ORG_ID.into(),
            seal_name: DEFAULT_SEAL_NAME.into(),
            seal_type: SealType::Approval,
        }
    }
}

/// Why the development PKI could not be made or written. One line, naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    /// The organisation code is not a valid 统一社会信用代码.
    #[error(transparent)]
    OrgId(#[from] CodeError),
    /// An option is empty or unusable.
    #[error("invalid development PKI option: {0}")]
    Option(String),
    /// rcgen could not build a certificate.
    #[error("cannot generate the {what} certificate: {source}")]
    Certificate {
        what: &'static str,
        source: rcgen::Error,
    },
    /// The seal picture could not be drawn.
    #[error("cannot draw the seal picture: {0}")]
    Picture(#[from] PictureError),
    /// The seal object could not be made.
    #[error("cannot make the seal object: {0}")]
    Seal(#[from] SealError),
    /// A generated key could not be loaded.
    #[error("cannot load a generated key: {0}")]
    Key(#[from] KeyError),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A certificate and its private key, both DER.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The X.509 certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, unencrypted PKCS#8 DER (development only).
    pub key_pkcs8_der: Vec<u8>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field(
                "subject",
                &chop_seal::certs::subject(&self.cert_der).unwrap_or_default(),
            )
            .field(
                "sha256",
                &chop_seal::certs::fingerprint_sha256(&self.cert_der),
            )
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// The certificate as a PEM `CERTIFICATE` block.
    pub fn cert_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.cert_der.clone()))
    }

    /// The key as a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.key_pkcs8_der.clone()))
    }

    /// The key as a [`SoftwareKey`], or why it cannot be loaded.
    pub fn try_signer(&self) -> Result<SoftwareKey, KeyError> {
        SoftwareKey::from_pkcs8_der(&self.key_pkcs8_der)
    }

    /// The key as a [`SoftwareKey`].
    ///
    /// # Panics
    /// If `key_pkcs8_der` was replaced by bytes that are not a supported PKCS#8 key; keys made
    /// by [`DevPki`] always load. Use [`Credential::try_signer`] for keys from elsewhere.
    pub fn signer(&self) -> SoftwareKey {
        #[allow(clippy::expect_used)]
        self.try_signer()
            .expect("a development PKI credential holds a PKCS#8 key generated by chop-keys-dev")
    }

    /// The subject, RFC 4514.
    pub fn subject(&self) -> String {
        chop_seal::certs::subject(&self.cert_der).unwrap_or_default()
    }
}

/// A complete development PKI and a seal for its signer.
#[derive(Clone, Debug)]
pub struct DevPki {
    /// Self-signed root CA.
    pub root_ca: Credential,
    /// Issuing CA (pathLen 0) under the root.
    pub issuing_ca: Credential,
    /// Seal maker (制章者): signs seal objects.
    pub seal_maker: Credential,
    /// The organisation's seal signer (legal-person certificate).
    pub signer: Credential,
    /// A GB/T 38540 seal for `signer`, made by `seal_maker`.
    pub seal: SESeal,
    /// The seal picture (PNG) inside `seal`.
    pub seal_png: Vec<u8>,
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> DevPkiError {
    move |source| DevPkiError::Certificate { what, source }
}

fn new_key(what: &'static str) -> Result<KeyPair, DevPkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_err(what))
}

fn random_serial(what: &'static str) -> Result<SerialNumber, DevPkiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| cert_err(what)(rcgen::Error::RingUnspecified))?;
    // Positive and exactly 16 bytes long.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    t.replace_year(t.year() + years)
        .unwrap_or_else(|_| t + Duration::days(365 * i64::from(years)))
}

fn printable(what: &'static str, s: &str) -> Result<DnValue, DevPkiError> {
    PrintableString::try_from(s)
        .map(DnValue::PrintableString)
        .map_err(cert_err(what))
}

/// `C=CN, O=<o>[, organizationIdentifier=<oi>], CN=<cn><DEV_MARK>`.
fn dev_name(
    what: &'static str,
    o: &str,
    org_identifier: Option<&str>,
    cn: &str,
) -> Result<DistinguishedName, DevPkiError> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, printable(what, "CN")?);
    dn.push(DnType::OrganizationName, o);
    if let Some(oi) = org_identifier {
        dn.push(
            DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()),
            printable(what, oi)?,
        );
    }
    dn.push(DnType::CommonName, format!("{cn}{DEV_MARK}"));
    Ok(dn)
}

fn base_params(
    what: &'static str,
    name: DistinguishedName,
    now: OffsetDateTime,
    years: i32,
) -> Result<CertificateParams, DevPkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = name;
    // An hour of slack for clocks that are a little behind.
    p.not_before = now - Duration::hours(1);
    p.not_after = add_years(now, years);
    p.serial_number = Some(random_serial(what)?);
    Ok(p)
}

/// Parameters of an end-entity signing certificate: keyUsage digitalSignature + nonRepudiation
/// (critical), basicConstraints cA FALSE, SKI and AKI.
fn end_entity_params(
    what: &'static str,
    name: DistinguishedName,
    now: OffsetDateTime,
    years: i32,
) -> Result<CertificateParams, DevPkiError> {
    let mut p = base_params(what, name, now, years)?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn credential(cert: &rcgen::Certificate, key: &KeyPair) -> Credential {
    Credential {
        cert_der: cert.der().to_vec(),
        key_pkcs8_der: key.serialize_der(),
    }
}

fn not_empty(field: &str, value: &str) -> Result<(), DevPkiError> {
    if value.trim().is_empty() {
        Err(DevPkiError::Option(format!("the {field} is empty")))
    } else {
        Ok(())
    }
}

/// Issue a legal-person seal signer certificate (ETSI EN 319 412-3) from `issuer`.
fn issue_signer_with(
    issuer: &Issuer<'_, KeyPair>,
    org_name: &str,
    org_id: &str,
    seal_name: &str,
    now: OffsetDateTime,
) -> Result<Credential, DevPkiError> {
    codes::validate_uscc(org_id)?;
    not_empty("organisation name", org_name)?;
    not_empty("seal name", seal_name)?;
    const WHAT: &str = "seal signer";
    let key = new_key(WHAT)?;
    let name = dev_name(WHAT, org_name, Some(&format!("NTRCN-{org_id}")), seal_name)?;
    let params = end_entity_params(WHAT, name, now, SIGNER_YEARS)?;
    let cert = params.signed_by(&key, issuer).map_err(cert_err(WHAT))?;
    Ok(credential(&cert, &key))
}

/// A seal to make for a signer certificate (see [`DevPki::make_seal`]).
#[derive(Clone, Copy, Debug)]
pub struct SealRequest<'a> {
    /// The organisation's name (seal picture, `extDatas`).
    pub org_name: &'a str,
    /// The organisation's 统一社会信用代码 (validated).
    pub org_id: &'a str,
    /// The seal's name.
    pub seal_name: &'a str,
    /// The seal's type.
    pub seal_type: SealType,
    /// The one signer certificate (DER) the seal's certList names.
    pub signer_cert_der: &'a [u8],
    /// The picture (PNG); `None` draws the standard round seal.
    pub picture_png: Option<&'a [u8]>,
}

/// Make a seal object for `req`, signed by `maker`, valid from `now` to the signer
/// certificate's notAfter.
fn make_seal_with(
    maker: &Credential,
    req: &SealRequest<'_>,
    now: OffsetDateTime,
) -> Result<(SESeal, Vec<u8>), DevPkiError> {
    codes::validate_uscc(req.org_id)?;
    not_empty("organisation name", req.org_name)?;
    not_empty("seal name", req.seal_name)?;
    let signer_not_after = x509_not_after(req.signer_cert_der)?;
    let seal_png = match req.picture_png {
        Some(png) => png.to_vec(),
        // A 法定名称章 carries only the organisation's name and the star.
        None => picture::draw_round_seal(&RoundSeal {
            org_name: req.org_name,
            seal_name: if req.seal_type == SealType::Official {
                ""
            } else {
                req.seal_name
            },
            ..Default::default()
        })?,
    };
    let info = SealInfo {
        vid: CHOP_VID.into(),
        es_id: chop_seal::seal_object::new_es_id(req.org_id)?,
        seal_type: req.seal_type,
        name: req.seal_name.to_owned(),
        cert_list: vec![req.signer_cert_der.to_vec()],
        create_date: now,
        valid_start: now,
        valid_end: signer_not_after,
        picture_png: seal_png.clone(),
        picture_width_mm: STANDARD_SEAL_DIAMETER_MM,
        picture_height_mm: STANDARD_SEAL_DIAMETER_MM,
        org_id: Some(req.org_id.to_owned()),
        org_name: Some(req.org_name.to_owned()),
    };
    let seal = SESeal::make(info, &maker.try_signer()?, &maker.cert_der)?;
    Ok((seal, seal_png))
}

fn read_credential(dir: &Path, name: &str) -> Result<Credential, DevPkiError> {
    let read = |file: String| -> Result<Vec<u8>, DevPkiError> {
        let path = dir.join(&file);
        let text = std::fs::read(&path).map_err(|source| DevPkiError::Io {
            path: path.clone(),
            source,
        })?;
        let block = pem::parse(&text).map_err(|e| {
            DevPkiError::Option(format!("{} is not a PEM file: {e}", path.display()))
        })?;
        Ok(block.into_contents())
    };
    Ok(Credential {
        cert_der: read(format!("{name}.crt.pem"))?,
        key_pkcs8_der: read(format!("{name}.key.pem"))?,
    })
}

impl DevPki {
    /// The certificates above the signer, nearest first (issuing CA, root): what a CMS
    /// carries besides the signer's own.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![
            self.issuing_ca.cert_der.clone(),
            self.root_ca.cert_der.clone(),
        ]
    }

    /// Generate the whole development PKI and seal for `opts` (issue 2 §2).
    ///
    /// The 统一社会信用代码 is validated first; a wrong check character is refused with a
    /// message naming the expected one.
    pub fn generate(opts: &DevPkiOptions) -> Result<DevPki, DevPkiError> {
        codes::validate_uscc(&opts.org_id)?;
        not_empty("organisation name", &opts.org_name)?;
        not_empty("seal name", &opts.seal_name)?;
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());

        // Root CA: self-signed, keyCertSign + cRLSign, no path length limit below it but ours.
        let root_key = new_key("root CA")?;
        let mut root_params = base_params(
            "root CA",
            dev_name("root CA", DEV_PKI_ORG, None, "Chop Development Root CA")?,
            now,
            ROOT_YEARS,
        )?;
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root_params
            .self_signed(&root_key)
            .map_err(cert_err("root CA"))?;
        let root_ca = credential(&root_cert, &root_key);
        let root_issuer = Issuer::new(root_params, root_key);

        // Issuing CA: pathLenConstraint 0.
        let issuing_key = new_key("issuing CA")?;
        let mut issuing_params = base_params(
            "issuing CA",
            dev_name(
                "issuing CA",
                DEV_PKI_ORG,
                None,
                "Chop Development Issuing CA",
            )?,
            now,
            ISSUING_YEARS,
        )?;
        issuing_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        issuing_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        issuing_params.use_authority_key_identifier_extension = true;
        let issuing_cert = issuing_params
            .signed_by(&issuing_key, &root_issuer)
            .map_err(cert_err("issuing CA"))?;
        let issuing_ca = credential(&issuing_cert, &issuing_key);
        let issuing_issuer = Issuer::new(issuing_params, issuing_key);

        // Seal maker (制章者).
        let maker_key = new_key("seal maker")?;
        let maker_params = end_entity_params(
            "seal maker",
            dev_name("seal maker", DEV_PKI_ORG, None, "Chop Seal Maker")?,
            now,
            MAKER_YEARS,
        )?;
        let maker_cert = maker_params
            .signed_by(&maker_key, &issuing_issuer)
            .map_err(cert_err("seal maker"))?;
        let seal_maker = credential(&maker_cert, &maker_key);

        // The bureau's seal signer.
        let signer = issue_signer_with(
            &issuing_issuer,
            &opts.org_name,
            &opts.org_id,
            &opts.seal_name,
            now,
        )?;

        let (seal, seal_png) = make_seal_with(
            &seal_maker,
            &SealRequest {
                org_name: &opts.org_name,
                org_id: &opts.org_id,
                seal_name: &opts.seal_name,
                seal_type: opts.seal_type,
                signer_cert_der: &signer.cert_der,
                picture_png: None,
            },
            now,
        )?;

        Ok(DevPki {
            root_ca,
            issuing_ca,
            seal_maker,
            signer,
            seal,
            seal_png,
        })
    }

    /// Issue another legal-person seal signer certificate from the same issuing CA.
    pub fn issue_signer(
        &self,
        org_name: &str,
        org_id: &str,
        seal_name: &str,
    ) -> Result<Credential, DevPkiError> {
        const WHAT: &str = "issuing CA";
        let key =
            KeyPair::try_from(self.issuing_ca.key_pkcs8_der.as_slice()).map_err(cert_err(WHAT))?;
        let issuer = Issuer::from_ca_cert_der(&self.issuing_ca.cert_der.as_slice().into(), key)
            .map_err(cert_err(WHAT))?;
        let now = OffsetDateTime::now_utc();
        issue_signer_with(&issuer, org_name, org_id, seal_name, now)
    }

    /// Read back a PKI that [`DevPki::write_to`] wrote into `dir`.
    pub fn read_from(dir: &Path) -> Result<DevPki, DevPkiError> {
        let seal_path = dir.join("seal.der");
        let seal_der = std::fs::read(&seal_path).map_err(|source| DevPkiError::Io {
            path: seal_path,
            source,
        })?;
        let seal = SESeal::from_der(&seal_der)?;
        let seal_png = seal.info().picture_png.clone();
        Ok(DevPki {
            root_ca: read_credential(dir, "root-ca")?,
            issuing_ca: read_credential(dir, "issuing-ca")?,
            seal_maker: read_credential(dir, "seal-maker")?,
            signer: read_credential(dir, "signer")?,
            seal,
            seal_png,
        })
    }

    /// Make a new seal object, signed by this PKI's seal maker, for a signer certificate
    /// (one issued by [`DevPki::issue_signer`] or one from elsewhere). Returns the seal and its
    /// picture (PNG).
    pub fn make_seal(&self, req: &SealRequest<'_>) -> Result<(SESeal, Vec<u8>), DevPkiError> {
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        make_seal_with(&self.seal_maker, req, now)
    }

    /// The chain for signers: the issuing CA then the root, PEM.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.issuing_ca.cert_pem(), self.root_ca.cert_pem())
    }

    /// The files [`DevPki::write_to`] writes, in order.
    pub const FILES: [&'static str; 11] = [
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

    /// Write every file of [`DevPki::FILES`] into `dir` (created if missing), replacing
    /// existing ones; private keys get mode 0600 on Unix.
    pub fn write_to(&self, dir: &Path) -> Result<(), DevPkiError> {
        std::fs::create_dir_all(dir).map_err(|source| DevPkiError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let files: [(&str, Vec<u8>, bool); 11] = [
            (
                "root-ca.crt.pem",
                self.root_ca.cert_pem().into_bytes(),
                false,
            ),
            ("root-ca.key.pem", self.root_ca.key_pem().into_bytes(), true),
            (
                "issuing-ca.crt.pem",
                self.issuing_ca.cert_pem().into_bytes(),
                false,
            ),
            (
                "issuing-ca.key.pem",
                self.issuing_ca.key_pem().into_bytes(),
                true,
            ),
            (
                "seal-maker.crt.pem",
                self.seal_maker.cert_pem().into_bytes(),
                false,
            ),
            (
                "seal-maker.key.pem",
                self.seal_maker.key_pem().into_bytes(),
                true,
            ),
            ("signer.crt.pem", self.signer.cert_pem().into_bytes(), false),
            ("signer.key.pem", self.signer.key_pem().into_bytes(), true),
            ("chain.pem", self.chain_pem().into_bytes(), false),
            ("seal.der", self.seal.to_der(), false),
            ("seal.png", self.seal_png.clone(), false),
        ];
        for (name, bytes, secret) in files {
            write_file(&dir.join(name), &bytes, secret)?;
        }
        Ok(())
    }
}

/// The notAfter of a DER certificate.
fn x509_not_after(cert_der: &[u8]) -> Result<OffsetDateTime, DevPkiError> {
    let cert = chop_seal::certs::parse(cert_der)
        .map_err(|e| DevPkiError::Option(format!("generated certificate unreadable: {e}")))?;
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
        .map_err(|e| DevPkiError::Option(format!("generated certificate notAfter: {e}")))
}

/// Write `bytes` to `path`; secret files are created with mode 0600 (and set to it if they
/// already existed).
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), DevPkiError> {
    let io = |source| DevPkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        opts.mode(0o600);
        // An existing file keeps its mode on open: tighten it before writing the key.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chop_seal::keys::Signer as _;
    use x509_parser::prelude::*;

    fn pki() -> DevPki {
        DevPki::generate(&DevPkiOptions::default()).unwrap()
    }

    #[test]
    fn default_org_id_is_a_valid_uscc() {
        codes::validate_uscc(DEFAULT_ORG_ID).unwrap();
        assert_eq!(codes::uscc_check_char(&DEFAULT_ORG_ID[..17]).unwrap(), 'J');
    }

    #[test]
    fn wrong_check_character_is_refused_naming_the_expected_one() {
        let opts = DevPkiOptions {
            org_id: "11320100MB0000000X".into(),
            ..Default::default()
        };
        let err = DevPki::generate(&opts).unwrap_err();
        assert!(matches!(err, DevPkiError::OrgId(_)));
        assert_eq!(
            err.to_string(),
            "统一社会信用代码 11320100MB0000000X: check character is 'X', expected 'J'"
        );
    }

    #[test]
    fn certificates_have_the_documented_profiles() {
        let p = pki();
        let root = chop_seal::certs::parse(&p.root_ca.cert_der).unwrap();
        let issuing = chop_seal::certs::parse(&p.issuing_ca.cert_der).unwrap();
        let maker = chop_seal::certs::parse(&p.seal_maker.cert_der).unwrap();
        let signer = chop_seal::certs::parse(&p.signer.cert_der).unwrap();

        for c in [&root, &issuing, &maker, &signer] {
            let cn = c
                .subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap();
            assert!(cn.ends_with(DEV_MARK), "{cn}");
            assert_eq!(
                c.signature_algorithm.algorithm.to_id_string(),
                "1.2.840.10045.4.3.2"
            );
        }

        // Root: CA, self-signed, ~20 years.
        let bc = root.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(root.subject(), root.issuer());
        let years = |c: &X509Certificate| {
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp())
                / (365 * 86400)
        };
        assert_eq!(years(&root), 20);
        root.verify_signature(None).unwrap();

        // Issuing CA: pathLen 0, issued by the root, AKI = root SKI.
        let bc = issuing.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        assert_eq!(issuing.issuer(), root.subject());
        issuing.verify_signature(Some(root.public_key())).unwrap();

        // Maker and signer: issued by the issuing CA, not CAs, digitalSignature + nonRepudiation.
        for c in [&maker, &signer] {
            assert_eq!(c.issuer(), issuing.subject());
            c.verify_signature(Some(issuing.public_key())).unwrap();
            let ku = c.key_usage().unwrap().unwrap();
            assert!(ku.critical);
            assert!(ku.value.digital_signature());
            assert!(ku.value.non_repudiation());
            assert!(!ku.value.key_cert_sign());
            assert!(!c.basic_constraints().unwrap().unwrap().value.ca);
        }

        // Signer: legal-person subject, SKI/AKI, 3 years.
        let subject = signer.subject().to_string();
        assert!(
            subject.starts_with("C=CN, O=南京市示例区行政审批局"),
            "{subject}"
        );
        let oi: Vec<_> = signer
            .subject()
            .iter_by_oid(&x509_parser::oid_registry::Oid::from(&[2, 5, 4, 97]).unwrap())
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(oi, vec![format!("NTRCN-{DEFAULT_ORG_ID}")]);
        assert!(subject.ends_with(&format!("CN=行政审批专用章{DEV_MARK}")));
        let mut ski = None;
        let mut aki = None;
        for ext in signer.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }
        assert!(ski.is_some());
        let issuing_ski = issuing
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        assert_eq!(aki, issuing_ski);
        assert_eq!(years(&signer), 3);
    }

    #[test]
    fn keys_match_certificates() {
        let p = pki();
        for c in [&p.root_ca, &p.issuing_ca, &p.seal_maker, &p.signer] {
            assert_eq!(
                c.signer().public_key(),
                chop_seal::certs::public_key(&c.cert_der)
                    .unwrap()
                    .as_slice()
            );
        }
        assert!(!format!("{:?}", p.signer).contains("key_pkcs8"));
    }

    #[test]
    fn seal_is_for_the_signer_and_valid_until_the_signer_expires() {
        let p = pki();
        let seal = SESeal::from_der(&p.seal.to_der()).unwrap();
        seal.verify_maker_signature().unwrap();
        assert!(seal.allows_signer(&p.signer.cert_der));
        assert_eq!(seal.maker_cert_der(), p.seal_maker.cert_der.as_slice());
        let info = seal.info();
        assert_eq!(info.seal_type, SealType::Approval);
        assert_eq!(info.name, "行政审批专用章");
        assert_eq!(info.org_id.as_deref(), Some(DEFAULT_ORG_ID));
        assert_eq!(info.org_name.as_deref(), Some(DEFAULT_ORG_NAME));
        assert_eq!(info.picture_png, p.seal_png);
        assert_eq!(info.picture_width_mm, 42);
        assert!(info.es_id.starts_with(DEFAULT_ORG_ID));
        assert_eq!(info.valid_end, x509_not_after(&p.signer.cert_der).unwrap());
        seal.check_validity(OffsetDateTime::now_utc()).unwrap();
    }

    #[test]
    fn issue_signer_gives_a_second_signer_from_the_same_issuing_ca() {
        let p = pki();
        let other = p
            .issue_signer("测试局", "91350100M000100Y43", "合同专用章")
            .unwrap();
        let issuing = chop_seal::certs::parse(&p.issuing_ca.cert_der).unwrap();
        let c = chop_seal::certs::parse(&other.cert_der).unwrap();
        assert_eq!(c.issuer().as_raw(), issuing.subject().as_raw());
        c.verify_signature(Some(issuing.public_key())).unwrap();
        assert!(other.subject().contains("NTRCN-91350100M000100Y43"));
        assert!(!p.seal.allows_signer(&other.cert_der));
        assert!(matches!(
            p.issue_signer("测试局", "91350100M000100Y44", "合同专用章"),
            Err(DevPkiError::OrgId(_))
        ));
    }

    #[test]
    fn write_to_writes_every_file_with_private_keys_0600() {
        let p = pki();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        p.write_to(&out).unwrap();
        for f in DevPki::FILES {
            assert!(out.join(f).is_file(), "{f}");
        }
        let chain = std::fs::read_to_string(out.join("chain.pem")).unwrap();
        let ders = chop_seal::certs::certificates_from_pem(&chain).unwrap();
        assert_eq!(
            ders,
            vec![p.issuing_ca.cert_der.clone(), p.root_ca.cert_der.clone()]
        );
        let key = std::fs::read_to_string(out.join("signer.key.pem")).unwrap();
        SoftwareKey::from_pkcs8_pem(&key).unwrap();
        assert_eq!(
            std::fs::read(out.join("seal.der")).unwrap(),
            p.seal.to_der()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for f in DevPki::FILES.iter().filter(|f| f.ends_with(".key.pem")) {
                let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        // Writing again over existing files works.
        p.write_to(&out).unwrap();
    }

    /// The chain verifies with OpenSSL (a judge nobody here wrote), when it is installed.
    #[test]
    fn openssl_verifies_the_chain_when_present() {
        let Ok(out) = std::process::Command::new("openssl")
            .arg("version")
            .output()
        else {
            eprintln!("openssl not installed: skipping");
            return;
        };
        assert!(out.status.success());
        let p = pki();
        let dir = tempfile::tempdir().unwrap();
        p.write_to(dir.path()).unwrap();
        for leaf in ["signer.crt.pem", "seal-maker.crt.pem"] {
            let out = std::process::Command::new("openssl")
                .arg("verify")
                .arg("-x509_strict")
                .arg("-CAfile")
                .arg(dir.path().join("root-ca.crt.pem"))
                .arg("-untrusted")
                .arg(dir.path().join("issuing-ca.crt.pem"))
                .arg(dir.path().join(leaf))
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains(": OK"),
                "openssl verify {leaf}: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    #[test]
    fn official_seal_options_work() {
        let opts = DevPkiOptions {
            seal_type: SealType::Official,
            seal_name: "法定名称章".into(),
            ..Default::default()
        };
        let p = DevPki::generate(&opts).unwrap();
        assert_eq!(p.seal.info().seal_type, SealType::Official);
    }
}
