//! GB/T 38540-2020 electronic seal object (`SESeal`, version 4), DER encoding, decoding and
//! verification of the seal maker's (制章者) signature.
//!
//! ```text
//! SESeal ::= SEQUENCE {                      -- GB/T 38540-2020 §7.1
//!   eSealInfo    SES_SealInfo,
//!   cert         OCTET STRING,               -- the seal maker's certificate (DER)
//!   signAlgID    OBJECT IDENTIFIER,
//!   signedValue  BIT STRING }                -- maker's signature over DER(eSealInfo)
//! SES_SealInfo ::= SEQUENCE {
//!   header SES_Header, esID IA5String, property SES_ESPropertyInfo,
//!   picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }
//! SES_Header ::= SEQUENCE { id IA5String ("ES"), version INTEGER (4), vid IA5String }
//! SES_ESPropertyInfo ::= SEQUENCE { type INTEGER, name UTF8String, certListType INTEGER (1),
//!   certList SEQUENCE OF OCTET STRING, createDate GeneralizedTime,
//!   validStart GeneralizedTime, validEnd GeneralizedTime }
//! SES_ESPictrueInfo ::= SEQUENCE { type IA5String ("PNG"), data OCTET STRING,
//!   width INTEGER, height INTEGER }          -- printed size in millimetres
//! ExtensionDatas ::= SEQUENCE OF ExtData
//! ExtData ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE,
//!   extnValue OCTET STRING }
//! ```
//!
//! The organisation's 统一社会信用代码 and name travel in `extDatas` under
//! [`OID_CHOP_EXT_ORG_ID`] and [`OID_CHOP_EXT_ORG_NAME`] (a DER UTF8String inside the OCTET
//! STRING). Times are kept to the second, in UTC. Decoding keeps the exact bytes of
//! `eSealInfo` so the maker's signature is checked over what was signed, and never panics.
//! The layout and the seal type codes are documented in docs/FORMATS.md, "Seal object".

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, Ia5String, OctetString};
use der::{Decode, Encode, Sequence};
use time::OffsetDateTime;

use crate::certs;
use crate::codes::{self, CodeError};
use crate::keys::{self, KeyError, SignatureAlgorithm, Signer};

/// Chop's private OID arc (see docs/FORMATS.md, "Object identifiers").
pub const OID_CHOP_ARC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.61979");
/// CMS signed attribute carrying the DER `SESeal` (value: the seal as an OCTET STRING).
pub const OID_CHOP_SESEAL_ATTRIBUTE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.61979.1.1");
/// `SES_SealInfo.extDatas` entry: the organisation's 统一社会信用代码 (UTF8String).
pub const OID_CHOP_EXT_ORG_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.61979.2.1");
/// `SES_SealInfo.extDatas` entry: the organisation's name (UTF8String).
pub const OID_CHOP_EXT_ORG_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.61979.2.2");

/// `SES_Header.id`: always "ES" (GB/T 38540-2020 §7.2).
pub const HEADER_ID: &str = "ES";
/// `SES_Header.version`: 4 for GB/T 38540-2020.
pub const SESEAL_VERSION: i64 = 4;
/// The vendor identifier (`SES_Header.vid`) Chop writes by default.
pub const CHOP_VID: &str = "CHOP";
/// `certListType` value for a list of whole DER certificates (the only one supported).
pub const CERT_LIST_TYPE_CERTS: i64 = 1;
/// `certListType` value for a list of certificate digests (not supported).
pub const CERT_LIST_TYPE_DIGESTS: i64 = 2;
/// The standard printed size of a round official seal, in millimetres.
pub const STANDARD_SEAL_DIAMETER_MM: u32 = 42;

/// The purpose of a seal (`SES_ESPropertyInfo.type`); codes are Chop's, see docs/FORMATS.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealType {
    /// 法定名称章: the organisation's name seal (code 1, GM/T 0031 "单位印章").
    Official,
    /// 行政审批专用章: administrative approval seal (code 11).
    Approval,
    /// 电子证照专用章: e-licence seal (code 12).
    Licence,
    /// 财务专用章: finance seal (code 13).
    Finance,
    /// 合同专用章: contract seal (code 14).
    Contract,
    /// 其他专用章: any other special-purpose seal (code 99).
    Other,
}

impl SealType {
    /// Every seal type, in code order.
    pub const ALL: [SealType; 6] = [
        Self::Official,
        Self::Approval,
        Self::Licence,
        Self::Finance,
        Self::Contract,
        Self::Other,
    ];

    /// The integer written in `SES_ESPropertyInfo.type`.
    pub fn code(self) -> i64 {
        match self {
            Self::Official => 1,
            Self::Approval => 11,
            Self::Licence => 12,
            Self::Finance => 13,
            Self::Contract => 14,
            Self::Other => 99,
        }
    }

    /// The seal type for an integer code, if Chop knows it.
    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The Chinese name, e.g. `行政审批专用章`.
    pub fn zh(self) -> &'static str {
        match self {
            Self::Official => "法定名称章",
            Self::Approval => "行政审批专用章",
            Self::Licence => "电子证照专用章",
            Self::Finance => "财务专用章",
            Self::Contract => "合同专用章",
            Self::Other => "其他专用章",
        }
    }

    /// The ASCII name used on the command line and in JSON, e.g. `approval`.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Official => "official",
            Self::Approval => "approval",
            Self::Licence => "licence",
            Self::Finance => "finance",
            Self::Contract => "contract",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for SealType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.zh(), self.slug())
    }
}

/// A seal type name that is none of the slugs, Chinese names or codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown seal type '{0}': use official, approval, licence, finance, contract, other, their Chinese names or codes 1, 11, 12, 13, 14, 99"
)]
pub struct UnknownSealType(pub String);

