//! Fuzz target: the verifier's entry point on arbitrary bytes (issue 3 §5).
//! Any input must give `Ok(report)` or a named `Err`, never a panic, a hang or an OOM; and a
//! report must never be TOTAL-PASSED without a trust anchor.
//! Run with `scripts/fuzz-verify SECONDS` (docs/VERIFY.md).
#![no_main]

use chop_seal::verify::{Indication, Limits, VerifyOptions, verify_pdf};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = VerifyOptions {
        limits: Limits {
            max_input_bytes: 4 << 20,
            max_decompressed_bytes: 16 << 20,
            max_duration: std::time::Duration::from_secs(5),
            ..Limits::default()
        },
        ..VerifyOptions::default()
    };
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
