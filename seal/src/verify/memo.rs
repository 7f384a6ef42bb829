//! Memos of pure functions of content, keyed by the SHA-256 of their input.
//!
//! A bureau seals thousands of documents with one seal and one certificate chain, so a
//! verifier sees the same seal picture, the same seal object and the same certificates again
//! and again. What depends only on such bytes — a decoded picture, an image's samples, whether
//! a signature over them verifies — is kept here, keyed by the SHA-256 of every byte the
//! result depends on (collision resistance makes the key as good as the bytes). Each memo is
//! small and bounded; a poisoned lock only disables it.

pub(crate) type Digest = [u8; 32];

pub(crate) fn sha256(data: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, data).as_ref());
    out
}

/// A bounded memo (the most recent entries).
pub(crate) struct Memo<V: Clone>(std::sync::Mutex<std::collections::VecDeque<(Digest, V)>>);

impl<V: Clone> Memo<V> {
    const CAPACITY: usize = 32;

    pub(crate) const fn new() -> Self {
        Self(std::sync::Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn get(&self, key: &Digest) -> Option<V> {
        let guard = self.0.lock().ok()?;
        guard.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: Digest, value: V) {
        if let Ok(mut guard) = self.0.lock() {
            if guard.len() >= Self::CAPACITY {
                guard.pop_front();
            }
            guard.push_back((key, value));
        }
    }
}

static SIGNATURES: Memo<bool> = Memo::new();

/// The answer of `verify`, a signature check that depends on the bytes of `inputs` and on
/// nothing else, memoised by the SHA-256 of `inputs` (each prefixed by its length, so no two
/// different lists share a key). The first input names the kind of check.
pub(crate) fn verified(inputs: &[&[u8]], verify: impl FnOnce() -> bool) -> bool {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in inputs {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    if let Some(v) = SIGNATURES.get(&key) {
        return v;
    }
    let v = verify();
    SIGNATURES.put(key, v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_per_input_and_lists_do_not_collide() {
        let mut calls = 0;
        assert!(verified(&[b"t", b"ab", b"c"], || {
            calls += 1;
            true
        }));
        assert!(verified(&[b"t", b"ab", b"c"], || {
            calls += 1;
            false
        }));
        assert_eq!(calls, 1, "the second answer came from the memo");
        // The same bytes split differently are another input.
        assert!(!verified(&[b"t", b"a", b"bc"], || false));
        assert!(!verified(&[b"t", b"a", b"bc"], || true));
    }
}
