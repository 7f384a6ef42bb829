//! Registry tests on SQLite and (when `DATABASE_URL` is set; mandatory in CI) PostgreSQL.

use std::sync::Arc;

use chop_seal::seal_object::SealType;
use chop_seal::verify::{Indication, VerifyOptions, verify_pdf};
use serde_json::json;

use super::*;
use crate::archive::{ArchiveConfig, GroupCommit};
use crate::store::testing::TestDb;

async fn with_registry<F, Fut>(test: F)
where
    F: Fn(Arc<Registry>, DevBureau) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![None];
    let pg = TestDb::create().await;
    if let Some(db) = &pg {
        urls.push(Some(db.url.clone()));
    }
    for (i, url) in urls.into_iter().enumerate() {
        let data_dir = dir.path().join(format!("data{i}"));
        let mut config = ArchiveConfig::new(&data_dir);
        config.database_url = url;
        let archive = Arc::new(Archive::open(config, GroupCommit::default()).await.unwrap());
        let rc = RegistryConfig {
            public_url: "https://verify.example.gov.cn/".into(),
            templates_dir: None,
        };
        let (reg, bureau) = Registry::open(archive, &rc).await.unwrap();
        let reg = Arc::new(reg);
        test(reg.clone(), bureau).await;
    }
    if let Some(db) = pg {
        db.drop_db().await;
    }
}

fn example(reg: &Registry, key: &str) -> serde_json::Value {
    reg.templates().get(key).unwrap().example()
}

fn issue_req(reg: &Registry, bureau: &DevBureau, key: Option<&str>) -> IssueRequest {
    IssueRequest {
        type_key: "food-business".into(),
        data: example(reg, "food-business"),
        org_id: bureau.organisation.id.clone(),
        seal_id: None,
        idempotency_key: key.map(str::to_owned),
    }
}

async fn log_size(reg: &Registry) -> u64 {
    reg.archive().log().head().await.unwrap().size
}

#[tokio::test]
async fn first_open_makes_the_dev_bureau_once() {
    with_registry(|reg, bureau| async move {
        assert!(bureau.created);
        assert_eq!(bureau.organisation.uscc, chop_keys_dev::DEFAULT_ORG_ID);
        assert_eq!(bureau.seal.status, "active");
        let again = ensure_dev_bureau(&reg).await.unwrap();
        assert!(!again.created);
        assert_eq!(again.seal.id, bureau.seal.id);
        assert!(reg.data_dir().join("keys/signer.key.pem").is_file());
        assert!(reg.data_dir().join("keys/root-ca.crt.pem").is_file());
    })
    .await;
}

