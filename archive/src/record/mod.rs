//! Archive records: one RFC 8785 canonical JSON object per event, hash-chained by `prev`.
//!
//! A record is the JSON object
//!
//! ```json
//! {"actor":"…","digests":[{"alg":"sha256","role":"…","value":"<64 hex>"}],"kind":"document.sealed",
//!  "payload":{…},"prev":"<64 hex>","retention":"permanent","seq":0,"subject":["…"],
//!  "time":"2025-01-02T03:04:05.000000Z"}
//! ```
//!
//! serialised with RFC 8785 (JCS, see [`jcs`]). Its canonical bytes are the Merkle leaf input
//! (RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 ‖ bytes)); its *record hash* is the plain
//! SHA-256 of the same bytes and becomes the next record's `prev`. The first record (seq 0) has
//! `prev` = 64 zeros, so every record has the same shape. Kinds map to PREMIS 3 `eventType`
//! values ([`RecordKind::premis_event_type`]).

pub mod jcs;

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::merkle::{Hash, leaf_hash};

/// Largest canonical record accepted (1 MiB): records are meant to be about 1 KiB.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Largest `seq` (2^53): sequence numbers must be exact JSON numbers (RFC 8785 §3.2.2.3).
pub const MAX_SEQ: u64 = 1 << 53;

/// Why a record is malformed or cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not strict JSON, or a value has no canonical form.
    #[error(transparent)]
    Json(#[from] jcs::JcsError),
    /// The JSON is not an object.
    #[error("a record must be a JSON object")]
    NotObject,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field not in the record schema.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A field has the wrong type or an invalid value.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// The field name (dotted for nested fields, e.g. `digests[0].value`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored bytes are valid but not in RFC 8785 canonical form.
    #[error("record bytes are not in RFC 8785 canonical form")]
    NotCanonical,
    /// The canonical record exceeds [`MAX_RECORD_BYTES`].
    #[error("record is {0} bytes, more than the 1 MiB limit")]
    TooLarge(usize),
    /// The chain cannot take another record (seq would exceed [`MAX_SEQ`]).
    #[error("sequence number {0} exceeds 2^53")]
    SeqOverflow(u64),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> RecordError {
    RecordError::InvalidField {
        field: field.into(),
        reason: reason.into(),
    }
}

/// An RFC 3339 UTC timestamp ending in `Z`, kept verbatim so the record bytes never change.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(String);

impl Timestamp {
    /// The current time, UTC, with microseconds: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn now() -> Timestamp {
        let now = OffsetDateTime::now_utc();
        // The clock is between years 0 and 9999; the fallback only exists to avoid a panic.
        Timestamp::from_datetime(now)
            .unwrap_or_else(|_| Timestamp("1970-01-01T00:00:00.000000Z".into()))
    }

    /// Formats `dt` in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ`; an error outside years 0000–9999,
    /// which RFC 3339 cannot write.
    pub fn from_datetime(dt: OffsetDateTime) -> Result<Timestamp, RecordError> {
        let dt = dt.to_offset(time::UtcOffset::UTC);
        if !(0..=9999).contains(&dt.year()) {
            return Err(invalid(
                "time",
                format!("year {} is outside 0000–9999", dt.year()),
            ));
        }
        Ok(Timestamp(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.microsecond()
        )))
    }

    /// Parses an RFC 3339 date-time in UTC written with upper-case `T` and `Z` (RFC 3339 §5.6).
    pub fn parse(text: &str) -> Result<Timestamp, RecordError> {
        let bytes = text.as_bytes();
        if bytes.len() < 20 || bytes.get(10) != Some(&b'T') || !text.ends_with('Z') {
            return Err(invalid(
                "time",
                "expected an RFC 3339 UTC time like 2025-01-02T03:04:05Z",
            ));
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|e| invalid("time", format!("not RFC 3339: {e}")))?;
        Ok(Timestamp(text.to_owned()))
    }

    /// The timestamp text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The instant this timestamp names.
    pub fn to_datetime(&self) -> OffsetDateTime {
        // Validated at construction; the fallback is unreachable in practice.
        OffsetDateTime::parse(&self.0, &Rfc3339).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! record_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $premis:literal; )*) => {
        /// The event a record describes; the name is the record's `kind` string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum RecordKind {
            $( $(#[$doc])* $variant, )*
        }

        impl RecordKind {
            /// Every kind, in documentation order.
            pub const ALL: &'static [RecordKind] = &[$(RecordKind::$variant),*];

            /// The `kind` string, e.g. `document.sealed`.
            pub fn as_str(self) -> &'static str {
                match self { $(RecordKind::$variant => $name,)* }
            }

            /// The PREMIS 3 `eventType` (Library of Congress preservation vocabulary) closest to
            /// this kind; status changes of an object that stays in place map to
            /// `metadata modification`.
            pub fn premis_event_type(self) -> &'static str {
                match self { $(RecordKind::$variant => $premis,)* }
            }
        }

        impl FromStr for RecordKind {
            type Err = RecordError;

            fn from_str(s: &str) -> Result<Self, RecordError> {
                match s {
                    $($name => Ok(RecordKind::$variant),)*
                    other => Err(invalid("kind", format!("unknown record kind {other:?}"))),
                }
            }
        }
    };
}

