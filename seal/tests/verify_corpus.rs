//! The verifier against the shared corpus (../shared/corpus, MANIFEST.tsv): each signed file
//! gets the verdict its manifest line describes, with pki/root.pem as the trust anchor.

use chop_seal::verify::{
    ChangeLevel, Coverage, Indication, Report, SubIndication, VerifyError, VerifyOptions,
    verify_pdf,
};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn trusted() -> VerifyOptions {
    let pem = std::fs::read_to_string(format!("{CORPUS}/pki/root.pem")).unwrap();
    VerifyOptions {
        trust_anchors: chop_seal::certs::certificates_from_pem(&pem).unwrap(),
        ..VerifyOptions::default()
    }
}

fn verify(name: &str) -> Report {
    let r = verify_pdf(&corpus(name), &trusted()).unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("{name}:\n{}", r.summary());
    r
}

#[test]
fn pyhanko_ec_and_rsa_signatures_are_valid_with_the_root_trusted() {
    for name in ["signed-pyhanko-ec.pdf", "signed-pyhanko-rsa.pdf"] {
        let r = verify(name);
        assert_eq!(r.signatures.len(), 1);
        let s = &r.signatures[0];
        assert_eq!(
            s.indication,
            Indication::TotalPassed,
            "{name}: {:?}",
            s.problems
        );
        assert_eq!(s.sub_indication, None);
        assert!(s.problems.is_empty());
        assert_eq!(s.coverage, Coverage::EntireFile);
        assert_eq!(s.changes.level, ChangeLevel::None);
        assert!(s.integrity.message_digest_matches && s.integrity.signature_verifies);
        assert!(s.integrity.signed_attributes_well_formed);
        assert!(s.chain.trusted);
        assert_eq!(s.chain.certificates.len(), 2);
        assert!(
            s.chain
                .trust_anchor
                .as_deref()
                .unwrap()
                .contains("Foreign Test Root A")
        );
        assert_eq!(s.field_name, "Sig1");
        assert_eq!(s.sub_filter, "ETSI.CAdES.detached");
        assert!(
            s.signing_time
                .as_ref()
                .unwrap()
                .time
                .starts_with("2026-11-21T22:47:0")
        );
        assert_eq!(r.document.revision_count, 2);
        assert_eq!(
            r.document.revisions.last().unwrap().end_offset,
            r.document.size
        );
        assert!(
            r.summary()
                .contains("the document has not been changed since")
        );
    }
    let rsa = verify("signed-pyhanko-rsa.pdf");
    assert!(
        rsa.signatures[0]
            .integrity
            .signature_algorithm
            .contains("RSA")
    );
}

#[test]
fn without_a_trust_anchor_a_valid_signature_is_indeterminate() {
    let r = verify_pdf(&corpus("signed-pyhanko-ec.pdf"), &VerifyOptions::default()).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.indication, Indication::Indeterminate);
    assert_eq!(
        s.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
    assert!(s.integrity.signature_verifies);
}

#[test]
fn self_signed_is_indeterminate_no_chain() {
    let s = verify("signed-selfsigned.pdf").signatures[0].clone();
    assert_eq!(s.indication, Indication::Indeterminate);
    assert_eq!(
        s.sub_indication,
        Some(SubIndication::NoCertificateChainFound)
    );
    assert!(s.integrity.signature_verifies);
    assert!(s.problems[0].contains("self-signed"), "{:?}", s.problems);
}

#[test]
fn expired_signer_is_not_valid() {
    let s = verify("signed-expired-cert.pdf").signatures[0].clone();
    assert_ne!(s.indication, Indication::TotalPassed);
    assert_eq!(s.sub_indication, Some(SubIndication::OutOfBoundsNoPoe));
    assert!(s.integrity.signature_verifies);
    assert!(
        s.problems.iter().any(|p| p.contains("expired")),
        "{:?}",
        s.problems
    );
}