#[tokio::test]
async fn issued_licence_is_sealed_recorded_and_queryable() {
    with_registry(|reg, bureau| async move {
        let before = log_size(&reg).await;
        let issued = reg
            .issue(issue_req(&reg, &bureau, None), "test")
            .await
            .unwrap();
        let l = &issued.licence;
        assert!(!issued.replayed);
        assert_eq!(l.status, LicenceStatus::Valid);
        assert_eq!(l.version, 1);
        assert!(l.identifier.starts_with("1.2.156.3005.2."));
        chop_seal::codes::validate_licence_id(&l.identifier).unwrap();
        assert_eq!(
            l.verify_url,
            format!("https://verify.example.gov.cn/v/{}", l.public_id)
        );
        assert_eq!(log_size(&reg).await, before + 1);

        // The PDF verifies against the data folder's root and is the one stored.
        let opts = VerifyOptions {
            trust_anchors: vec![reg.dev_root_der().to_vec()],
            ..VerifyOptions::default()
        };
        let report = verify_pdf(&issued.pdf, &opts).unwrap();
        assert_eq!(report.worst(), Indication::TotalPassed);
        assert_eq!(reg.licence_pdf(&l.identifier).await.unwrap(), issued.pdf);

        // The record names the PDF.
        let rec = reg
            .archive()
            .log()
            .record(u64::try_from(l.issued_seq).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.kind.as_str(), "licence.issued");
        assert!(rec.digests.iter().any(|d| d.value.to_hex() == l.pdf_sha256));

        // Queries: by id, by public id, by issuer, by holder.
        assert_eq!(
            reg.licence(&l.public_id).await.unwrap().identifier,
            l.identifier
        );
        let by_org = reg
            .licences(&LicenceFilter {
                org_id: Some(bureau.organisation.id.clone()),
                limit: 10,
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(by_org.items.len(), 1);
        let by_holder = reg
            .licences(&LicenceFilter {
                holder_code: Some(l.holder_code.clone()),
                limit: 10,
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(by_holder.items[0].identifier, l.identifier);

        // Serial numbers follow each other.
        let second = reg
            .issue(issue_req(&reg, &bureau, None), "test")
            .await
            .unwrap();
        let n1: u64 = l.serial.parse().unwrap();
        let n2: u64 = second.licence.serial.parse().unwrap();
        assert_eq!(n2, n1 + 1);
        let page = reg
            .licences(&LicenceFilter {
                limit: 1,
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items[0].identifier, second.licence.identifier);
        let next = reg
            .licences(&LicenceFilter {
                limit: 1,
                cursor: page.next_cursor.clone(),
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(next.items[0].identifier, l.identifier);
        assert!(next.next_cursor.is_none());
    })
    .await;
}

#[tokio::test]
async fn idempotency_key_returns_the_first_result_and_refuses_another_request() {
    with_registry(|reg, bureau| async move {
        let first = reg
            .issue(issue_req(&reg, &bureau, Some("req-1")), "test")
            .await
            .unwrap();
        let size = log_size(&reg).await;
        let again = reg
            .issue(issue_req(&reg, &bureau, Some("req-1")), "test")
            .await
            .unwrap();
        assert!(again.replayed);
        assert_eq!(again.licence.identifier, first.licence.identifier);
        assert_eq!(again.pdf, first.pdf);
        assert_eq!(log_size(&reg).await, size);

        let mut other = issue_req(&reg, &bureau, Some("req-1"));
        other.data["operator_name"] = json!("另一家公司");
        let err = reg.issue(other, "test").await.unwrap_err();
        assert!(matches!(err, RegistryError::Conflict(_)), "{err}");
        assert_eq!(log_size(&reg).await, size);
    })
    .await;
}

#[tokio::test]
async fn invalid_data_stores_nothing() {
    with_registry(|reg, bureau| async move {
        let size = log_size(&reg).await;
        let mut req = issue_req(&reg, &bureau, Some("bad"));
        req.data = json!({"holder": {"name": "x", "code": "91350100M000100Y4X"}});
        let err = reg.issue(req, "test").await.unwrap_err();
        let RegistryError::Fields(errors) = &err else {
            panic!("expected field errors, got {err}");
        };
        assert!(!errors.is_empty());
        assert_eq!(log_size(&reg).await, size);
        let all = reg
            .licences(&LicenceFilter {
                limit: 10,
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert!(all.items.is_empty());
        let err = reg
            .issue(
                IssueRequest {
                    type_key: "no-such-type".into(),
                    ..issue_req(&reg, &bureau, None)
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn lifecycle_suspend_reinstate_supersede_revoke() {
    with_registry(|reg, bureau| async move {
        let l = reg
            .issue(issue_req(&reg, &bureau, None), "test")
            .await
            .unwrap()
            .licence;
        let id = l.identifier.clone();
        let err = reg
            .change_status(&id, StatusChange::Suspend, None, None, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Invalid(_)), "{err}");
        let s = reg
            .change_status(&id, StatusChange::Suspend, Some("整改"), None, "test")
            .await
            .unwrap();
        assert_eq!(s.status, LicenceStatus::Suspended);
        assert_eq!(s.status_reason.as_deref(), Some("整改"));
        let v = reg
            .change_status(&id, StatusChange::Reinstate, None, None, "test")
            .await
            .unwrap();
        assert_eq!(v.status, LicenceStatus::Valid);

        // Another organisation cannot touch it.
        let err = reg
            .change_status(
                &id,
                StatusChange::Revoke,
                Some("x"),
                Some("org_other"),
                "test",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");

        let mut data = example(&reg, "food-business");
        data["operator_name"] = json!("南京新名称餐饮有限公司");
        let new = reg.supersede(&id, data, None, "test").await.unwrap();
        assert_eq!(new.licence.version, 2);
        assert_eq!(new.licence.serial, l.serial);
        assert_eq!(new.licence.supersedes.as_deref(), Some(id.as_str()));
        assert!(new.licence.identifier.contains(".002."));
        let old = reg.licence(&id).await.unwrap();
        assert_eq!(old.status, LicenceStatus::Superseded);
        assert_eq!(
            old.superseded_by.as_deref(),
            Some(new.licence.identifier.as_str())
        );
        let err = reg
            .change_status(&id, StatusChange::Revoke, Some("x"), None, "test")
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Conflict(_)), "{err}");

        let r = reg
            .change_status(
                &new.licence.identifier,
                StatusChange::Revoke,
                Some("吊销"),
                None,
                "test",
            )
            .await
            .unwrap();
        assert_eq!(r.status, LicenceStatus::Revoked);
        let revoked = reg
            .licences(&LicenceFilter {
                status: Some(LicenceStatus::Revoked),
                limit: 10,
                ..LicenceFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(revoked.items.len(), 1);

        // Every change is a record.
        let kinds: Vec<String> = reg
            .store()
            .list_records(0, None, 100)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                chop_archive::record::Record::from_canonical_bytes(&r.bytes)
                    .unwrap()
                    .kind
                    .as_str()
                    .to_owned()
            })
            .collect();
        for k in [
            "licence.issued",
            "licence.suspended",
            "licence.reinstated",
            "licence.superseded",
            "licence.revoked",
        ] {
            assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn reconcile_restores_rows_lost_after_the_record() {
    with_registry(|reg, bureau| async move {
        let l = reg
            .issue(issue_req(&reg, &bureau, None), "test")
            .await
            .unwrap()
            .licence;
        reg.change_status(
            &l.identifier,
            StatusChange::Suspend,
            Some("检查"),
            None,
            "test",
        )
        .await
        .unwrap();
        // As if the process died after the records and before the rows.
        rows::on_pool!(reg.store(), pool => {
            sqlx::query("DELETE FROM licences").execute(pool).await.unwrap();
            sqlx::query("UPDATE registry_state SET applied_seq = 0").execute(pool).await.unwrap();
        });
        assert!(reg.licence(&l.identifier).await.is_err());
        assert!(reg.reconcile().await.unwrap() >= 2);
        let back = reg.licence(&l.identifier).await.unwrap();
        assert_eq!(back.status, LicenceStatus::Suspended);
        assert_eq!(back.public_id, l.public_id);
        assert_eq!(back.issued_seq, l.issued_seq);
    })
    .await;
}

#[tokio::test]
async fn organisations_and_seals() {
    with_registry(|reg, bureau| async move {
        let err = reg
            .create_organisation(
                &NewOrganisation {
                    uscc: "91350100M000100Y44".into(),
                    name: "x".into(),
                    name_en: None,
                    address: None,
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("'3'"), "{err}");
        let err = reg
            .create_organisation(
                &NewOrganisation {
                    uscc: bureau.organisation.uscc.clone(),
                    name: "dup".into(),
                    name_en: None,
                    address: None,
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Conflict(_)), "{err}");

        let org = reg
            .create_organisation(
                &NewOrganisation {
                    uscc: "91350100M000100Y43".into(),
                    name: "福州市示例区政务服务中心".into(),
                    name_en: None,
                    address: Some("福州市".into()),
                },
                "test",
            )
            .await
            .unwrap();
        let renamed = reg
            .update_organisation(
                &org.id,
                &OrganisationPatch {
                    name: Some("福州市示例区行政审批局".into()),
                    ..OrganisationPatch::default()
                },
                "test",
            )
            .await
            .unwrap();
        assert_eq!(renamed.name, "福州市示例区行政审批局");
        let seal = reg
            .create_seal(
                NewSeal {
                    org_id: org.id.clone(),
                    name: "电子证照专用章".into(),
                    seal_type: SealType::Licence,
                    key: SealKey::Generate,
                    picture_png: None,
                },
                "test",
            )
            .await
            .unwrap();
        assert!(seal.certificate_subject.contains("91350100M000100Y43"));

        // An uploaded certificate must name this organisation; one that does is accepted.
        let other = reg
            .pki
            .issue_signer("别的单位", "11100000000013338W", "合同专用章")
            .unwrap();
        let upload = |cred: &chop_keys_dev::Credential| NewSeal {
            org_id: org.id.clone(),
            name: "合同专用章".into(),
            seal_type: SealType::Contract,
            key: SealKey::Upload {
                cert_pem: cred.cert_pem(),
                key_pem: cred.key_pem(),
                chain_pem: Some(reg.pki.chain_pem()),
            },
            picture_png: None,
        };
        let err = reg.create_seal(upload(&other), "test").await.unwrap_err();
        assert!(err.to_string().contains("organizationIdentifier"), "{err}");
        let own = reg
            .pki
            .issue_signer(&org.name, &org.uscc, "合同专用章")
            .unwrap();
        let uploaded = reg.create_seal(upload(&own), "test").await.unwrap();
        assert_eq!(uploaded.seal_type, 14);

        // A licence from the new organisation with its seal verifies.
        let issued = reg
            .issue(
                IssueRequest {
                    org_id: org.id.clone(),
                    seal_id: Some(seal.id.clone()),
                    ..issue_req(&reg, &bureau, None)
                },
                "test",
            )
            .await
            .unwrap();
        assert_eq!(issued.licence.issuer_uscc, "91350100M000100Y43");
        let opts = VerifyOptions {
            trust_anchors: vec![reg.dev_root_der().to_vec()],
            ..VerifyOptions::default()
        };
        assert_eq!(
            verify_pdf(&issued.pdf, &opts).unwrap().worst(),
            Indication::TotalPassed
        );

        // Another organisation's seal, and a revoked seal, cannot be used.
        let err = reg
            .issue(
                IssueRequest {
                    seal_id: Some(seal.id.clone()),
                    ..issue_req(&reg, &bureau, None)
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::SealNotUsable(_)), "{err}");
        reg.revoke_seal(&seal.id, "key compromise drill", "test")
            .await
            .unwrap();
        let err = reg
            .issue(
                IssueRequest {
                    org_id: org.id.clone(),
                    seal_id: Some(seal.id.clone()),
                    ..issue_req(&reg, &bureau, None)
                },
                "test",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::SealNotUsable(_)), "{err}");
        assert_eq!(reg.seals(Some(&org.id), None, 10).await.unwrap().len(), 2);
    })
    .await;
}
