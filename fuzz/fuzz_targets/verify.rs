//! Fuzz target: the verifier's entry point on arbitrary bytes (issue 3 §5).
//! Any input must give `Ok(report)` or a named `Err`, never a panic, a hang or an OOM; and a
//! report must never be TOTAL-PASSED without a trust anchor; and where the verifier's blanked
//! view of the file (seal/src/verify/gaps.rs) is confirmed, its report equals the one from the
//! file's own parse.
//! Run with `scripts/fuzz-verify SECONDS` (docs/VERIFY.md).
#![no_main]

use chop_seal::verify::{Indication, Limits, VerifyOptions, compare_parses, verify_pdf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = VerifyOptions {
        limits: Limits {
            max_input_bytes: 4 << 20,
            max_decompressed_bytes: 16 << 20,
            max_duration: std::time::Duration::from_secs(5),
            ..Limits::default()
        },
        at: Some(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)),
        ..VerifyOptions::default()
    };
    let c = compare_parses(data, &opts);
    if let Some((view, true)) = &c.view {
        let json = |r: &Result<chop_seal::verify::Report, chop_seal::verify::VerifyError>| {
            r.as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .map_err(|e| e.to_string())
        };
        assert_eq!(json(view), json(&c.file), "a confirmed view disagrees with the file");
    }
    if let Ok(report) = verify_pdf(data, &opts) {
        for s in &report.signatures {
            assert_ne!(
                s.indication,
                Indication::TotalPassed,
                "trusted without an anchor"
            );
        }
        let _ = report.summary();
    }
});
