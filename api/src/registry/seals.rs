//! Seals: make (with a key the data folder's CA certifies, or an uploaded certificate and key),
//! list, get, revoke; and the cached [`Sealer`] of each seal.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chop_archive::Hash;
use chop_archive::record::{Digest, RecordKind};
use chop_keys_dev::SealRequest;
use chop_seal::certs;
use chop_seal::keys::{Signer, SoftwareKey};
use chop_seal::seal_object::{SESeal, SealType};
use chop_seal::sign::Sealer;
use serde::Serialize;
use serde_json::json;

use super::rows::{RowDoc, SealRow, on_pool};
use super::{Registry, RegistryError, new_id, now_text, record};
use crate::archive::documents::{create_dirs_durably, sync_dir};

/// Where a new seal's key and certificate come from.
#[derive(Clone)]
pub enum SealKey {
    /// A new ECDSA P-256 key, certified by the data folder's (development) issuing CA.
    Generate,
    /// An uploaded signer certificate and its private key (PEM), with the chain (issuing CA
    /// first) if any.
    Upload {
        /// The signer certificate, PEM.
        cert_pem: String,
        /// The private key, PEM PKCS#8 (ECDSA P-256/P-384 or RSA).
        key_pem: String,
        /// The chain, PEM.
        chain_pem: Option<String>,
    },
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealKey::Generate => f.write_str("Generate"),
            // Never print the key.
            SealKey::Upload { .. } => f.write_str("Upload { .. }"),
        }
    }
}

/// A seal to make.
#[derive(Debug, Clone)]
pub struct NewSeal {
    /// The organisation that owns it.
    pub org_id: String,
    /// 印章名称, e.g. 行政审批专用章.
    pub name: String,
    /// The GB/T 38540 seal type.
    pub seal_type: SealType,
    /// Key and certificate.
    pub key: SealKey,
    /// The picture (PNG); `None` draws the standard round seal.
    pub picture_png: Option<Vec<u8>>,
}

/// A seal as the API shows it (no key material).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SealView {
    /// `seal_…`.
    pub id: String,
    /// The organisation.
    pub org_id: String,
    /// 印章名称.
    pub name: String,
    /// Seal type code (GB/T 38540).
    pub seal_type: i64,
    /// Seal type name, e.g. 行政审批专用章.
    pub seal_type_name: String,
    /// 印章编码 (esID).
    pub es_id: String,
    /// `active` or `revoked`.
    pub status: String,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// Validity of the seal object.
    pub valid_start: String,
    /// Validity of the seal object.
    pub valid_end: String,
    /// The signer certificate's subject.
    pub certificate_subject: String,
    /// SHA-256 of the signer certificate.
    pub certificate_sha256: String,
    /// When made.
    pub created: String,
    /// When revoked.
    pub revoked: Option<String>,
}

impl From<&SealRow> for SealView {
    fn from(s: &SealRow) -> Self {
        SealView {
            id: s.id.clone(),
            org_id: s.org_id.clone(),
            name: s.name.clone(),
            seal_type: s.seal_type,
            seal_type_name: SealType::from_code(s.seal_type)
                .map(|t| t.zh().to_owned())
                .unwrap_or_default(),
            es_id: s.es_id.clone(),
            status: s.status.clone(),
            revoked_reason: s.revoked_reason.clone(),
            valid_start: s.valid_start.clone(),
            valid_end: s.valid_end.clone(),
            certificate_subject: certs::subject(&s.cert_der).unwrap_or_default(),
            certificate_sha256: certs::fingerprint_sha256(&s.cert_der),
            created: s.created.clone(),
            revoked: s.revoked.clone(),
        }
    }
}

/// A seal ready to seal documents (cached per seal id).
pub(crate) struct SealCredentials {
    pub sealer: Sealer<'static>,
    pub picture_mm: (f64, f64),
    pub row: SealRow,
}

