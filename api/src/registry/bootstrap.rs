//! First use of a data folder: the development PKI in `<data dir>/keys/` (the file names of
//! `chop keys dev`), and the development bureau — the PKI's organisation and its seal —
//! registered so that licences can be issued at once.

use std::path::Path;

use chop_archive::Hash;
use chop_archive::record::{Digest, RecordKind};
use chop_keys_dev::{DevPki, DevPkiOptions};
use chop_seal::certs;
use serde_json::json;

use super::orgs::NewOrganisation;
use super::rows::{OrganisationRow, RowDoc, SealRow, on_pool};
use super::seals::SealView;
use super::{Registry, RegistryError, new_id, now_text, record};

/// The folder, inside the data folder, of the development PKI, the log key and seal keys.
pub const KEYS_DIR: &str = "keys";

/// The actor of what a data folder makes for itself.
const SYSTEM: &str = "system";

/// The development bureau of a data folder.
#[derive(Debug, Clone)]
pub struct DevBureau {
    /// Its organisation.
    pub organisation: OrganisationRow,
    /// Its seal (the PKI's `seal.der`, key `keys/signer.key.pem`).
    pub seal: SealView,
    /// Whether this call registered it.
    pub created: bool,
}

/// Reads the data folder's development PKI, making it on first use (under a lock, so two
/// processes starting at once make one).
pub(crate) async fn load_or_make_pki(data_dir: &Path) -> Result<DevPki, RegistryError> {
    let dir = data_dir.join(KEYS_DIR);
    tokio::task::spawn_blocking(move || -> Result<DevPki, RegistryError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RegistryError::Io { path, source }
        };
        crate::archive::documents::create_dirs_durably(&dir).map_err(io(&dir))?;
        let lock_path = dir.join(".dev-pki.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let complete = DevPki::FILES.iter().all(|f| dir.join(f).is_file());
        let pki = if complete {
            DevPki::read_from(&dir)?
        } else {
            let pki = DevPki::generate(&DevPkiOptions::default())?;
            pki.write_to(&dir)?;
            crate::archive::documents::sync_dir(&dir).map_err(io(&dir))?;
            pki
        };
        let _ = lock.unlock();
        Ok(pki)
    })
    .await
    .map_err(|e| RegistryError::Corrupt(format!("key task failed: {e}")))?
}

/// Registers the development PKI's organisation and seal, once.
pub async fn ensure_dev_bureau(reg: &Registry) -> Result<DevBureau, RegistryError> {
    let info = reg.pki.seal.info().clone();
    let uscc = info
        .org_id
        .clone()
        .unwrap_or_else(|| chop_keys_dev::DEFAULT_ORG_ID.to_owned());
    let name = info
        .org_name
        .clone()
        .unwrap_or_else(|| chop_keys_dev::DEFAULT_ORG_NAME.to_owned());
    let mut created = false;
    let organisation = match reg.organisation_by_uscc(&uscc).await? {
        Some(o) => o,
        None => {
            let new = NewOrganisation {
                uscc: uscc.clone(),
                name,
                name_en: Some(
                    "Example District Administrative Approval Bureau (development)".into(),
                ),
                address: None,
            };
            match reg.create_organisation(&new, SYSTEM).await {
                Ok(o) => {
                    created = true;
                    o
                }
                // Another process registered it first.
                Err(RegistryError::Conflict(_)) => {
                    reg.reconcile().await?;
                    reg.organisation_by_uscc(&uscc).await?.ok_or_else(|| {
                        RegistryError::Corrupt("development bureau vanished".into())
                    })?
                }
                Err(e) => return Err(e),
            }
        }
    };
    let seal = match seal_by_es_id(reg, &info.es_id).await? {
        Some(s) => s,
        None => {
            created = true;
            register_pki_seal(reg, &organisation).await?
        }
    };
    Ok(DevBureau {
        organisation,
        seal: SealView::from(&seal),
        created,
    })
}

async fn seal_by_es_id(reg: &Registry, es_id: &str) -> Result<Option<SealRow>, RegistryError> {
    Ok(on_pool!(reg.store(), pool => {
        sqlx::query_as("SELECT * FROM seals WHERE es_id = $1")
            .bind(es_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Registers the PKI's own seal (`seal.der`, key `keys/signer.key.pem`).
async fn register_pki_seal(
    reg: &Registry,
    org: &OrganisationRow,
) -> Result<SealRow, RegistryError> {
    let seal = &reg.pki.seal;
    let info = seal.info();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let row = SealRow {
        id: new_id("seal")?,
        org_id: org.id.clone(),
        name: info.name.clone(),
        seal_type: info.seal_type.code(),
        es_id: info.es_id.clone(),
        seal_der: seal.to_der(),
        cert_der: reg.pki.signer.cert_der.clone(),
        chain_pem: reg.pki.chain_pem(),
        key_file: format!("{KEYS_DIR}/signer.key.pem"),
        picture_png: info.picture_png.clone(),
        valid_start: fmt(info.valid_start),
        valid_end: fmt(info.valid_end),
        status: "active".into(),
        revoked_reason: None,
        created: now_text(),
        revoked: None,
        last_seq: 0,
    };
    let mut r = record(
        RecordKind::SealCreated,
        SYSTEM,
        vec![
            format!("seal:{}", row.id),
            format!("organisation:{}", org.id),
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
    r.payload.insert("development".into(), json!(true));
    let key = format!("seal.created:{}", row.es_id);
    let Some(seq) = reg
        .commit_one(r, Some(key), RowDoc::Seal(row.clone()))
        .await?
    else {
        reg.reconcile().await?;
        return seal_by_es_id(reg, &row.es_id)
            .await?
            .ok_or_else(|| RegistryError::Corrupt("development seal vanished".into()));
    };
    Ok(SealRow {
        last_seq: seq,
        ..row
    })
}