record_kinds! {
    /// An organisation (a bureau) was registered.
    OrganisationCreated => "organisation.created", "creation";
    /// An organisation's name, English name or address changed.
    OrganisationUpdated => "organisation.updated", "metadata modification";
    /// A seal object (GB/T 38540 `SESeal`) was made.
    SealCreated => "seal.created", "creation";
    /// A seal was revoked and may no longer be used.
    SealRevoked => "seal.revoked", "metadata modification";
    /// A document was sealed (PAdES signature with the seal).
    DocumentSealed => "document.sealed", "digital signature generation";
    /// A document from outside was verified and taken into the archive.
    DocumentIngested => "document.ingested", "ingestion";
    /// An e-licence was issued.
    LicenceIssued => "licence.issued", "creation";
    /// An e-licence was suspended.
    LicenceSuspended => "licence.suspended", "metadata modification";
    /// A suspended e-licence is valid again.
    LicenceReinstated => "licence.reinstated", "metadata modification";
    /// An e-licence was revoked.
    LicenceRevoked => "licence.revoked", "metadata modification";
    /// An e-licence was replaced by a newer version.
    LicenceSuperseded => "licence.superseded", "metadata modification";
    /// A retention package (BagIt AIP) was exported.
    PackageExported => "package.exported", "information package creation";
    /// A signing or log key was created.
    KeyCreated => "key.created", "creation";
    /// A signing or log key was revoked.
    KeyRevoked => "key.revoked", "metadata modification";
    /// Content reached the end of its retention period and was deleted (hashes are kept).
    Disposition => "disposition", "deaccession";
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retention class of the records' subject (永久 / 30年 / 10年).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Retention {
    /// Kept forever (`permanent`, 永久).
    Permanent,
    /// Kept thirty years (`30y`, 30年).
    Years30,
    /// Kept ten years (`10y`, 10年).
    Years10,
}

impl Retention {
    /// The `retention` string: `permanent`, `30y` or `10y`.
    pub fn as_str(self) -> &'static str {
        match self {
            Retention::Permanent => "permanent",
            Retention::Years30 => "30y",
            Retention::Years10 => "10y",
        }
    }

    /// Retention period in years, `None` for permanent.
    pub fn years(self) -> Option<u32> {
        match self {
            Retention::Permanent => None,
            Retention::Years30 => Some(30),
            Retention::Years10 => Some(10),
        }
    }
}

impl FromStr for Retention {
    type Err = RecordError;