impl FromStr for SealType {
    type Err = UnknownSealType;

    /// Accepts the slug (`approval`, case-insensitive; `license` too), the Chinese name
    /// (`行政审批专用章`) or the integer code (`11`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|st| {
                st.slug() == lower
                    || st.zh() == t
                    || t.parse::<i64>().ok() == Some(st.code())
                    || (lower == "license" && *st == Self::Licence)
            })
            .ok_or_else(|| UnknownSealType(s.to_string()))
    }
}

/// The content of `SES_SealInfo`, in Rust terms (GB/T 38540-2020 §7.2–7.5).
#[derive(Clone, PartialEq, Eq)]
pub struct SealInfo {
    /// `header.vid`: the vendor (manufacturer) identifier, ASCII.
    pub vid: String,
    /// `esID`: unique identifier of this seal, ASCII (see [`new_es_id`]).
    pub es_id: String,
    /// `property.type`.
    pub seal_type: SealType,
    /// `property.name`: the seal's name, e.g. `行政审批专用章`.
    pub name: String,
    /// `property.certList`: DER certificates of the signers allowed to use this seal.
    pub cert_list: Vec<Vec<u8>>,
    /// `property.createDate`.
    pub create_date: OffsetDateTime,
    /// `property.validStart`: first instant the seal may be used.
    pub valid_start: OffsetDateTime,
    /// `property.validEnd`: last instant the seal may be used.
    pub valid_end: OffsetDateTime,
    /// `picture.data` (type "PNG").
    pub picture_png: Vec<u8>,
    /// `picture.width`, printed width in millimetres.
    pub picture_width_mm: u32,
    /// `picture.height`, printed height in millimetres.
    pub picture_height_mm: u32,
    /// The organisation's 统一社会信用代码 (`extDatas`, [`OID_CHOP_EXT_ORG_ID`]).
    pub org_id: Option<String>,
    /// The organisation's name (`extDatas`, [`OID_CHOP_EXT_ORG_NAME`]).
    pub org_name: Option<String>,
}

impl fmt::Debug for SealInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealInfo")
            .field("vid", &self.vid)
            .field("es_id", &self.es_id)
            .field("seal_type", &self.seal_type)
            .field("name", &self.name)
            .field(
                "cert_list",
                &format_args!("[{} certificates]", self.cert_list.len()),
            )
            .field("create_date", &self.create_date)
            .field("valid_start", &self.valid_start)
            .field("valid_end", &self.valid_end)
            .field(
                "picture_png",
                &format_args!("[{} bytes]", self.picture_png.len()),
            )
            .field("picture_width_mm", &self.picture_width_mm)
            .field("picture_height_mm", &self.picture_height_mm)
            .field("org_id", &self.org_id)
            .field("org_name", &self.org_name)
            .finish()
    }
}

/// An `ExtData` entry (GB/T 38540-2020 §7.2) that Chop does not interpret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtData {
    /// `extnID`.
    pub oid: ObjectIdentifier,
    /// `critical`.
    pub critical: bool,
    /// `extnValue` contents.
    pub value: Vec<u8>,
}

/// Why a seal object could not be made, read, or accepted. One line, naming the problem.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The bytes are not a DER `SESeal`.
    #[error("not a GB/T 38540 seal object (DER SESeal): {0}")]
    Decode(String),
    /// The header is not `ES`, version 4.
    #[error("unsupported seal header: id {id:?}, version {version} (expected \"ES\", version 4)")]
    UnsupportedHeader { id: String, version: i64 },
    /// `property.type` is not a code Chop knows.
    #[error("unknown seal type code {0} (see docs/FORMATS.md, \"Seal types\")")]
    UnknownSealTypeCode(i64),
    /// `certListType` is not 1 (whole certificates).
    #[error("unsupported certListType {0}: only 1 (a list of DER certificates) is supported")]
    UnsupportedCertListType(i64),
    /// The picture is not PNG.
    #[error("unsupported seal picture type {0:?}: only PNG is supported")]
    UnsupportedPictureType(String),
    /// An extension Chop does not understand is marked critical.
    #[error("the seal carries an unknown critical extension {0}")]
    UnknownCriticalExtension(ObjectIdentifier),
    /// A field has a value the standard or Chop does not allow.
    #[error("invalid seal field {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    /// The organisation code is not a valid 统一社会信用代码.
    #[error(transparent)]
    OrgId(#[from] CodeError),
    /// The maker certificate cannot be read.
    #[error("the seal maker certificate is not a valid X.509 certificate: {0}")]
    BadMakerCertificate(String),
    /// The maker key and the maker certificate hold different public keys.
    #[error("the seal maker key does not match the seal maker certificate {subject}")]
    MakerKeyMismatch { subject: String },
    /// The maker could not sign.
    #[error("the seal maker key could not sign: {0}")]
    Signing(#[from] KeyError),
    /// `signAlgID` is not an algorithm Chop verifies.
    #[error("unsupported seal signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    /// The maker's signature over `eSealInfo` is wrong.
    #[error("the seal maker's signature does not verify")]
    MakerSignatureInvalid,
    /// Used before `validStart`.
    #[error("the seal is not valid until {}", show_time(*.valid_start))]
    NotYetValid { valid_start: OffsetDateTime },
    /// Used after `validEnd`.
    #[error("the seal expired on {}", show_time(*.valid_end))]
    Expired { valid_end: OffsetDateTime },
    /// The signer certificate is not in `certList`.
    #[error("signer certificate {subject} is not in the seal's certList")]
    SignerNotAllowed { subject: String },
}

/// A time as shown in messages: `2029-01-01 23:59:59 UTC`.
pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A time as RFC 3339 in UTC, e.g. `2029-01-01T23:59:59Z` (used in JSON).
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| show_time(t))
}

