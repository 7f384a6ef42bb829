//! Certificate path building and validation (RFC 5280 §6.1, the subset a PAdES B-B verifier
//! without revocation data can decide; ETSI EN 319 102-1 §5.2.6 X.509 certificate validation).
//!
//! The path is built from the signer certificate upwards through the CMS certificates and the
//! trust anchors, matching issuer to subject by their DER names and verifying each certificate
//! signature. On the path: every certificate is checked for validity at the validation time;
//! every issuing CA for basicConstraints cA=TRUE, its pathLenConstraint and keyCertSign; the
//! signer for digitalSignature or nonRepudiation; and no certificate may carry a critical
//! extension Chop does not understand. Trust anchors are taken as given (RFC 5280 §6.1.1 d),
//! except that an anchor outside its validity period is reported.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::report::{CertificateInfo, ChainCertificate, ChainReport, SubIndication};

/// Longest path built (signer + intermediates + anchor).
const MAX_PATH: usize = 8;

/// Extension OIDs Chop understands when marked critical.
const KNOWN_CRITICAL: &[&str] = &[
    "2.5.29.15",         // keyUsage
    "2.5.29.19",         // basicConstraints
    "2.5.29.37",         // extendedKeyUsage
    "2.5.29.17",         // subjectAltName
    "2.5.29.32",         // certificatePolicies
    "2.5.29.14",         // subjectKeyIdentifier
    "2.5.29.35",         // authorityKeyIdentifier
    "1.3.6.1.5.5.7.1.3", // qcStatements
];

/// RFC 3339 rendering of a Unix time (UTC).
pub(crate) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// The report fields of a certificate.
pub(crate) fn certificate_info(cert: &X509Certificate<'_>, der: &[u8]) -> CertificateInfo {
    CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: hex::encode(cert.raw_serial()),
        not_before: rfc3339(cert.validity().not_before.timestamp()),
        not_after: rfc3339(cert.validity().not_after.timestamp()),
        sha256: crate::certs::fingerprint_sha256(der),
    }
}

/// Result of path validation.
pub(crate) struct ChainOutcome {
    pub report: ChainReport,
    pub failures: Vec<(SubIndication, String)>,
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der)
        .ok()
        .filter(|(rest, _)| rest.is_empty())
        .map(|(_, c)| c)
}

/// Whether `issuer` names and signed `child`. The signature check depends only on the child's
/// to-be-signed bytes, its signature algorithm and value, and the issuer's key: memoised, since
/// every document of a bureau carries the same chain.
fn issued_by(child: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return false;
    }
    let algorithm = &child.signature_algorithm;
    let parameters: Vec<u8> = algorithm.parameters.as_ref().map_or_else(Vec::new, |p| {
        let mut out = p.tag().0.to_be_bytes().to_vec();
        out.extend_from_slice(p.as_bytes());
        out
    });
    super::memo::verified(
        &[
            b"x509",
            child.tbs_certificate.as_ref(),
            algorithm.algorithm.as_bytes(),
            &parameters,
            child.signature_value.as_ref(),
            issuer.public_key().raw,
        ],
        || child.verify_signature(Some(issuer.public_key())).is_ok(),
    )
}