/// Parses a seal type: its English name (`official`, `approval`, `licence`, `finance`,
/// `contract`, `other`), its Chinese name, or its code.
pub fn parse_seal_type(s: &str) -> Result<SealType, RegistryError> {
    let t = s.trim();
    let by_name = match t.to_ascii_lowercase().as_str() {
        "official" => Some(SealType::Official),
        "approval" => Some(SealType::Approval),
        "licence" | "license" => Some(SealType::Licence),
        "finance" => Some(SealType::Finance),
        "contract" => Some(SealType::Contract),
        "other" => Some(SealType::Other),
        _ => None,
    };
    by_name
        .or_else(|| SealType::ALL.into_iter().find(|k| k.zh() == t))
        .or_else(|| t.parse::<i64>().ok().and_then(SealType::from_code))
        .ok_or_else(|| {
            RegistryError::Invalid(format!(
                "seal_type: {t:?} is not one of official, approval, licence, finance, contract, other (or 1, 11, 12, 13, 14, 99)"
            ))
        })
}

/// Writes a private key file with mode 0600, durably (temporary file, fsync, rename, fsync of
/// the folder).
fn write_key_file(path: &Path, pem_text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("key path has no folder"))?;
    create_dirs_durably(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(pem_text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Registry {
    /// Makes a seal for an organisation: the signer certificate (issued here or uploaded), a
    /// GB/T 38540 seal object signed by the data folder's seal maker, the key file, and the
    /// `seal.created` record.
    pub async fn create_seal(&self, new: NewSeal, actor: &str) -> Result<SealView, RegistryError> {
        let org = self.organisation(&new.org_id).await?;
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
            return Err(RegistryError::Invalid(
                "name: 1 to 40 characters, no control characters".into(),
            ));
        }
        if let Some(png) = &new.picture_png
            && !png.starts_with(b"\x89PNG\r\n\x1a\n")
        {
            return Err(RegistryError::Invalid("picture: not a PNG file".into()));
        }
        let id = new_id("seal")?;
        let key_file = format!("{}/seals/{id}.key.pem", super::KEYS_DIR);
        let pki = self.pki.clone();
        let data_dir = self.data_dir().to_path_buf();
        let (row, sealer) = tokio::task::spawn_blocking(move || -> Result<_, RegistryError> {
            let (cert_der, key_pem, chain_pem) = match new.key {
                SealKey::Generate => {
                    let cred = pki.issue_signer(&org.name, &org.uscc, &name)?;
                    (cred.cert_der.clone(), cred.key_pem(), pki.chain_pem())
                }
                SealKey::Upload {
                    cert_pem,
                    key_pem,
                    chain_pem,
                } => {
                    let certs = certs::certificates_from_pem(&cert_pem)
                        .map_err(|e| RegistryError::Invalid(format!("certificate: {e}")))?;
                    let Some(cert) = certs.into_iter().next() else {
                        return Err(RegistryError::Invalid(
                            "certificate: no CERTIFICATE block".into(),
                        ));
                    };
                    check_certificate_names(&cert, &org.uscc)?;
                    SoftwareKey::from_pkcs8_pem(&key_pem)
                        .map_err(|e| RegistryError::Invalid(format!("key: {e}")))?;
                    let chain_pem = chain_pem.unwrap_or_default();
                    if !chain_pem.trim().is_empty() {
                        certs::certificates_from_pem(&chain_pem)
                            .map_err(|e| RegistryError::Invalid(format!("chain: {e}")))?;
                    }
                    (cert, key_pem, chain_pem)
                }
            };
            let (seal, picture) = pki.make_seal(&SealRequest {
                org_name: &org.name,
                org_id: &org.uscc,
                seal_name: &name,
                seal_type: new.seal_type,
                signer_cert_der: &cert_der,
                picture_png: new.picture_png.as_deref(),
            })?;
            let now = now_text();
            let row = SealRow {
                id: id.clone(),
                org_id: org.id.clone(),
                name: name.clone(),
                seal_type: new.seal_type.code(),
                es_id: seal.info().es_id.clone(),
                seal_der: seal.to_der(),
                cert_der,
                chain_pem,
                key_file: key_file.clone(),
                picture_png: picture,
                valid_start: rfc3339(seal.info().valid_start),
                valid_end: rfc3339(seal.info().valid_end),
                status: "active".into(),
                revoked_reason: None,
                created: now,
                revoked: None,
                last_seq: 0,
            };
            // Refuses a key that does not match the certificate (uploads), before anything is
            // stored.
            let creds = build_credentials(&row, &key_pem)?;
            let path = data_dir.join(&key_file);
            write_key_file(&path, &key_pem).map_err(|source| RegistryError::Io {
                path: path.clone(),
                source,
            })?;
            Ok((row, creds))
        })
        .await
        .map_err(|e| RegistryError::Corrupt(format!("seal task failed: {e}")))??;

        let mut r = record(
            RecordKind::SealCreated,
            actor,
            vec![
                format!("seal:{}", row.id),
                format!("organisation:{}", row.org_id),
            ],
        );
        r.digests.push(Digest {
            value: Hash::sha256(&row.seal_der),
            role: Some("seal".into()),
        });
        r.payload.insert("es_id".into(), json!(row.es_id));
        r.payload.insert("name".into(), json!(row.name));
        r.payload.insert("seal_type".into(), json!(row.seal_type));
        r.payload.insert(
            "certificate_sha256".into(),
            json!(certs::fingerprint_sha256(&row.cert_der)),
        );
        self.commit_one(r, None, RowDoc::Seal(row.clone())).await?;
        if let Ok(mut cache) = self.sealers.lock() {
            cache.insert(row.id.clone(), Arc::new(sealer));
        }
        Ok(SealView::from(&row))
    }

    /// Revokes a seal: it can no longer seal anything. Documents it sealed stay verifiable.
    pub async fn revoke_seal(
        &self,
        id: &str,
        reason: &str,
        actor: &str,
    ) -> Result<SealView, RegistryError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(RegistryError::Invalid(
                "reason: 1 to 500 characters are required".into(),
            ));
        }
        let mut row = self.seal_row(id).await?;
        if row.status == "revoked" {
            return Err(RegistryError::Conflict(format!(
                "seal {id} is already revoked"
            )));
        }
        let now = now_text();
        row.status = "revoked".into();
        row.revoked_reason = Some(reason.to_owned());
        row.revoked = Some(now);
        let mut r = record(
            RecordKind::SealRevoked,
            actor,
            vec![
                format!("seal:{}", row.id),
                format!("organisation:{}", row.org_id),
            ],
        );
        r.payload.insert("es_id".into(), json!(row.es_id));
        r.payload.insert("reason".into(), json!(reason));
        self.commit_one(r, None, RowDoc::Seal(row)).await?;
        if let Ok(mut cache) = self.sealers.lock() {
            cache.remove(id);
        }
        Ok(SealView::from(&self.seal_row(id).await?))
    }

    /// One seal's row (with its picture and certificates).
    pub async fn seal_row(&self, id: &str) -> Result<SealRow, RegistryError> {
        let row: Option<SealRow> = on_pool!(self.store(), pool => {
            sqlx::query_as("SELECT * FROM seals WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or_else(|| RegistryError::NotFound {
            what: "seal",
            id: id.to_owned(),
        })
    }

    /// Seals, of one organisation if given, ordered by id after `after`.
    pub async fn seals(
        &self,
        org_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SealView>, RegistryError> {
        let limit = i64::from(limit.clamp(1, 500));
        let rows: Vec<SealRow> = on_pool!(self.store(), pool => {
            sqlx::query_as(
                "SELECT * FROM seals WHERE ($1 IS NULL OR org_id = $1) AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(org_id)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.iter().map(SealView::from).collect())
    }

    /// The seal ready to use, if it is active and belongs to `org_id`.
    pub(crate) async fn usable_seal(
        &self,
        seal_id: &str,
        org_id: &str,
    ) -> Result<Arc<SealCredentials>, RegistryError> {
        let cached = self
            .sealers
            .lock()
            .ok()
            .and_then(|c| c.get(seal_id).cloned());
        let creds = match cached {
            Some(c) => c,
            None => {
                let row = self.seal_row(seal_id).await?;
                let path: PathBuf = self.data_dir().join(&row.key_file);
                let creds = tokio::task::spawn_blocking(move || -> Result<_, RegistryError> {
                    let key_pem =
                        std::fs::read_to_string(&path).map_err(|source| RegistryError::Io {
                            path: path.clone(),
                            source,
                        })?;
                    build_credentials(&row, &key_pem)
                })
                .await
                .map_err(|e| RegistryError::Corrupt(format!("seal task failed: {e}")))??;
                let creds = Arc::new(creds);
                if let Ok(mut cache) = self.sealers.lock() {
                    cache.insert(seal_id.to_owned(), creds.clone());
                }
                creds
            }
        };
        if creds.row.org_id != org_id {
            return Err(RegistryError::SealNotUsable(format!(
                "seal {seal_id} belongs to another organisation"
            )));
        }
        if creds.row.status != "active" {
            return Err(RegistryError::SealNotUsable(format!(
                "seal {seal_id} is revoked"
            )));
        }
        Ok(creds)
    }

    /// The most recently made active seal of an organisation.
    pub async fn default_seal_id(&self, org_id: &str) -> Result<String, RegistryError> {
        let id: Option<String> = on_pool!(self.store(), pool => {
            sqlx::query_scalar(
                "SELECT id FROM seals WHERE org_id = $1 AND status = 'active' ORDER BY created DESC, id DESC LIMIT 1",
            )
            .bind(org_id)
            .fetch_optional(pool)
            .await?
        });
        id.ok_or_else(|| {
            RegistryError::SealNotUsable(format!("organisation {org_id} has no active seal"))
        })
    }
}

/// An uploaded signer certificate must be the organisation's: its subject's
/// organizationIdentifier (2.5.4.97, the legal-person profile) is `NTRCN-<USCC>` (or the bare
/// USCC).
fn check_certificate_names(cert_der: &[u8], uscc: &str) -> Result<(), RegistryError> {
    let cert =
        certs::parse(cert_der).map_err(|e| RegistryError::Invalid(format!("certificate: {e}")))?;
    let ident = cert
        .subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == "2.5.4.97")
        .and_then(|a| a.as_str().ok().map(str::to_owned));
    match ident {
        Some(v) if v == format!("NTRCN-{uscc}") || v == uscc => Ok(()),
        Some(v) => Err(RegistryError::Invalid(format!(
            "certificate: its organizationIdentifier {v} is not this organisation's (NTRCN-{uscc})"
        ))),
        None => Err(RegistryError::Invalid(format!(
            "certificate: no organizationIdentifier (2.5.4.97); a seal signer certificate names its organisation as NTRCN-{uscc}"
        ))),
    }
}

/// The sealer of a stored seal and its key.
fn build_credentials(row: &SealRow, key_pem: &str) -> Result<SealCredentials, RegistryError> {
    let key = SoftwareKey::from_pkcs8_pem(key_pem)
        .map_err(|e| RegistryError::Invalid(format!("key: {e}")))?;
    let seal = SESeal::from_der(&row.seal_der)
        .map_err(|e| RegistryError::Corrupt(format!("seal {}: {e}", row.id)))?;
    let chain = if row.chain_pem.trim().is_empty() {
        Vec::new()
    } else {
        certs::certificates_from_pem(&row.chain_pem)
            .map_err(|e| RegistryError::Corrupt(format!("seal {} chain: {e}", row.id)))?
    };
    let signer: Arc<dyn Signer> = Arc::new(key);
    let sealer = Sealer::new_shared(signer, &row.cert_der, &chain, &seal)?;
    let info = seal.info();
    Ok(SealCredentials {
        sealer,
        picture_mm: (
            f64::from(info.picture_width_mm),
            f64::from(info.picture_height_mm),
        ),
        row: row.clone(),
    })
}