/// A fresh `esID`: the organisation's USCC, then 14 digits (`YYMMDD` of today in UTC and 8
/// random digits), e.g. `11320100MB0000000J` + `25060112345678` (documented in docs/FORMATS.md).
pub fn new_es_id(org_id: &str) -> Result<String, SealError> {
    codes::validate_uscc(org_id)?;
    let now = OffsetDateTime::now_utc();
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| SealError::Signing(KeyError::SigningFailed))?;
    let random = u64::from_be_bytes(bytes) % 100_000_000;
    Ok(format!(
        "{org_id}{:02}{:02}{:02}{random:08}",
        (now.year() % 100).unsigned_abs(),
        u8::from(now.month()),
        now.day()
    ))
}

// ---- DER wire structures (GB/T 38540-2020 §7) ----

#[derive(Clone, Debug, Sequence)]
struct HeaderWire {
    id: Ia5String,
    version: i64,
    vid: Ia5String,
}

#[derive(Clone, Debug, Sequence)]
struct PropertyWire {
    seal_type: i64,
    name: String,
    cert_list_type: i64,
    /// `SEQUENCE OF OCTET STRING` when `cert_list_type` is 1; kept raw to report other types.
    cert_list: Any,
    create_date: GeneralizedTime,
    valid_start: GeneralizedTime,
    valid_end: GeneralizedTime,
}

#[derive(Clone, Debug, Sequence)]
struct PictureWire {
    picture_type: Ia5String,
    data: OctetString,
    width: i64,
    height: i64,
}

#[derive(Clone, Debug, Sequence)]
struct ExtDataWire {
    extn_id: ObjectIdentifier,
    #[asn1(default = "Default::default")]
    critical: bool,
    extn_value: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct SealInfoWire {
    header: HeaderWire,
    es_id: Ia5String,
    property: PropertyWire,
    picture: PictureWire,
    ext_datas: Option<Vec<ExtDataWire>>,
}

#[derive(Clone, Debug, Sequence)]
struct SESealWire {
    e_seal_info: Any,
    cert: OctetString,
    sign_alg_id: ObjectIdentifier,
    signed_value: BitString,
}

fn der_err(e: der::Error) -> SealError {
    SealError::Decode(e.to_string())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SealError {
    SealError::InvalidField {
        field,
        reason: reason.into(),
    }
}

fn to_gtime(field: &'static str, t: OffsetDateTime) -> Result<GeneralizedTime, SealError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| invalid(field, "times before 1970 cannot be encoded"))?;
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| invalid(field, format!("{} cannot be encoded", show_time(t))))
}

fn from_gtime(field: &'static str, t: &GeneralizedTime) -> Result<OffsetDateTime, SealError> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| invalid(field, "time out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|_| invalid(field, "time out of range"))
}

/// Drop sub-second precision (DER GeneralizedTime here carries whole seconds) and move to UTC.
fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0).unwrap_or(t)
}

fn ia5(field: &'static str, s: &str) -> Result<Ia5String, SealError> {
    Ia5String::new(s).map_err(|_| invalid(field, format!("{s:?} is not ASCII (IA5String)")))
}

fn utf8_ext(oid: ObjectIdentifier, s: &str) -> Result<ExtDataWire, SealError> {
    let inner = s.to_string().to_der().map_err(der_err)?;
    Ok(ExtDataWire {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(inner).map_err(der_err)?,
    })
}

/// The PNG's pixel size, if it is a PNG.
fn png_pixel_size(png: &[u8]) -> Option<(u32, u32)> {
    crate::picture::png_size_px(png).ok()
}