#[test]
fn validation_time_is_the_at_option() {
    // As of 2020-06-01 the signer certificate (2020–2021) is valid but the root (issued
    // 2026-11-21) is not yet: still not valid, now for that reason.
    let mut opts = trusted();
    opts.at = Some(time::macros::datetime!(2020-06-01 00:00 UTC));
    let r = verify_pdf(&corpus("signed-expired-cert.pdf"), &opts).unwrap();
    assert_eq!(r.validation_time, "2020-06-01T00:00:00Z");
    let s = &r.signatures[0];
    assert!(
        s.chain.certificates[0].valid_at_validation_time,
        "{:?}",
        s.chain
    );
    assert!(!s.chain.certificates[1].valid_at_validation_time);
    assert_eq!(s.indication, Indication::TotalFailed);
    assert_eq!(s.sub_indication, Some(SubIndication::NotYetValid));
}

#[test]
fn content_changed_after_signing_is_total_failed_other() {
    let r = verify("signed-then-content-changed.pdf");
    let s = &r.signatures[0];
    assert_eq!(s.indication, Indication::TotalFailed);
    assert_eq!(s.sub_indication, Some(SubIndication::SigConstraintsFailure));
    assert_eq!(s.coverage, Coverage::EntireRevision);
    assert_eq!(s.changes.level, ChangeLevel::Other);
    assert!(!s.docmdp.changes_permitted);
    assert!(s.integrity.signature_verifies && s.chain.trusted);
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.object == "3 0" && o.level == ChangeLevel::Other),
        "{:?}",
        s.changes.objects
    );
    assert!(r.summary().contains("do not rely on this document"));
}

#[test]
fn annotated_after_signing_is_reported_and_not_passed() {
    let s = verify("signed-then-annotated.pdf").signatures[0].clone();
    assert_ne!(s.indication, Indication::TotalPassed);
    assert_eq!(s.changes.level, ChangeLevel::Annotations);
    assert!(
        s.changes
            .objects
            .iter()
            .any(|o| o.object == "16 0" && o.level == ChangeLevel::Annotations),
        "{:?}",
        s.changes.objects
    );
    assert!(!s.docmdp.changes_permitted);
}

#[test]
fn byte_flipped_is_hash_failure() {
    let s = verify("signed-byte-flipped.pdf").signatures[0].clone();
    assert_eq!(s.indication, Indication::TotalFailed);
    assert_eq!(s.sub_indication, Some(SubIndication::HashFailure));
    assert!(!s.integrity.message_digest_matches);
}

#[test]
fn certified_documents_are_valid_with_their_permission() {
    for (name, p) in [("certified-docmdp1.pdf", 1), ("certified-docmdp2.pdf", 2)] {
        let s = verify(name).signatures[0].clone();
        assert_eq!(
            s.indication,
            Indication::TotalPassed,
            "{name}: {:?}",
            s.problems
        );
        assert!(s.docmdp.certification);
        assert_eq!(s.docmdp.permission, Some(p));
        assert!(s.docmdp.changes_permitted);
    }
}

#[test]
fn unsigned_and_malformed_files_are_errors() {
    for name in [
        "plain-1page.pdf",
        "acroform-fields.pdf",
        "incremental-updated.pdf",
    ] {
        assert_eq!(
            verify_pdf(&corpus(name), &trusted()).unwrap_err(),
            VerifyError::NoSignature,
            "{name}"
        );
    }
    for name in ["not-a-pdf.pdf", "truncated.pdf"] {
        assert!(
            matches!(
                verify_pdf(&corpus(name), &trusted()),
                Err(VerifyError::NotPdf(_))
            ),
            "{name}"
        );
    }
}

#[test]
fn every_corpus_file_is_handled_without_panic() {
    let manifest = std::fs::read_to_string(format!("{CORPUS}/MANIFEST.tsv")).unwrap();
    for line in manifest.lines().skip(1) {
        let name = line.split('\t').next().unwrap();
        let _ = verify_pdf(&corpus(name), &trusted());
    }
}
