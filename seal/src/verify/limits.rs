//! Resource limits for verifying untrusted files (issue 3 §3 "Hostile files").
//!
//! Every loop of the verifier that depends on the input is bounded by one of these numbers and
//! by a wall-clock budget; exceeding one stops verification with
//! [`super::VerifyError::LimitExceeded`] naming the limit, never an out-of-memory or a hang.

use std::time::{Duration, Instant};

/// Bounds on what one verification may consume. [`Limits::default`] suits documents up to
/// 100 MiB on a small server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes (default 100 MiB).
    pub max_input_bytes: usize,
    /// Most indirect objects one revision may hold (default 1,000,000).
    pub max_objects: usize,
    /// Deepest nesting of direct objects, and longest reference chain followed when resolving
    /// a value (default 64).
    pub max_depth: usize,
    /// Most bytes one stream may decompress to (default 64 MiB).
    pub max_decompressed_bytes: usize,
    /// Largest decompressed/compressed size ratio of one stream (default 1,000; zlib's
    /// theoretical maximum is about 1,032).
    pub max_ratio: usize,
    /// Wall-clock budget for one file (default 30 s).
    pub max_duration: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 100 * 1024 * 1024,
            max_objects: 1_000_000,
            max_depth: 64,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_ratio: 1_000,
            max_duration: Duration::from_secs(30),
        }
    }
}

/// Which limit stopped verification (its field name in [`Limits`]) and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitHit {
    /// The [`Limits`] field name, e.g. `max_objects`.
    pub limit: &'static str,
    /// What exceeded it, in words.
    pub detail: String,
}

impl LimitHit {
    pub(crate) fn new(limit: &'static str, detail: impl Into<String>) -> Self {
        Self {
            limit,
            detail: detail.into(),
        }
    }
}

/// The running budget of one verification: the limits plus the deadline.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    pub(crate) limits: Limits,
    deadline: Instant,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            deadline: Instant::now() + limits.max_duration,
        }
    }

    /// Fail once the wall-clock budget is spent.
    pub(crate) fn tick(&self) -> Result<(), LimitHit> {
        if Instant::now() > self.deadline {
            return Err(LimitHit::new(
                "max_duration",
                format!(
                    "verification took longer than {} ms",
                    self.limits.max_duration.as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// Check a decompressed stream's size against the size and ratio limits.
    pub(crate) fn check_inflated(
        &self,
        compressed: usize,
        inflated: usize,
    ) -> Result<(), LimitHit> {
        if inflated > self.limits.max_decompressed_bytes {
            return Err(LimitHit::new(
                "max_decompressed_bytes",
                format!(
                    "a stream decompresses to more than {} bytes",
                    self.limits.max_decompressed_bytes
                ),
            ));
        }
        if inflated > 4096 && inflated / compressed.max(1) > self.limits.max_ratio {
            return Err(LimitHit::new(
                "max_ratio",
                format!(
                    "a stream of {compressed} bytes decompresses to {inflated} bytes (ratio over {})",
                    self.limits.max_ratio
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflation_limits_name_themselves() {
        let b = Budget::new(&Limits {
            max_decompressed_bytes: 10_000,
            max_ratio: 10,
            ..Limits::default()
        });
        assert!(b.check_inflated(1000, 9000).is_ok());
        assert_eq!(b.check_inflated(100, 9000).unwrap_err().limit, "max_ratio");
        assert_eq!(
            b.check_inflated(5000, 20_000).unwrap_err().limit,
            "max_decompressed_bytes"
        );
        // small streams are never refused for their ratio
        assert!(b.check_inflated(1, 4000).is_ok());
    }

    #[test]
    fn zero_duration_budget_expires() {
        let b = Budget::new(&Limits {
            max_duration: Duration::ZERO,
            ..Limits::default()
        });
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(b.tick().unwrap_err().limit, "max_duration");
    }
}