impl SealInfo {
    /// Check the fields before encoding (ASCII ids, names, PNG, sizes, dates, certificates, USCC).
    fn validate(&self) -> Result<(), SealError> {
        ia5("vid", &self.vid)?;
        ia5("esID", &self.es_id)?;
        if self.es_id.is_empty() {
            return Err(invalid("esID", "must not be empty"));
        }
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if self.cert_list.is_empty() {
            return Err(invalid(
                "certList",
                "at least one signer certificate is required",
            ));
        }
        for (i, c) in self.cert_list.iter().enumerate() {
            certs::parse(c).map_err(|e| {
                invalid(
                    "certList",
                    format!("certificate {} is not valid: {e}", i + 1),
                )
            })?;
        }
        if self.valid_start > self.valid_end {
            return Err(invalid(
                "validity",
                format!(
                    "validStart {} is after validEnd {}",
                    show_time(self.valid_start),
                    show_time(self.valid_end)
                ),
            ));
        }
        crate::picture::png_size_px(&self.picture_png)
            .map_err(|e| invalid("picture", e.to_string()))?;
        if self.picture_width_mm == 0 || self.picture_height_mm == 0 {
            return Err(invalid(
                "picture",
                "the printed width and height must be at least 1 mm",
            ));
        }
        if let Some(id) = &self.org_id {
            codes::validate_uscc(id)?;
        }
        if self
            .org_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(invalid("org_name", "must not be empty when present"));
        }
        Ok(())
    }

    fn to_wire(&self) -> Result<SealInfoWire, SealError> {
        let cert_list: Vec<OctetString> = self
            .cert_list
            .iter()
            .map(|c| OctetString::new(c.clone()))
            .collect::<Result<_, _>>()
            .map_err(der_err)?;
        let mut ext = Vec::new();
        if let Some(id) = &self.org_id {
            ext.push(utf8_ext(OID_CHOP_EXT_ORG_ID, id)?);
        }
        if let Some(name) = &self.org_name {
            ext.push(utf8_ext(OID_CHOP_EXT_ORG_NAME, name)?);
        }
        Ok(SealInfoWire {
            header: HeaderWire {
                id: ia5("header.id", HEADER_ID)?,
                version: SESEAL_VERSION,
                vid: ia5("vid", &self.vid)?,
            },
            es_id: ia5("esID", &self.es_id)?,
            property: PropertyWire {
                seal_type: self.seal_type.code(),
                name: self.name.clone(),
                cert_list_type: CERT_LIST_TYPE_CERTS,
                cert_list: Any::encode_from(&cert_list).map_err(der_err)?,
                create_date: to_gtime("createDate", self.create_date)?,
                valid_start: to_gtime("validStart", self.valid_start)?,
                valid_end: to_gtime("validEnd", self.valid_end)?,
            },
            picture: PictureWire {
                picture_type: ia5("picture.type", "PNG")?,
                data: OctetString::new(self.picture_png.clone()).map_err(der_err)?,
                width: i64::from(self.picture_width_mm),
                height: i64::from(self.picture_height_mm),
            },
            ext_datas: if ext.is_empty() { None } else { Some(ext) },
        })
    }

    fn from_wire(w: SealInfoWire) -> Result<(Self, Vec<ExtData>), SealError> {
        let id = w.header.id.to_string();
        if id != HEADER_ID || w.header.version != SESEAL_VERSION {
            return Err(SealError::UnsupportedHeader {
                id,
                version: w.header.version,
            });
        }
        let p = w.property;
        let seal_type =
            SealType::from_code(p.seal_type).ok_or(SealError::UnknownSealTypeCode(p.seal_type))?;
        if p.cert_list_type != CERT_LIST_TYPE_CERTS {
            return Err(SealError::UnsupportedCertListType(p.cert_list_type));
        }
        let cert_list: Vec<OctetString> = p.cert_list.decode_as().map_err(der_err)?;
        let pic = w.picture;
        let pic_type = pic.picture_type.to_string();
        if !pic_type.eq_ignore_ascii_case("PNG") {
            return Err(SealError::UnsupportedPictureType(pic_type));
        }
        let mm = |field: &'static str, v: i64| {
            u32::try_from(v).map_err(|_| invalid(field, format!("{v} is not a size in mm")))
        };
        let mut org_id = None;
        let mut org_name = None;
        let mut others = Vec::new();
        for e in w.ext_datas.unwrap_or_default() {
            let utf8 = |field: &'static str| {
                String::from_der(e.extn_value.as_bytes())
                    .map_err(|err| invalid(field, format!("not a DER UTF8String: {err}")))
            };
            if e.extn_id == OID_CHOP_EXT_ORG_ID {
                org_id = Some(utf8("extDatas org id")?);
            } else if e.extn_id == OID_CHOP_EXT_ORG_NAME {
                org_name = Some(utf8("extDatas org name")?);
            } else if e.critical {
                return Err(SealError::UnknownCriticalExtension(e.extn_id));
            } else {
                others.push(ExtData {
                    oid: e.extn_id,
                    critical: e.critical,
                    value: e.extn_value.as_bytes().to_vec(),
                });
            }
        }
        let info = SealInfo {
            vid: w.header.vid.to_string(),
            es_id: w.es_id.to_string(),
            seal_type,
            name: p.name,
            cert_list: cert_list
                .into_iter()
                .map(|c| c.as_bytes().to_vec())
                .collect(),
            create_date: from_gtime("createDate", &p.create_date)?,
            valid_start: from_gtime("validStart", &p.valid_start)?,
            valid_end: from_gtime("validEnd", &p.valid_end)?,
            picture_png: pic.data.as_bytes().to_vec(),
            picture_width_mm: mm("picture.width", pic.width)?,
            picture_height_mm: mm("picture.height", pic.height)?,
            org_id,
            org_name,
        };
        Ok((info, others))
    }
}

/// A GB/T 38540-2020 `SESeal` v4: the seal information and the seal maker's signature over it.
#[derive(Clone, PartialEq, Eq)]
pub struct SESeal {
    info: SealInfo,
    unknown_extensions: Vec<ExtData>,
    /// The exact DER of `eSealInfo` the maker signed.
    info_der: Vec<u8>,
    maker_cert_der: Vec<u8>,
    sign_alg: ObjectIdentifier,
    signature: Vec<u8>,
    der: Vec<u8>,
}

impl fmt::Debug for SESeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SESeal")
            .field("info", &self.info)
            .field("unknown_extensions", &self.unknown_extensions.len())
            .field("maker", &subject_or_fingerprint(&self.maker_cert_der))
            .field("sign_alg", &self.sign_alg)
            .field("der", &format_args!("[{} bytes]", self.der.len()))
            .finish_non_exhaustive()
    }
}

fn algorithm_for(oid: &ObjectIdentifier) -> Option<SignatureAlgorithm> {
    [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::RsaPkcs1Sha256,
        SignatureAlgorithm::Ed25519,
    ]
    .into_iter()
    .find(|a| a.oid() == *oid)
}

/// A certificate's subject for messages, or a fingerprint when it cannot be parsed.
fn subject_or_fingerprint(cert_der: &[u8]) -> String {
    certs::subject(cert_der)
        .unwrap_or_else(|_| format!("(sha256 {})", certs::fingerprint_sha256(cert_der)))
}