    fn from_str(s: &str) -> Result<Self, RecordError> {
        match s {
            "permanent" => Ok(Retention::Permanent),
            "30y" => Ok(Retention::Years30),
            "10y" => Ok(Retention::Years10),
            other => Err(invalid(
                "retention",
                format!("{other:?} is not permanent, 30y or 10y"),
            )),
        }
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A document digest named by a record: `{"alg":"sha256","value":"<hex>","role":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// SHA-256 of the document bytes (the only algorithm: `alg` is always `sha256`).
    pub value: Hash,
    /// What the digested bytes are (e.g. `original`, `sealed`, `report`); optional.
    pub role: Option<String>,
}

impl Digest {
    /// The SHA-256 digest of `bytes` with an optional role.
    pub fn sha256_of(bytes: &[u8], role: Option<&str>) -> Digest {
        Digest {
            value: Hash::sha256(bytes),
            role: role.map(str::to_owned),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("alg".into(), Value::String("sha256".into()));
        m.insert("value".into(), Value::String(self.value.to_hex()));
        if let Some(role) = &self.role {
            m.insert("role".into(), Value::String(role.clone()));
        }
        Value::Object(m)
    }

    fn from_value(v: &Value, field: &str) -> Result<Digest, RecordError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid(field, "must be an object"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "alg" | "value" | "role") {
                return Err(invalid(field, format!("unknown field `{k}`")));
            }
        }
        match obj.get("alg") {
            Some(Value::String(a)) if a == "sha256" => {}
            Some(_) => {
                return Err(invalid(
                    format!("{field}.alg"),
                    "only \"sha256\" is supported",
                ));
            }
            None => return Err(invalid(format!("{field}.alg"), "missing")),
        }
        let value = match obj.get("value") {
            Some(Value::String(s)) => {
                Hash::from_hex(s).map_err(|e| invalid(format!("{field}.value"), e.to_string()))?
            }
            _ => {
                return Err(invalid(
                    format!("{field}.value"),
                    "must be 64 lower-case hex digits",
                ));
            }
        };
        let role = match obj.get("role") {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                return Err(invalid(
                    format!("{field}.role"),
                    "must be a non-empty string",
                ));
            }
        };
        Ok(Digest { value, role })
    }
}

/// A record before it joins the chain: everything but `seq` and `prev`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// When the event happened.
    pub time: Timestamp,
    /// What happened.
    pub kind: RecordKind,
    /// Who did it (user id, `system`, API client id…); non-empty.
    pub actor: String,
    /// Identifiers of what it happened to (document, licence, seal, key ids).
    pub subject: Vec<String>,
    /// SHA-256 digests of the documents involved.
    pub digests: Vec<Digest>,
    /// Retention class of the subject.
    pub retention: Retention,
    /// Small kind-specific details (a JSON object).
    pub payload: Map<String, Value>,
}

impl NewRecord {
    /// A record of `kind` by `actor` now, with no subject, digests or payload, kept permanently.
    pub fn new(kind: RecordKind, actor: impl Into<String>) -> NewRecord {
        NewRecord {
            time: Timestamp::now(),
            kind,
            actor: actor.into(),
            subject: Vec::new(),
            digests: Vec::new(),
            retention: Retention::Permanent,
            payload: Map::new(),
        }
    }
}

impl NewRecord {
    /// Checks that this draft can become a record (as [`RecordBuilder::build`] would), without
    /// a chain: lets a group committer reject one bad entry before it joins a shared batch.
    pub fn check(&self) -> Result<(), RecordError> {
        let record = Record {
            seq: 1,
            time: self.time.clone(),
            kind: self.kind,
            actor: self.actor.clone(),
            subject: self.subject.clone(),
            digests: self.digests.clone(),
            retention: self.retention,
            prev: Hash([0xff; 32]),
            payload: self.payload.clone(),
        };
        record.canonical_bytes().map(|_| ())
    }
}

/// One archive record (see the module documentation for its JSON form).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position in the log, from 0: also the Merkle leaf index.
    pub seq: u64,
    /// When the event happened (RFC 3339, UTC).
    pub time: Timestamp,
    /// What happened.
    pub kind: RecordKind,
    /// Who did it.
    pub actor: String,
    /// Identifiers of what it happened to.
    pub subject: Vec<String>,
    /// SHA-256 digests of the documents involved.
    pub digests: Vec<Digest>,
    /// Retention class.
    pub retention: Retention,
    /// SHA-256 of the previous record's canonical bytes; [`Hash::ZERO`] for seq 0.
    pub prev: Hash,
    /// Kind-specific details.
    pub payload: Map<String, Value>,
}

const FIELDS: &[&str] = &[
    "seq",
    "time",
    "kind",
    "actor",
    "subject",
    "digests",
    "retention",
    "prev",
    "payload",
];

impl Record {
    /// The record as a JSON value (member order is irrelevant: see [`Record::canonical_bytes`]).
    pub fn to_json_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("seq".into(), Value::from(self.seq));
        m.insert("time".into(), Value::String(self.time.0.clone()));
        m.insert("kind".into(), Value::String(self.kind.as_str().into()));
        m.insert("actor".into(), Value::String(self.actor.clone()));
        m.insert(
            "subject".into(),
            Value::Array(self.subject.iter().cloned().map(Value::String).collect()),
        );
        m.insert(
            "digests".into(),
            Value::Array(self.digests.iter().map(Digest::to_value).collect()),
        );
        m.insert(
            "retention".into(),
            Value::String(self.retention.as_str().into()),
        );
        m.insert("prev".into(), Value::String(self.prev.to_hex()));
        m.insert("payload".into(), Value::Object(self.payload.clone()));
        Value::Object(m)
    }

    /// The RFC 8785 canonical bytes: the Merkle leaf input. Errors if a field is invalid or
    /// the payload holds a number without a canonical form.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, RecordError> {
        self.validate()?;
        // Written directly, members already in RFC 8785 §3.2.3 order (all names are ASCII, so
        // UTF-16 order is byte order); equal to `jcs::canonicalize(&self.to_json_value())`.
        let mut out = String::with_capacity(512);
        out.push_str("{\"actor\":");
        jcs::write_string(&self.actor, &mut out);
        out.push_str(",\"digests\":[");
        for (i, d) in self.digests.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"alg\":\"sha256\",");
            if let Some(role) = &d.role {
                out.push_str("\"role\":");
                jcs::write_string(role, &mut out);
                out.push(',');
            }
            out.push_str("\"value\":\"");
            out.push_str(&d.value.to_hex());
            out.push_str("\"}");
        }
        out.push_str("],\"kind\":\"");
        out.push_str(self.kind.as_str());
        out.push_str("\",\"payload\":");
        jcs::write_object(&self.payload, &mut out)?;
        out.push_str(",\"prev\":\"");
        out.push_str(&self.prev.to_hex());
        out.push_str("\",\"retention\":\"");
        out.push_str(self.retention.as_str());
        out.push_str("\",\"seq\":");
        out.push_str(&self.seq.to_string());
        out.push_str(",\"subject\":[");
        for (i, s) in self.subject.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            jcs::write_string(s, &mut out);
        }
        out.push_str("],\"time\":");
        jcs::write_string(self.time.as_str(), &mut out);
        out.push('}');
        let bytes = out.into_bytes();
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// The record hash SHA-256(canonical bytes): the next record's `prev`.
    pub fn hash(&self) -> Result<Hash, RecordError> {
        Ok(Hash::sha256(&self.canonical_bytes()?))
    }

    /// The Merkle leaf hash SHA-256(0x00 ‖ canonical bytes) (RFC 9162 §2.1.1).
    pub fn leaf_hash(&self) -> Result<Hash, RecordError> {
        Ok(leaf_hash(&self.canonical_bytes()?))
    }

    /// Parses a record from any JSON text (whitespace and member order free), strictly:
    /// duplicate keys, unknown fields and invalid values are errors.
    pub fn from_json(bytes: &[u8]) -> Result<Record, RecordError> {
        if bytes.len() > MAX_RECORD_BYTES * 4 {
            return Err(RecordError::TooLarge(bytes.len()));
        }
        Record::from_json_value(&jcs::parse_strict(bytes)?)
    }

    /// Parses stored record bytes, which must also be exactly the canonical form.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Record, RecordError> {
        let record = Record::from_json(bytes)?;
        if record.canonical_bytes()? != bytes {
            return Err(RecordError::NotCanonical);
        }
        Ok(record)
    }

    /// Builds a record from a JSON value, strictly (see [`Record::from_json`]).
    pub fn from_json_value(v: &Value) -> Result<Record, RecordError> {
        let obj = v.as_object().ok_or(RecordError::NotObject)?;
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(RecordError::UnknownField(k.clone()));
        }
        let get = |name: &'static str| obj.get(name).ok_or(RecordError::MissingField(name));
        let string = |name: &'static str| -> Result<&str, RecordError> {
            get(name)?
                .as_str()
                .ok_or_else(|| invalid(name, "must be a string"))
        };
        let seq = get("seq")?
            .as_u64()
            .filter(|s| *s <= MAX_SEQ)
            .ok_or_else(|| invalid("seq", "must be an integer from 0 to 2^53"))?;
        let time = Timestamp::parse(string("time")?)?;
        let kind = RecordKind::from_str(string("kind")?)?;
        let actor = string("actor")?.to_owned();
        let subject = get("subject")?
            .as_array()
            .ok_or_else(|| invalid("subject", "must be an array of strings"))?
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("subject[{i}]"), "must be a string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let digests = get("digests")?
            .as_array()
            .ok_or_else(|| invalid("digests", "must be an array"))?
            .iter()
            .enumerate()
            .map(|(i, d)| Digest::from_value(d, &format!("digests[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let retention = Retention::from_str(string("retention")?)?;
        let prev = Hash::from_hex(string("prev")?).map_err(|e| invalid("prev", e.to_string()))?;
        let payload = get("payload")?
            .as_object()
            .ok_or_else(|| invalid("payload", "must be an object"))?
            .clone();
        let record = Record {
            seq,
            time,
            kind,
            actor,
            subject,
            digests,
            retention,
            prev,
            payload,
        };
        record.validate()?;
        Ok(record)
    }

    /// Checks the invariants serialisation cannot express: non-empty actor and subject ids,
    /// seq ≤ 2^53, and prev = zero exactly for seq 0.
    pub fn validate(&self) -> Result<(), RecordError> {
        if self.seq > MAX_SEQ {
            return Err(invalid("seq", "must be at most 2^53"));
        }
        if self.actor.is_empty() {
            return Err(invalid("actor", "must not be empty"));
        }
        if let Some(i) = self.subject.iter().position(String::is_empty) {
            return Err(invalid(format!("subject[{i}]"), "must not be empty"));
        }
        if let Some(i) = self
            .digests
            .iter()
            .position(|d| d.role.as_deref() == Some(""))
        {
            return Err(invalid(format!("digests[{i}].role"), "must not be empty"));
        }
        if (self.seq == 0) != (self.prev == Hash::ZERO) {
            return Err(invalid(
                "prev",
                "must be 64 zeros exactly for the first record (seq 0)",
            ));
        }
        Ok(())
    }
}

/// A record together with its canonical bytes and hashes, as produced by [`RecordBuilder`].
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedRecord {
    /// The record.
    pub record: Record,
    /// Its RFC 8785 canonical bytes (the leaf input, what storage keeps).
    pub bytes: Vec<u8>,
    /// SHA-256(bytes): the next record's `prev`.
    pub record_hash: Hash,
    /// SHA-256(0x00 ‖ bytes): the Merkle leaf hash.
    pub leaf_hash: Hash,
}

impl EncodedRecord {
    /// Encodes an existing record (computing its bytes and hashes).
    pub fn new(record: Record) -> Result<EncodedRecord, RecordError> {
        let bytes = record.canonical_bytes()?;
        Ok(EncodedRecord {
            record_hash: Hash::sha256(&bytes),
            leaf_hash: leaf_hash(&bytes),
            bytes,
            record,
        })
    }
}

/// Assigns `seq` and `prev` to new records so that they extend a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBuilder {
    next_seq: u64,
    prev: Hash,
}

impl RecordBuilder {
    /// A builder for an empty log: the first record gets seq 0 and prev = zero.
    pub fn genesis() -> RecordBuilder {
        RecordBuilder {
            next_seq: 0,
            prev: Hash::ZERO,
        }
    }

    /// A builder continuing a log of `size` records whose last record hash is `last_hash`
    /// (ignored, and taken as zero, when `size` is 0).
    pub fn resume(size: u64, last_hash: Hash) -> RecordBuilder {
        RecordBuilder {
            next_seq: size,
            prev: if size == 0 { Hash::ZERO } else { last_hash },
        }
    }

    /// The seq the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The `prev` the next record will carry.
    pub fn prev(&self) -> Hash {
        self.prev
    }

    /// Chains `draft` as the next record; the builder advances only on success.
    pub fn build(&mut self, draft: NewRecord) -> Result<EncodedRecord, RecordError> {
        if self.next_seq > MAX_SEQ {
            return Err(RecordError::SeqOverflow(self.next_seq));
        }
        let record = Record {
            seq: self.next_seq,
            time: draft.time,
            kind: draft.kind,
            actor: draft.actor,
            subject: draft.subject,
            digests: draft.digests,
            retention: draft.retention,
            prev: self.prev,
            payload: draft.payload,
        };
        let encoded = EncodedRecord::new(record)?;
        self.next_seq += 1;
        self.prev = encoded.record_hash;
        Ok(encoded)
    }
}

/// What breaks a hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The record's seq is not its predecessor's plus one.
    SeqGap {
        /// The seq expected at this position.
        expected: u64,
    },
    /// The record's `prev` is not the hash of the previous record.
    PrevMismatch {
        /// Hash of the previous record's canonical bytes.
        expected: Hash,
        /// The record's `prev`.
        found: Hash,
    },
    /// The record itself is invalid.
    Invalid(RecordError),
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainFault::SeqGap { expected } => write!(f, "expected seq {expected}"),
            ChainFault::PrevMismatch { expected, found } => {
                write!(
                    f,
                    "prev is {found} but the previous record hashes to {expected}"
                )
            }
            ChainFault::Invalid(e) => write!(f, "invalid record: {e}"),
        }
    }
}

/// The first place a hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {seq}: {reason}")]
pub struct ChainError {
    /// Seq of the offending record (as found in it).
    pub seq: u64,
    /// What is wrong.
    pub reason: ChainFault,
}

/// Checks that `records` form an unbroken chain: consecutive seqs, each `prev` the hash of the
/// record before, and `prev` = zero if the first one is seq 0.
pub fn verify_chain(records: &[Record]) -> Result<(), ChainError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    let start = if first.seq == 0 {
        Some(Hash::ZERO)
    } else {
        None
    };
    verify_chain_inner(start, first.seq, records)
}

/// Checks that `records` extend a chain whose last record hashes to `prev` and has seq
/// `records[0].seq − 1`.
pub fn verify_chain_from(prev: Hash, records: &[Record]) -> Result<(), ChainError> {
    let Some(first) = records.first() else {
        return Ok(());
    };
    verify_chain_inner(Some(prev), first.seq, records)
}

fn verify_chain_inner(
    mut prev: Option<Hash>,
    first_seq: u64,
    records: &[Record],
) -> Result<(), ChainError> {
    for (i, r) in records.iter().enumerate() {
        let expected_seq = first_seq + i as u64;
        if r.seq != expected_seq {
            return Err(ChainError {
                seq: r.seq,
                reason: ChainFault::SeqGap {
                    expected: expected_seq,
                },
            });
        }
        if let Some(p) = prev
            && r.prev != p
        {
            return Err(ChainError {
                seq: r.seq,
                reason: ChainFault::PrevMismatch {
                    expected: p,
                    found: r.prev,
                },
            });
        }
        let h = r.hash().map_err(|e| ChainError {
            seq: r.seq,
            reason: ChainFault::Invalid(e),
        })?;
        prev = Some(h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(kind: RecordKind) -> NewRecord {
        let mut r = NewRecord::new(kind, "user:alice");
        r.time = Timestamp::parse("2025-03-01T08:00:00.000000Z").unwrap();
        r.subject = vec!["document:42".into()];
        r.digests = vec![Digest::sha256_of(b"%PDF-1.7", Some("sealed"))];
        r.payload
            .insert("note".into(), Value::String("批准".into()));
        r
    }

    #[test]
    fn canonical_bytes_known_answer() {
        let mut b = RecordBuilder::genesis();
        let e = b.build(draft(RecordKind::DocumentSealed)).unwrap();
        let want = format!(
            concat!(
                r#"{{"actor":"user:alice","digests":[{{"alg":"sha256","role":"sealed","value":"{}"}}],"#,
                r#""kind":"document.sealed","payload":{{"note":"批准"}},"prev":"{}","retention":"permanent","#,
                r#""seq":0,"subject":["document:42"],"time":"2025-03-01T08:00:00.000000Z"}}"#
            ),
            Hash::sha256(b"%PDF-1.7").to_hex(),
            "0".repeat(64)
        );
        assert_eq!(String::from_utf8(e.bytes.clone()).unwrap(), want);
        assert_eq!(e.record_hash, Hash::sha256(want.as_bytes()));
        assert_eq!(e.leaf_hash, leaf_hash(want.as_bytes()));
        assert_eq!(Record::from_canonical_bytes(&e.bytes).unwrap(), e.record);
    }

    #[test]
    fn direct_encoding_equals_generic_canonicalisation() {
        let mut d = draft(RecordKind::LicenceSuperseded);
        d.actor = "用户:\"张三\"\n\u{1}".into();
        d.subject = vec!["licence:1".into(), "é\u{1f600}".into()];
        d.digests.push(Digest::sha256_of(b"report", None));
        d.payload.insert(
            "\u{20ac}".into(),
            serde_json::json!({"b": [1.5, -0.0, 1e21], "a": null}),
        );
        d.payload.insert("\r".into(), Value::Bool(true));
        let mut b = RecordBuilder::resume(7, Hash([5; 32]));
        let e = b.build(d).unwrap();
        assert_eq!(
            e.bytes,
            jcs::canonicalize(&e.record.to_json_value()).unwrap()
        );
        // −0 canonicalises to 0 (RFC 8785), so compare the bytes, not the values.
        let back = Record::from_canonical_bytes(&e.bytes).unwrap();
        assert_eq!(back.canonical_bytes().unwrap(), e.bytes);
    }

    #[test]
    fn builder_chains_records_and_verify_chain_accepts() {
        let mut b = RecordBuilder::genesis();
        let records: Vec<Record> = RecordKind::ALL
            .iter()
            .map(|k| b.build(draft(*k)).unwrap().record)
            .collect();
        assert_eq!(records.len(), RecordKind::ALL.len());
        assert_eq!(records[3].prev, records[2].hash().unwrap());
        verify_chain(&records).unwrap();
        verify_chain(&records[5..]).unwrap();
        verify_chain_from(records[4].hash().unwrap(), &records[5..]).unwrap();
        let n = RecordKind::ALL.len();
        assert_eq!(b.next_seq(), n as u64);
        assert_eq!(b.prev(), records[n - 1].hash().unwrap());
    }

    #[test]
    fn verify_chain_names_the_broken_link() {
        let mut b = RecordBuilder::genesis();
        let mut records: Vec<Record> = (0..5)
            .map(|_| b.build(draft(RecordKind::LicenceIssued)).unwrap().record)
            .collect();
        records[2].actor = "user:mallory".into();
        let err = verify_chain(&records).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(matches!(err.reason, ChainFault::PrevMismatch { .. }));

        let mut gap = records.clone();
        gap.remove(1);
        let err = verify_chain(&gap).unwrap_err();
        assert_eq!(
            (err.seq, err.reason),
            (2, ChainFault::SeqGap { expected: 1 })
        );

        let err = verify_chain_from(Hash([7; 32]), &records[1..]).unwrap_err();
        assert_eq!(err.seq, 1);
    }

    #[test]
    fn strict_parsing_rejects_bad_records() {
        let mut b = RecordBuilder::genesis();
        let e = b.build(draft(RecordKind::SealCreated)).unwrap();
        let text = String::from_utf8(e.bytes).unwrap();
        let cases = [
            (
                text.replace(r#""seq":0"#, r#""seq":0,"seq":0"#),
                "duplicate",
            ),
            (
                text.replace(r#""seq":0"#, r#""seq":0,"extra":1"#),
                "unknown field",
            ),
            (
                text.replace("seal.created", "seal.melted"),
                "unknown record kind",
            ),
            (text.replace("permanent", "forever"), "retention"),
            (
                text.replace("2025-03-01T08:00:00.000000Z", "2025-03-01T08:00:00+08:00"),
                "time",
            ),
            (
                text.replace(r#""actor":"user:alice""#, r#""actor":"""#),
                "actor",
            ),
            (
                text.replace(r#""alg":"sha256""#, r#""alg":"md5""#),
                "sha256",
            ),
            (
                text.replace(r#""payload":{"note":"批准"}"#, r#""payload":[]"#),
                "payload",
            ),
            (text.replace(r#""seq":0"#, r#""seq":1"#), "prev"),
            (
                text.replace(r#""seq":0"#, r#""seq":9007199254740993"#),
                "seq",
            ),
        ];
        for (bad, why) in cases {
            let err = Record::from_json(bad.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(why), "{why}: got {err}");
        }
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&text).unwrap()).unwrap();
        assert!(Record::from_json(pretty.as_bytes()).is_ok());
        assert_eq!(
            Record::from_canonical_bytes(pretty.as_bytes()),
            Err(RecordError::NotCanonical)
        );
    }

    #[test]
    fn kinds_round_trip_and_map_to_premis() {
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::from_str(k.as_str()).unwrap(), *k);
            assert!(!k.premis_event_type().is_empty());
        }
        assert_eq!(
            RecordKind::DocumentSealed.premis_event_type(),
            "digital signature generation"
        );
        assert_eq!(
            RecordKind::DocumentIngested.premis_event_type(),
            "ingestion"
        );
        assert_eq!(RecordKind::Disposition.premis_event_type(), "deaccession");
        assert_eq!(
            RecordKind::PackageExported.premis_event_type(),
            "information package creation"
        );
    }

    #[test]
    fn payload_numbers_must_be_canonicalisable() {
        let mut d = draft(RecordKind::KeyCreated);
        d.payload.insert("big".into(), Value::from(u64::MAX));
        let mut b = RecordBuilder::genesis();
        assert!(matches!(
            b.build(d),
            Err(RecordError::Json(jcs::JcsError::IntegerOutOfRange(_)))
        ));
        assert_eq!(b.next_seq(), 0, "a failed build does not advance the chain");
    }

    #[test]
    fn timestamps() {
        let t =
            Timestamp::from_datetime(time::macros::datetime!(2025-01-02 03:04:05.123456789 +08:00))
                .unwrap();
        assert!(Timestamp::from_datetime(time::macros::datetime!(-0001-01-01 00:00 UTC)).is_err());
        assert_eq!(t.as_str(), "2025-01-01T19:04:05.123456Z");
        assert!(Timestamp::parse("2025-01-01T19:04:05Z").is_ok());
        assert!(Timestamp::parse("2025-01-01t19:04:05z").is_err());
        assert!(Timestamp::parse("2025-13-01T19:04:05Z").is_err());
        assert!(Timestamp::parse(Timestamp::now().as_str()).is_ok());
    }
}
