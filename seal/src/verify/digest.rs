//! The file's SHA-256, computed once per verification.
//!
//! The report names the document by the SHA-256 of all its bytes, and a SHA-256 signature
//! covers `data[..a] ‖ data[b..b + c]`, whose first part is a prefix of the file. Hashing the
//! file once and keeping the hash state at each signature's `a` lets the signature's digest
//! continue from there instead of hashing the prefix again. Which offsets are kept is only a
//! matter of speed: a signature whose `a` has no kept state is hashed from the start.

use ring::digest::{Context, Digest, SHA256};

pub(crate) struct FileDigest {
    /// The SHA-256 state after `data[..offset]`, by offset (ascending, unique).
    states: Vec<(usize, Context)>,
    whole: Digest,
}

impl FileDigest {
    /// Hash `data`, keeping the state after each offset in `cuts` that lies within it.
    pub(crate) fn new(data: &[u8], cuts: &[usize]) -> Self {
        let mut cuts: Vec<usize> = cuts
            .iter()
            .copied()
            .filter(|&c| c > 0 && c <= data.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut ctx = Context::new(&SHA256);
        let mut states = Vec::with_capacity(cuts.len());
        let mut done = 0;
        for cut in cuts {
            ctx.update(&data[done..cut]);
            done = cut;
            states.push((cut, ctx.clone()));
        }
        ctx.update(&data[done..]);
        Self {
            states,
            whole: ctx.finish(),
        }
    }

    /// The SHA-256 of the whole file.
    pub(crate) fn whole(&self) -> &[u8] {
        self.whole.as_ref()
    }

    /// The SHA-256 state after `data[..offset]`, when it was kept.
    pub(crate) fn after(&self, offset: usize) -> Option<&Context> {
        self.states
            .binary_search_by_key(&offset, |(o, _)| *o)
            .ok()
            .map(|i| &self.states[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn continuing_from_a_kept_state_equals_hashing_from_the_start(
            data in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(0usize..320, 0..5),
            tail in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let fd = FileDigest::new(&data, &cuts);
            prop_assert_eq!(fd.whole(), ring::digest::digest(&SHA256, &data).as_ref().to_vec());
            for &cut in &cuts {
                match fd.after(cut) {
                    Some(state) => {
                        let mut ctx = state.clone();
                        ctx.update(&tail);
                        let mut expected = data[..cut].to_vec();
                        expected.extend_from_slice(&tail);
                        prop_assert_eq!(
                            ctx.finish().as_ref().to_vec(),
                            ring::digest::digest(&SHA256, &expected).as_ref().to_vec()
                        );
                    }
                    None => prop_assert!(cut == 0 || cut > data.len()),
                }
            }
        }
    }
}