impl SESeal {
    /// Make a seal: validate `info`, check that `maker` holds the key of `maker_cert_der`, and
    /// sign DER(`SES_SealInfo`) with it (GB/T 38540-2020 §7.1). Times are cut to whole seconds.
    pub fn make(
        mut info: SealInfo,
        maker: &dyn Signer,
        maker_cert_der: &[u8],
    ) -> Result<SESeal, SealError> {
        info.create_date = whole_seconds(info.create_date);
        info.valid_start = whole_seconds(info.valid_start);
        info.valid_end = whole_seconds(info.valid_end);
        info.validate()?;
        let maker_pk = certs::public_key(maker_cert_der)
            .map_err(|e| SealError::BadMakerCertificate(e.to_string()))?;
        if maker_pk != maker.public_key() {
            return Err(SealError::MakerKeyMismatch {
                subject: subject_or_fingerprint(maker_cert_der),
            });
        }
        let info_der = info.to_wire()?.to_der().map_err(der_err)?;
        let alg = maker.algorithm();
        let signature = maker.sign(&info_der)?;
        let wire = SESealWire {
            e_seal_info: Any::from_der(&info_der).map_err(der_err)?,
            cert: OctetString::new(maker_cert_der.to_vec()).map_err(der_err)?,
            sign_alg_id: alg.oid(),
            signed_value: BitString::from_bytes(&signature).map_err(der_err)?,
        };
        let der = wire.to_der().map_err(der_err)?;
        Ok(SESeal {
            info,
            unknown_extensions: Vec::new(),
            info_der,
            maker_cert_der: maker_cert_der.to_vec(),
            sign_alg: alg.oid(),
            signature,
            der,
        })
    }

    /// Decode a DER `SESeal` v4, keeping the signed bytes of `eSealInfo` as they are.
    ///
    /// Does not verify the signature (see [`SESeal::verify_maker_signature`]); never panics.
    pub fn from_der(der: &[u8]) -> Result<SESeal, SealError> {
        let wire = SESealWire::from_der(der).map_err(der_err)?;
        let info_der = wire.e_seal_info.to_der().map_err(der_err)?;
        let info_wire = SealInfoWire::from_der(&info_der).map_err(der_err)?;
        let (info, unknown_extensions) = SealInfo::from_wire(info_wire)?;
        let signature = wire
            .signed_value
            .as_bytes()
            .ok_or_else(|| invalid("signedValue", "the BIT STRING has unused bits"))?
            .to_vec();
        Ok(SESeal {
            info,
            unknown_extensions,
            info_der,
            maker_cert_der: wire.cert.as_bytes().to_vec(),
            sign_alg: wire.sign_alg_id,
            signature,
            der: der.to_vec(),
        })
    }

    /// The DER encoding of the whole `SESeal`.
    pub fn to_der(&self) -> Vec<u8> {
        self.der.clone()
    }

    /// The DER encoding, borrowed.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The seal information.
    pub fn info(&self) -> &SealInfo {
        &self.info
    }

    /// The exact DER of `eSealInfo` covered by the maker's signature.
    pub fn info_der(&self) -> &[u8] {
        &self.info_der
    }

    /// `extDatas` entries other than the organisation id and name, as decoded.
    pub fn unknown_extensions(&self) -> &[ExtData] {
        &self.unknown_extensions
    }

    /// The seal maker's certificate (DER).
    pub fn maker_cert_der(&self) -> &[u8] {
        &self.maker_cert_der
    }

    /// `signAlgID`.
    pub fn signature_algorithm_oid(&self) -> ObjectIdentifier {
        self.sign_alg
    }

    /// `signAlgID` as an algorithm Chop knows, if it is one.
    pub fn signature_algorithm(&self) -> Option<SignatureAlgorithm> {
        algorithm_for(&self.sign_alg)
    }

    /// `signedValue`.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Verify the maker's signature over the exact `eSealInfo` bytes with the public key of
    /// the maker certificate in `cert` (GB/T 38540-2020 §8, seal verification step 2).
    ///
    /// This does not validate the maker certificate's chain (that needs trust anchors).
    pub fn verify_maker_signature(&self) -> Result<(), SealError> {
        let alg = self
            .signature_algorithm()
            .ok_or(SealError::UnsupportedSignatureAlgorithm(self.sign_alg))?;
        let pk = certs::public_key(&self.maker_cert_der)
            .map_err(|e| SealError::BadMakerCertificate(e.to_string()))?;
        if keys::verify_signature(alg, &pk, &self.info_der, &self.signature) {
            Ok(())
        } else {
            Err(SealError::MakerSignatureInvalid)
        }
    }

    /// Whether `cert_der` is byte-for-byte one of the certificates in `certList`.
    pub fn allows_signer(&self, cert_der: &[u8]) -> bool {
        self.info.cert_list.iter().any(|c| c.as_slice() == cert_der)
    }

    /// Like [`SESeal::allows_signer`], with an error naming the certificate's subject.
    pub fn require_signer(&self, cert_der: &[u8]) -> Result<(), SealError> {
        if self.allows_signer(cert_der) {
            Ok(())
        } else {
            Err(SealError::SignerNotAllowed {
                subject: subject_or_fingerprint(cert_der),
            })
        }
    }

    /// Whether `at` lies in `[validStart, validEnd]` (both ends included).
    pub fn check_validity(&self, at: OffsetDateTime) -> Result<(), SealError> {
        if at < self.info.valid_start {
            Err(SealError::NotYetValid {
                valid_start: self.info.valid_start,
            })
        } else if at > self.info.valid_end {
            Err(SealError::Expired {
                valid_end: self.info.valid_end,
            })
        } else {
            Ok(())
        }
    }