/// Build and check the path from `signer` to one of `anchors` at `validation_time` (Unix
/// seconds), with `pool` (the CMS certificates) as intermediates.
pub(crate) fn validate(
    signer: &[u8],
    pool: &[Vec<u8>],
    anchors: &[Vec<u8>],
    validation_time: i64,
) -> ChainOutcome {
    let mut failures = Vec::new();
    let mut report = ChainReport::default();
    let Some(leaf) = parse(signer) else {
        failures.push((
            SubIndication::FormatFailure,
            "the signer certificate cannot be parsed".into(),
        ));
        return ChainOutcome { report, failures };
    };

    // Build: (der, is_anchor) from signer upwards.
    let mut path: Vec<(&[u8], bool)> = vec![(signer, anchors.iter().any(|a| a == signer))];
    let mut found_anchor = path[0].1;
    while !found_anchor && path.len() < MAX_PATH {
        let Some(&(cur_der, _)) = path.last() else {
            break;
        };
        let Some(cur) = parse(cur_der) else { break };
        let next = anchors
            .iter()
            .map(|a| (a.as_slice(), true))
            .chain(pool.iter().map(|c| (c.as_slice(), false)))
            .find(|(cand, _)| {
                !path.iter().any(|(p, _)| p == cand)
                    && parse(cand).is_some_and(|issuer| issued_by(&cur, &issuer))
            });
        match next {
            Some((der, is_anchor)) => {
                // A pool certificate identical to an anchor counts as the anchor.
                let is_anchor = is_anchor || anchors.iter().any(|a| a.as_slice() == der);
                path.push((der, is_anchor));
                found_anchor = is_anchor;
            }
            None => break,
        }
    }

    let n = path.len();
    for (i, (der, is_anchor)) in path.iter().enumerate() {
        let Some(cert) = parse(der) else { continue };
        let info = certificate_info(&cert, der);
        let nb = cert.validity().not_before.timestamp();
        let na = cert.validity().not_after.timestamp();
        let valid_now = nb <= validation_time && validation_time <= na;
        let mut constraints_ok = true;
        if !valid_now {
            if validation_time > na {
                failures.push((
                    SubIndication::OutOfBoundsNoPoe,
                    format!(
                        "certificate '{}' expired on {} (validation time {})",
                        info.subject,
                        info.not_after,
                        rfc3339(validation_time)
                    ),
                ));
            } else {
                failures.push((
                    SubIndication::NotYetValid,
                    format!(
                        "certificate '{}' is not valid before {}",
                        info.subject, info.not_before
                    ),
                ));
            }
        }
        for ext in cert.extensions() {
            if ext.critical && !KNOWN_CRITICAL.contains(&ext.oid.to_id_string().as_str()) {
                constraints_ok = false;
                failures.push((
                    SubIndication::ChainConstraintsFailure,
                    format!(
                        "certificate '{}' has an unknown critical extension {}",
                        info.subject, ext.oid
                    ),
                ));
            }
        }
        if cert.signature_algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.5" && !is_anchor
        {
            constraints_ok = false;
            failures.push((
                SubIndication::ChainConstraintsFailure,
                format!("certificate '{}' is signed with SHA-1", info.subject),
            ));
        }
        if i == 0 {
            // The signer: keyUsage, when present, must allow signatures.
            if let Ok(Some(ku)) = cert.key_usage()
                && !(ku.value.digital_signature() || ku.value.non_repudiation())
            {
                constraints_ok = false;
                failures.push((
                    SubIndication::ChainConstraintsFailure,
                    format!(
                        "signer certificate '{}' keyUsage allows neither digitalSignature nor nonRepudiation",
                        info.subject
                    ),
                ));
            }
        } else if !is_anchor {
            // An issuing CA: intermediates below it = i - 1 (the signer excluded).
            match cert.basic_constraints() {
                Ok(Some(bc)) if bc.value.ca => {
                    if let Some(max) = bc.value.path_len_constraint
                        && (i - 1) as u32 > max
                    {
                        constraints_ok = false;
                        failures.push((
                            SubIndication::ChainConstraintsFailure,
                            format!(
                                "CA '{}' allows {} intermediate(s) below it, the path has {}",
                                info.subject,
                                max,
                                i - 1
                            ),
                        ));
                    }
                }
                _ => {
                    constraints_ok = false;
                    failures.push((
                        SubIndication::ChainConstraintsFailure,
                        format!("issuer '{}' is not a CA (basicConstraints)", info.subject),
                    ));
                }
            }
            if let Ok(Some(ku)) = cert.key_usage()
                && !ku.value.key_cert_sign()
            {
                constraints_ok = false;
                failures.push((
                    SubIndication::ChainConstraintsFailure,
                    format!("CA '{}' keyUsage lacks keyCertSign", info.subject),
                ));
            }
        }
        if *is_anchor {
            report.trust_anchor = Some(info.subject.clone());
        }
        report.certificates.push(ChainCertificate {
            certificate: info,
            valid_at_validation_time: valid_now,
            trust_anchor: *is_anchor,
            constraints_ok,
        });
    }
    if !found_anchor {
        let what = if anchors.is_empty() {
            "no trust anchor was given (use --trust)".to_string()
        } else if leaf.issuer().as_raw() == leaf.subject().as_raw() && n == 1 {
            format!(
                "the signer certificate '{}' is self-signed and not a trust anchor",
                leaf.subject()
            )
        } else {
            format!("no path from '{}' to a trust anchor", leaf.subject())
        };
        failures.push((SubIndication::NoCertificateChainFound, what));
    }
    report.trusted = found_anchor && failures.is_empty();
    ChainOutcome { report, failures }
}