    /// Every field as JSON: the picture as size and SHA-256, certificates as subjects and
    /// SHA-256 fingerprints, and whether the maker signature verifies.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let i = &self.info;
        let cert_json = |der: &[u8]| {
            let parsed = certs::parse(der).ok();
            json!({
                "subject": parsed.as_ref().map(|c| c.subject().to_string()),
                "issuer": parsed.as_ref().map(|c| c.issuer().to_string()),
                "not_before": parsed.as_ref().and_then(|c| OffsetDateTime::from_unix_timestamp(c.validity().not_before.timestamp()).ok()).map(rfc3339),
                "not_after": parsed.as_ref().and_then(|c| OffsetDateTime::from_unix_timestamp(c.validity().not_after.timestamp()).ok()).map(rfc3339),
                "sha256": certs::fingerprint_sha256(der),
                "parses": parsed.is_some(),
            })
        };
        let verification = self.verify_maker_signature();
        json!({
            "format": "GB/T 38540-2020 SESeal",
            "header": { "id": HEADER_ID, "version": SESEAL_VERSION, "vid": i.vid },
            "es_id": i.es_id,
            "type": { "code": i.seal_type.code(), "slug": i.seal_type.slug(), "name": i.seal_type.zh() },
            "name": i.name,
            "org_id": i.org_id,
            "org_name": i.org_name,
            "cert_list_type": CERT_LIST_TYPE_CERTS,
            "cert_list": i.cert_list.iter().map(|c| cert_json(c)).collect::<Vec<_>>(),
            "create_date": rfc3339(i.create_date),
            "valid_start": rfc3339(i.valid_start),
            "valid_end": rfc3339(i.valid_end),
            "picture": {
                "type": "PNG",
                "bytes": i.picture_png.len(),
                "sha256": hex::encode(ring::digest::digest(&ring::digest::SHA256, &i.picture_png)),
                "width_mm": i.picture_width_mm,
                "height_mm": i.picture_height_mm,
                "width_px": png_pixel_size(&i.picture_png).map(|s| s.0),
                "height_px": png_pixel_size(&i.picture_png).map(|s| s.1),
            },
            "other_extensions": self.unknown_extensions.iter().map(|e| json!({
                "oid": e.oid.to_string(), "critical": e.critical, "value_hex": hex::encode(&e.value),
            })).collect::<Vec<_>>(),
            "maker_cert": cert_json(&self.maker_cert_der),
            "signature_algorithm": {
                "oid": self.sign_alg.to_string(),
                "name": self.signature_algorithm().map(|a| a.name()),
            },
            "maker_signature": {
                "verifies": verification.is_ok(),
                "error": verification.err().map(|e| e.to_string()),
            },
            "der_bytes": self.der.len(),
            "der_sha256": hex::encode(ring::digest::digest(&ring::digest::SHA256, &self.der)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftwareKey;
    use der::Tagged as _;
    use proptest::prelude::*;
    use time::macros::datetime;

    /// RFC 5280 §4.1 `TBSCertificate` (v3, no extensions), enough for these tests.
    #[derive(Sequence)]
    struct TestTbs {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
        version: u8,
        serial: u64,
        signature: x509_cert::spki::AlgorithmIdentifierOwned,
        issuer: x509_cert::name::Name,
        validity: x509_cert::time::Validity,
        subject: x509_cert::name::Name,
        spki: x509_cert::spki::SubjectPublicKeyInfoOwned,
    }

    /// RFC 5280 §4.1 `Certificate`.
    #[derive(Sequence)]
    struct TestCert {
        tbs: TestTbs,
        alg: x509_cert::spki::AlgorithmIdentifierOwned,
        sig: BitString,
    }

    /// A self-signed certificate for `key`, built by hand with `der` so these tests do not
    /// depend on the development PKI crate.
    fn self_signed(key: &SoftwareKey, cn: &str) -> Vec<u8> {
        use std::str::FromStr as _;
        use x509_cert::spki::AlgorithmIdentifierOwned;

        let alg = key.algorithm();
        let curve = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => const_oid::db::rfc5912::SECP_256_R_1,
            SignatureAlgorithm::EcdsaP384Sha384 => const_oid::db::rfc5912::SECP_384_R_1,
            _ => panic!("test helper supports ECDSA only"),
        };
        let sig_alg = AlgorithmIdentifierOwned {
            oid: alg.oid(),
            parameters: None,
        };
        let name = x509_cert::name::Name::from_str(&format!("CN={cn}")).unwrap();
        let tbs = TestTbs {
            version: 2,
            serial: 1,
            signature: sig_alg.clone(),
            issuer: name.clone(),
            validity: x509_cert::time::Validity::from_now(Duration::from_secs(3600)).unwrap(),
            subject: name,
            spki: x509_cert::spki::SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: const_oid::db::rfc5912::ID_EC_PUBLIC_KEY,
                    parameters: Some(Any::encode_from(&curve).unwrap()),
                },
                subject_public_key: BitString::from_bytes(key.public_key()).unwrap(),
            },
        };
        let sig = key.sign(&tbs.to_der().unwrap()).unwrap();
        let cert = TestCert {
            tbs,
            alg: sig_alg,
            sig: BitString::from_bytes(&sig).unwrap(),
        };
        let der = cert.to_der().unwrap();
        certs::parse(&der).unwrap();
        der
    }

    /// A minimal valid 1×1 PNG header (enough for the picture checks here).
    fn tiny_png() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        v.extend_from_slice(&[0, 0, 0, 13]);
        v.extend_from_slice(b"IHDR");
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    struct Fixture {
        maker: SoftwareKey,
        maker_cert: Vec<u8>,
        signer_cert: Vec<u8>,
        other_cert: Vec<u8>,
    }

    fn fixture() -> Fixture {
        let (maker, _) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let (signer, _) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        let (other, _) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP256Sha256).unwrap();
        Fixture {
            maker_cert: self_signed(&maker, "Seal Maker"),
            signer_cert: self_signed(&signer, "Signer"),
            other_cert: self_signed(&other, "Someone Else"),
            maker,
        }
    }

    fn info(f: &Fixture) -> SealInfo {
        SealInfo {
            vid: CHOP_VID.into(),
            es_id: "11320100MB0000000J25010112345678".into(),
            seal_type: SealType::Approval,
            name: "行政审批专用章".into(),
            cert_list: vec![f.signer_cert.clone()],
            create_date: datetime!(2025-01-01 08:00:00.5 UTC),
            valid_start: datetime!(2025-01-01 00:00:00 UTC),
            valid_end: datetime!(2029-01-01 00:00:00 UTC),
            picture_png: tiny_png(),
            picture_width_mm: 42,
            picture_height_mm: 42,
            org_id: Some("11320100MB0000000J".into()),
            org_name: Some("南京市示例区行政审批局".into()),
        }
    }

    #[test]
    fn seal_type_codes_names_and_parsing() {
        for t in SealType::ALL {
            assert_eq!(SealType::from_code(t.code()), Some(t));
            assert_eq!(t.slug().parse::<SealType>().unwrap(), t);
            assert_eq!(t.zh().parse::<SealType>().unwrap(), t);
            assert_eq!(t.code().to_string().parse::<SealType>().unwrap(), t);
        }
        assert_eq!("APPROVAL".parse::<SealType>().unwrap(), SealType::Approval);
        assert_eq!("license".parse::<SealType>().unwrap(), SealType::Licence);
        assert_eq!(SealType::from_code(2), None);
        assert!(
            "stamp"
                .parse::<SealType>()
                .unwrap_err()
                .to_string()
                .contains("official")
        );
        assert_eq!(SealType::Approval.zh(), "行政审批专用章");
    }

    #[test]
    fn round_trip_keeps_every_field_and_verifies() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        seal.verify_maker_signature().unwrap();
        let der = seal.to_der();
        let back = SESeal::from_der(&der).unwrap();
        assert_eq!(back, seal);
        assert_eq!(back.to_der(), der);
        assert_eq!(back.info().name, "行政审批专用章");
        assert_eq!(back.info().org_id.as_deref(), Some("11320100MB0000000J"));
        assert_eq!(
            back.info().org_name.as_deref(),
            Some("南京市示例区行政审批局")
        );
        // Sub-second precision is dropped at make time.
        assert_eq!(back.info().create_date, datetime!(2025-01-01 08:00:00 UTC));
        assert_eq!(back.maker_cert_der(), f.maker_cert.as_slice());
        assert_eq!(
            back.signature_algorithm(),
            Some(SignatureAlgorithm::EcdsaP256Sha256)
        );
        back.verify_maker_signature().unwrap();
        let j = back.to_json();
        assert_eq!(j["maker_signature"]["verifies"], true);
        assert_eq!(j["type"]["code"], 11);
        assert_eq!(j["picture"]["bytes"], tiny_png().len());
        assert_eq!(j["picture"]["width_px"], 1);
        assert_eq!(j["cert_list"][0]["subject"], "CN=Signer");
        assert_eq!(
            j["cert_list"][0]["sha256"],
            certs::fingerprint_sha256(&f.signer_cert)
        );
        assert!(j["picture"].get("data").is_none());
    }

    #[test]
    fn encoding_matches_the_asn1_layout() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        // Decode with independent, positional structures: header, esID, property, picture.
        let outer: Vec<Any> = Vec::<Any>::from_der(seal.as_der()).unwrap();
        assert_eq!(outer.len(), 4);
        assert_eq!(outer[1].tag(), der::Tag::OctetString);
        assert_eq!(outer[2].tag(), der::Tag::ObjectIdentifier);
        assert_eq!(outer[3].tag(), der::Tag::BitString);
        let info_items: Vec<Any> = outer[0].decode_as().unwrap();
        assert_eq!(info_items.len(), 5);
        let header: Vec<Any> = info_items[0].decode_as().unwrap();
        assert_eq!(header[0].value(), b"ES");
        assert_eq!(header[1].value(), &[4]);
        assert_eq!(info_items[1].tag(), der::Tag::Ia5String);
        let property: Vec<Any> = info_items[2].decode_as().unwrap();
        assert_eq!(property.len(), 7);
        assert_eq!(property[0].value(), &[11]);
        assert_eq!(property[1].tag(), der::Tag::Utf8String);
        assert_eq!(property[2].value(), &[1]);
        assert_eq!(property[4].tag(), der::Tag::GeneralizedTime);
        assert_eq!(property[4].value(), b"20250101080000Z");
        let picture: Vec<Any> = info_items[3].decode_as().unwrap();
        assert_eq!(picture[0].value(), b"PNG");
        assert_eq!(picture[2].value(), &[42]);
    }

    #[test]
    fn tampering_one_byte_of_the_info_breaks_the_signature() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        let der = seal.to_der();
        // Change one character of the seal name inside the info ("行" → a different 3-byte char).
        let needle = "行政审批专用章".as_bytes();
        let pos = der.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut bad = der.clone();
        bad[pos + 2] ^= 0x01;
        let tampered = SESeal::from_der(&bad).unwrap();
        assert_ne!(tampered.info().name, "行政审批专用章");
        assert!(matches!(
            tampered.verify_maker_signature(),
            Err(SealError::MakerSignatureInvalid)
        ));
        assert_eq!(
            tampered.verify_maker_signature().unwrap_err().to_string(),
            "the seal maker's signature does not verify"
        );
        assert_eq!(tampered.to_json()["maker_signature"]["verifies"], false);
    }

    #[test]
    fn maker_key_must_match_maker_certificate() {
        let f = fixture();
        let err = SESeal::make(info(&f), &f.maker, &f.other_cert).unwrap_err();
        assert!(matches!(err, SealError::MakerKeyMismatch { .. }));
        assert!(err.to_string().contains("CN=Someone Else"));
    }

    #[test]
    fn make_refuses_bad_fields() {
        let f = fixture();
        let mut i = info(&f);
        i.org_id = Some("11320100MB0000000X".into());
        let err = SESeal::make(i, &f.maker, &f.maker_cert).unwrap_err();
        assert!(err.to_string().contains("expected 'J'"), "{err}");
        let mut i = info(&f);
        i.valid_end = datetime!(2024-01-01 00:00:00 UTC);
        assert!(SESeal::make(i, &f.maker, &f.maker_cert).is_err());
        let mut i = info(&f);
        i.picture_png = b"GIF89a".to_vec();
        assert!(SESeal::make(i, &f.maker, &f.maker_cert).is_err());
        let mut i = info(&f);
        i.cert_list.clear();
        assert!(SESeal::make(i, &f.maker, &f.maker_cert).is_err());
        let mut i = info(&f);
        i.es_id = "印章".into();
        assert!(SESeal::make(i, &f.maker, &f.maker_cert).is_err());
    }

    #[test]
    fn p384_maker_is_accepted() {
        let (maker, _) = SoftwareKey::generate_ecdsa(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
        let cert = self_signed(&maker, "P-384 Maker");
        let f = fixture();
        let seal = SESeal::make(info(&f), &maker, &cert).unwrap();
        let back = SESeal::from_der(&seal.to_der()).unwrap();
        assert_eq!(
            back.signature_algorithm(),
            Some(SignatureAlgorithm::EcdsaP384Sha384)
        );
        back.verify_maker_signature().unwrap();
    }

    #[test]
    fn validity_boundaries_are_inclusive() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        seal.check_validity(datetime!(2025-01-01 00:00:00 UTC))
            .unwrap();
        seal.check_validity(datetime!(2029-01-01 00:00:00 UTC))
            .unwrap();
        let early = seal
            .check_validity(datetime!(2024-12-31 23:59:59 UTC))
            .unwrap_err();
        assert!(matches!(early, SealError::NotYetValid { .. }));
        assert_eq!(
            early.to_string(),
            "the seal is not valid until 2025-01-01 00:00:00 UTC"
        );
        let late = seal
            .check_validity(datetime!(2029-01-01 00:00:01 UTC))
            .unwrap_err();
        assert!(matches!(late, SealError::Expired { .. }));
        assert_eq!(
            late.to_string(),
            "the seal expired on 2029-01-01 00:00:00 UTC"
        );
    }

    #[test]
    fn allows_only_listed_signers() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        assert!(seal.allows_signer(&f.signer_cert));
        assert!(!seal.allows_signer(&f.other_cert));
        assert!(!seal.allows_signer(&f.maker_cert));
        assert!(!seal.allows_signer(&[]));
        seal.require_signer(&f.signer_cert).unwrap();
        let err = seal.require_signer(&f.other_cert).unwrap_err();
        assert_eq!(
            err.to_string(),
            "signer certificate CN=Someone Else is not in the seal's certList"
        );
    }

    #[test]
    fn unknown_extensions_are_kept_and_critical_ones_refused() {
        let f = fixture();
        let seal = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap();
        // Re-sign an info with an extra extension, built at the wire level.
        for critical in [false, true] {
            let mut w = seal.info().to_wire().unwrap();
            w.ext_datas.get_or_insert_with(Vec::new).push(ExtDataWire {
                extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
                critical,
                extn_value: OctetString::new(vec![5, 6]).unwrap(),
            });
            let info_der = w.to_der().unwrap();
            let sig = f.maker.sign(&info_der).unwrap();
            let der = SESealWire {
                e_seal_info: Any::from_der(&info_der).unwrap(),
                cert: OctetString::new(f.maker_cert.clone()).unwrap(),
                sign_alg_id: SignatureAlgorithm::EcdsaP256Sha256.oid(),
                signed_value: BitString::from_bytes(&sig).unwrap(),
            }
            .to_der()
            .unwrap();
            match SESeal::from_der(&der) {
                Ok(s) => {
                    assert!(!critical);
                    assert_eq!(s.unknown_extensions().len(), 1);
                    assert_eq!(s.unknown_extensions()[0].value, vec![5, 6]);
                    s.verify_maker_signature().unwrap();
                    assert_eq!(s.to_der(), der);
                }
                Err(e) => {
                    assert!(critical);
                    assert!(matches!(e, SealError::UnknownCriticalExtension(_)));
                }
            }
        }
    }

    #[test]
    fn truncated_and_garbage_input_is_an_error() {
        let f = fixture();
        let der = SESeal::make(info(&f), &f.maker, &f.maker_cert)
            .unwrap()
            .to_der();
        for n in 0..der.len() {
            assert!(SESeal::from_der(&der[..n]).is_err(), "prefix {n} decoded");
        }
        let mut longer = der.clone();
        longer.push(0);
        assert!(SESeal::from_der(&longer).is_err());
        assert!(SESeal::from_der(b"%PDF-1.7").is_err());
    }

    #[test]
    fn es_id_has_the_documented_shape() {
        let id = new_es_id("11320100MB0000000J").unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.starts_with("11320100MB0000000J"));
        assert!(id[18..].bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(id, new_es_id("11320100MB0000000J").unwrap());
        assert!(new_es_id("11320100MB0000000X").is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SESeal::from_der(&bytes);
        }

        #[test]
        fn decoding_mutated_seals_never_panics(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
            let f = fixture();
            let der = SESeal::make(info(&f), &f.maker, &f.maker_cert).unwrap().to_der();
            let mut m = der.clone();
            let p = pos % m.len();
            m[p] = byte;
            if let Ok(s) = SESeal::from_der(&m) {
                let _ = s.to_json();
                let _ = s.verify_maker_signature();
            }
            let _ = SESeal::from_der(&der[..cut % der.len()]);
        }
    }
}
