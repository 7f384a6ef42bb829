//! RFC 9162 §2.1 Merkle tree hashing over a densely stored node array: leaf and node hashes,
//! tree heads, inclusion proofs (§2.1.3) and consistency proofs (§2.1.4), and their verifiers.
//!
//! Storage layout follows Crosby & Wallach §3.3 (the layout of Go's `golang.org/x/mod/sumdb/tlog`):
//! every complete subtree `(level, n)` — the subtree of `2^level` leaves starting at leaf
//! `n·2^level` — has one slot [`stored_hash_index`]`(level, n)` in a single dense array, in the
//! order the nodes become complete. Appending leaf `n` writes `1 + trailing_ones(n)` hashes
//! (two on average) at the end of the array; a tree head or a proof reads at most `2·log₂ n`
//! hashes in one batch, so a storage engine that can read a list of rows by key in one query
//! serves a proof with one query.
//!
//! The math never touches I/O: a synchronous [`HashReader`] serves the functions that compute
//! directly, and every such function has an `*_indexes` twin that only says which slots it will
//! read, so async storage can fetch them first and hand the results over as a
//! [`PrefetchedHashes`] reader.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest;

/// Largest tree size accepted anywhere in this module (2^62 leaves), so index arithmetic never
/// overflows.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree head (RFC 9162 §2.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash (used as `prev` of the first archive record, never as a tree hash).
    pub const ZERO: Hash = Hash([0; 32]);

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 lower-case hexadecimal characters.
    pub fn from_hex(text: &str) -> Result<Hash, HashParseError> {
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(HashParseError::Hex);
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| HashParseError::Hex)?;
        Ok(Hash(out))
    }

    /// Standard base64 with padding (RFC 4648 §4), 44 characters, as in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses canonical standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Hash, HashParseError> {
        let bytes = BASE64.decode(text).map_err(|_| HashParseError::Base64)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| HashParseError::Base64)?;
        Ok(Hash(arr))
    }

    /// Plain SHA-256 of `data` (not a leaf hash: see [`leaf_hash`]).
    pub fn sha256(data: &[u8]) -> Hash {
        let d = digest::digest(&digest::SHA256, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Hash(out)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A hash given as text was not 64 lower-case hex characters or base64 of 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    /// Not 64 lower-case hexadecimal characters.
    #[error("not a SHA-256 hash in hex (64 lower-case hex digits)")]
    Hex,
    /// Not canonical base64 of 32 bytes.
    #[error("not a SHA-256 hash in base64 (44 characters encoding 32 bytes)")]
    Base64,
}

/// Leaf hash `SHA-256(0x00 ‖ entry)` (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Hash(out)
}

/// Interior node hash `SHA-256(0x01 ‖ left ‖ right)` (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(&left.0);
    buf[33..].copy_from_slice(&right.0);
    Hash::sha256(&buf)
}

/// The hash of the empty tree, `SHA-256()` (RFC 9162 §2.1.1: MTH({}) = HASH()).
pub fn empty_tree_hash() -> Hash {
    Hash::sha256(&[])
}

/// What went wrong computing a tree hash or a proof from stored hashes.
#[derive(Debug, thiserror::Error)]
pub enum MerkleError {
    /// The arguments do not describe a valid request (e.g. index ≥ size).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The reader returned a different number of hashes than asked for.
    #[error("hash reader returned {got} hashes for {asked} indexes")]
    ShortRead {
        /// Number of indexes asked for.
        asked: usize,
        /// Number of hashes returned.
        got: usize,
    },
    /// A [`PrefetchedHashes`] reader was asked for a slot it was not given.
    #[error("stored hash {0} was not prefetched")]
    NotPrefetched(u64),
    /// The reader failed.
    #[error("reading stored hashes: {0}")]
    Read(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A source of stored node hashes, addressed by [`stored_hash_index`] (Go tlog's `HashReader`).
pub trait HashReader {
    /// The reader's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Returns the hashes at `indexes`, in the same order and of the same length, or an error.
    /// The functions of this module always ask for strictly increasing indexes, in one call.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, Self::Error>;
}

/// A slot of a dense in-memory array was past its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stored hash {index} is past the end of the array ({len} hashes)")]
pub struct MissingHash {
    /// The index asked for.
    pub index: u64,
    /// How many hashes the array holds.
    pub len: u64,
}

impl HashReader for [Hash] {
    type Error = MissingHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|u| self.get(u))
                    .copied()
                    .ok_or(MissingHash {
                        index: i,
                        len: self.len() as u64,
                    })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    type Error = MissingHash;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MissingHash> {
        self.as_slice().read_hashes(indexes)
    }
}

/// A reader over hashes fetched beforehand for a known list of indexes (for async storage).
#[derive(Debug, Clone, Default)]
pub struct PrefetchedHashes {
    map: HashMap<u64, Hash>,
}

impl PrefetchedHashes {
    /// Pairs `indexes` with `hashes` (as returned by a batched read); errors if the lengths differ.
    pub fn new(indexes: &[u64], hashes: &[Hash]) -> Result<Self, MerkleError> {
        if indexes.len() != hashes.len() {
            return Err(MerkleError::ShortRead {
                asked: indexes.len(),
                got: hashes.len(),
            });
        }
        Ok(PrefetchedHashes {
            map: indexes
                .iter()
                .copied()
                .zip(hashes.iter().copied())
                .collect(),
        })
    }
}

impl HashReader for PrefetchedHashes {
    type Error = MerkleError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|i| {
                self.map
                    .get(i)
                    .copied()
                    .ok_or(MerkleError::NotPrefetched(*i))
            })
            .collect()
    }
}

/// Reads `indexes` from `reader`, checking the count.
fn read_checked<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader
        .read_hashes(indexes)
        .map_err(|e| MerkleError::Read(Box::new(e)))?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ShortRead {
            asked: indexes.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Dense storage slot of the complete subtree `(level, n)` (Crosby & Wallach §3.3; Go tlog's
/// `StoredHashIndex`). Leaf `n` is `(0, n)`. Meaningful while `(n+1)·2^level ≤ MAX_TREE_SIZE`;
/// beyond that the result saturates at `u64::MAX`.
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    // The subtree is completed by leaf m = (n+1)·2^level − 1; leaf m's own hash sits after all
    // hashes written for leaves 0..m, of which there are Σ_{k≥0} ⌊m/2^k⌋ = 2m − popcount(m);
    // the subtree's hash is the level-th hash written after it.
    if level >= 64 {
        return u64::MAX;
    }
    let m = ((u128::from(n) + 1) << level) - 1;
    let index = 2 * m - u128::from(m.count_ones()) + u128::from(level);
    u64::try_from(index).unwrap_or(u64::MAX)
}

/// Inverse of [`stored_hash_index`]: the `(level, n)` stored at `index`, or `None` past the
/// slots of a tree of [`MAX_TREE_SIZE`] leaves.
pub fn split_stored_hash_index(index: u64) -> Option<(u32, u64)> {
    if index >= stored_hash_count(MAX_TREE_SIZE) {
        return None;
    }
    // The leaf m that wrote slot `index` has stored_hash_index(0, m) ≤ index <
    // stored_hash_index(0, m+1); since stored_hash_index(0, m) = 2m − popcount(m), m lies in
    // [index/2, index/2 + 64].
    let mut m = index / 2;
    while m > 0 && stored_hash_index(0, m) > index {
        m -= 1;
    }
    while stored_hash_index(0, m + 1) <= index {
        m += 1;
    }
    let level = u32::try_from(index - stored_hash_index(0, m)).ok()?;
    Some((level, m >> level))
}

/// Number of stored hashes a tree of `n` leaves has written (Go tlog's `StoredHashCount`).
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    stored_hash_index(0, n - 1) + 1 + u64::from((n - 1).trailing_ones())
}

fn check_size(n: u64) -> Result<(), MerkleError> {
    if n > MAX_TREE_SIZE {
        return Err(MerkleError::InvalidInput(format!(
            "tree size {n} exceeds 2^62"
        )));
    }
    Ok(())
}

/// Slots read by [`stored_hashes_for_append`] for leaf number `n` (ascending).
pub fn append_indexes(n: u64) -> Result<Vec<u64>, MerkleError> {
    check_size(n + 1)?;
    let m = n.trailing_ones();
    Ok((0..m)
        .rev()
        .map(|i| stored_hash_index(i, (n >> i) - 1))
        .collect())
}

/// The hashes to store at `stored_hash_count(n)..` when appending leaf number `n` with
/// `leaf`: the leaf hash followed by every subtree it completes (Go tlog's `StoredHashes`).
pub fn stored_hashes_for_append<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    let indexes = append_indexes(n)?;
    let old = read_checked(reader, &indexes)?;
    let mut out = Vec::with_capacity(1 + old.len());
    let mut h = leaf;
    out.push(h);
    for left in old.iter().rev() {
        h = node_hash(left, &h);
        out.push(h);
    }
    Ok(out)
}

/// Largest power of two ≤ `n` (n ≥ 1), with its log₂.
fn pow2_floor(n: u64) -> (u64, u32) {
    let l = 63 - n.leading_zeros();
    (1u64 << l, l)
}

/// Largest power of two strictly less than `n` (n ≥ 2): RFC 9162's split point `k`.
fn split(n: u64) -> u64 {
    pow2_floor(n - 1).0
}

/// Slots of the maximal complete subtrees covering leaves `[lo, hi)`, left to right.
fn subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = pow2_floor(hi - lo);
        // lo is always a multiple of k here: [lo, hi) is a right part of some split.
        debug_assert!(lo & (k - 1) == 0, "bad subtree alignment");
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Consumes hashes in the order the `*_indexes` functions listed them.
struct Cursor<'a> {
    hashes: &'a [Hash],
    pos: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<Hash, MerkleError> {
        let h = self
            .hashes
            .get(self.pos)
            .copied()
            .ok_or(MerkleError::ShortRead {
                asked: self.pos + 1,
                got: self.hashes.len(),
            })?;
        self.pos += 1;
        Ok(h)
    }

    fn finish(&self) -> Result<(), MerkleError> {
        if self.pos != self.hashes.len() {
            return Err(MerkleError::ShortRead {
                asked: self.pos,
                got: self.hashes.len(),
            });
        }
        Ok(())
    }
}

/// Hash of the subtree over leaves `[lo, hi)` from the hashes listed by [`subtree_indexes`].
fn subtree_hash(mut lo: u64, hi: u64, cur: &mut Cursor<'_>) -> Result<Hash, MerkleError> {
    let mut parts = Vec::new();
    while lo < hi {
        parts.push(cur.next()?);
        lo += pow2_floor(hi - lo).0;
    }
    let mut iter = parts.into_iter().rev();
    let mut h = iter
        .next()
        .ok_or_else(|| MerkleError::InvalidInput("empty subtree".into()))?;
    for left in iter {
        h = node_hash(&left, &h);
    }
    Ok(h)
}

/// Slots read by [`tree_hash`] for a tree of `n` leaves (at most `1 + log₂ n`, ascending).
pub fn tree_hash_indexes(n: u64) -> Result<Vec<u64>, MerkleError> {
    check_size(n)?;
    let mut need = Vec::new();
    subtree_indexes(0, n, &mut need);
    Ok(need)
}

/// The tree head `MTH(D[0:n])` from stored hashes (RFC 9162 §2.1.1); `SHA-256()` for `n = 0`.
pub fn tree_hash<R: HashReader + ?Sized>(n: u64, reader: &R) -> Result<Hash, MerkleError> {
    if n == 0 {
        return Ok(empty_tree_hash());
    }
    let indexes = tree_hash_indexes(n)?;
    let hashes = read_checked(reader, &indexes)?;
    let mut cur = Cursor {
        hashes: &hashes,
        pos: 0,
    };
    let h = subtree_hash(0, n, &mut cur)?;
    cur.finish()?;
    Ok(h)
}

fn leaf_proof_indexes(lo: u64, hi: u64, index: u64, need: &mut Vec<u64>) {
    if hi - lo <= 1 {
        return;
    }
    let k = split(hi - lo);
    if index < lo + k {
        leaf_proof_indexes(lo, lo + k, index, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        leaf_proof_indexes(lo + k, hi, index, need);
    }
}

fn leaf_proof(
    lo: u64,
    hi: u64,
    index: u64,
    cur: &mut Cursor<'_>,
) -> Result<Vec<Hash>, MerkleError> {
    if hi - lo <= 1 {
        return Ok(Vec::new());
    }
    let k = split(hi - lo);
    let (mut proof, sibling) = if index < lo + k {
        let p = leaf_proof(lo, lo + k, index, cur)?;
        (p, subtree_hash(lo + k, hi, cur)?)
    } else {
        let s = subtree_hash(lo, lo + k, cur)?;
        (leaf_proof(lo + k, hi, index, cur)?, s)
    };
    proof.push(sibling);
    Ok(proof)
}

/// Slots read by [`inclusion_proof`] (ascending).
pub fn inclusion_proof_indexes(index: u64, n: u64) -> Result<Vec<u64>, MerkleError> {
    check_size(n)?;
    if index >= n {
        return Err(MerkleError::InvalidInput(format!(
            "leaf index {index} is not below tree size {n}"
        )));
    }
    let mut need = Vec::new();
    leaf_proof_indexes(0, n, index, &mut need);
    Ok(need)
}

/// The inclusion proof `PATH(index, D[0:n])` (RFC 9162 §2.1.3.1), leaf sibling first.
pub fn inclusion_proof<R: HashReader + ?Sized>(
    index: u64,
    n: u64,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    let indexes = inclusion_proof_indexes(index, n)?;
    let hashes = read_checked(reader, &indexes)?;
    let mut cur = Cursor {
        hashes: &hashes,
        pos: 0,
    };
    let proof = leaf_proof(0, n, index, &mut cur)?;
    cur.finish()?;
    Ok(proof)
}

fn tree_proof_indexes(lo: u64, hi: u64, m: u64, need: &mut Vec<u64>) {
    if m == hi {
        if lo != 0 {
            subtree_indexes(lo, hi, need);
        }
        return;
    }
    let k = split(hi - lo);
    if m <= lo + k {
        tree_proof_indexes(lo, lo + k, m, need);
        subtree_indexes(lo + k, hi, need);
    } else {
        subtree_indexes(lo, lo + k, need);
        tree_proof_indexes(lo + k, hi, m, need);
    }
}

fn tree_proof(lo: u64, hi: u64, m: u64, cur: &mut Cursor<'_>) -> Result<Vec<Hash>, MerkleError> {
    if m == hi {
        if lo == 0 {
            return Ok(Vec::new());
        }
        return Ok(vec![subtree_hash(lo, hi, cur)?]);
    }
    let k = split(hi - lo);
    let (mut proof, other) = if m <= lo + k {
        let p = tree_proof(lo, lo + k, m, cur)?;
        (p, subtree_hash(lo + k, hi, cur)?)
    } else {
        let s = subtree_hash(lo, lo + k, cur)?;
        (tree_proof(lo + k, hi, m, cur)?, s)
    };
    proof.push(other);
    Ok(proof)
}

/// Slots read by [`consistency_proof`] (ascending).
pub fn consistency_proof_indexes(m: u64, n: u64) -> Result<Vec<u64>, MerkleError> {
    check_size(n)?;
    if m > n {
        return Err(MerkleError::InvalidInput(format!(
            "old size {m} is larger than new size {n}"
        )));
    }
    let mut need = Vec::new();
    if m > 0 && m < n {
        tree_proof_indexes(0, n, m, &mut need);
    }
    Ok(need)
}

/// The consistency proof `PROOF(m, D[0:n])` (RFC 9162 §2.1.4.1); empty when `m = 0` or `m = n`.
pub fn consistency_proof<R: HashReader + ?Sized>(
    m: u64,
    n: u64,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    let indexes = consistency_proof_indexes(m, n)?;
    if m == 0 || m == n {
        return Ok(Vec::new());
    }
    let hashes = read_checked(reader, &indexes)?;
    let mut cur = Cursor {
        hashes: &hashes,
        pos: 0,
    };
    let proof = tree_proof(0, n, m, &mut cur)?;
    cur.finish()?;
    Ok(proof)
}

/// The result of appending a batch of leaves: what to store and the new tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAppend {
    /// Slot of `hashes[0]`: `stored_hash_count(old size)`.
    pub first_index: u64,
    /// Hashes to store at `first_index..first_index + hashes.len()`.
    pub hashes: Vec<Hash>,
    /// The new tree size.
    pub tree_size: u64,
    /// The new tree head `MTH(D[0:tree_size])`.
    pub root: Hash,
}

/// Existing slots a batch append of `count` leaves onto a tree of `n` leaves reads (ascending,
/// without duplicates): the left siblings the new leaves complete, and the parts of the new head.
pub fn append_batch_indexes(n: u64, count: u64) -> Result<Vec<u64>, MerkleError> {
    let total = n
        .checked_add(count)
        .filter(|t| *t <= MAX_TREE_SIZE)
        .ok_or_else(|| {
            MerkleError::InvalidInput(format!("tree size {n} + {count} exceeds 2^62"))
        })?;
    let base = stored_hash_count(n);
    let mut need = Vec::new();
    for leaf in n..total {
        need.extend(append_indexes(leaf)?.into_iter().filter(|i| *i < base));
    }
    if total > 0 {
        need.extend(tree_hash_indexes(total)?.into_iter().filter(|i| *i < base));
    }
    need.sort_unstable();
    need.dedup();
    Ok(need)
}

/// Existing hashes plus the hashes written so far by the batch.
struct Overlay<'a> {
    base: u64,
    existing: &'a PrefetchedHashes,
    new: Vec<Hash>,
}

impl HashReader for Overlay<'_> {
    type Error = MerkleError;

    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&i| {
                if i >= self.base {
                    usize::try_from(i - self.base)
                        .ok()
                        .and_then(|u| self.new.get(u))
                        .copied()
                        .ok_or(MerkleError::NotPrefetched(i))
                } else {
                    self.existing
                        .map
                        .get(&i)
                        .copied()
                        .ok_or(MerkleError::NotPrefetched(i))
                }
            })
            .collect()
    }
}

/// Appends `leaves` to a tree of `n` leaves, given the hashes at [`append_batch_indexes`]`(n,
/// leaves.len())` in that order: returns the hashes to store and the new head.
pub fn append_batch(
    n: u64,
    leaves: &[Hash],
    existing: &[Hash],
) -> Result<BatchAppend, MerkleError> {
    let count = leaves.len() as u64;
    let indexes = append_batch_indexes(n, count)?;
    let prefetched = PrefetchedHashes::new(&indexes, existing)?;
    let base = stored_hash_count(n);
    let mut overlay = Overlay {
        base,
        existing: &prefetched,
        new: Vec::with_capacity(leaves.len() * 2 + 1),
    };
    for (i, leaf) in leaves.iter().enumerate() {
        let hashes = stored_hashes_for_append(n + i as u64, *leaf, &overlay)?;
        overlay.new.extend(hashes);
    }
    let tree_size = n + count;
    let root = tree_hash(tree_size, &overlay)?;
    Ok(BatchAppend {
        first_index: base,
        hashes: overlay.new,
        tree_size,
        root,
    })
}

/// Appends `leaves` reading existing hashes from a synchronous `reader` (one batched read).
pub fn append_leaves<R: HashReader + ?Sized>(
    n: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<BatchAppend, MerkleError> {
    let indexes = append_batch_indexes(n, leaves.len() as u64)?;
    let existing = read_checked(reader, &indexes)?;
    append_batch(n, leaves, &existing)
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or index cannot have a proof (index ≥ size, old size > new size, …).
    #[error("invalid proof request: {0}")]
    InvalidInput(String),
    /// The proof has the wrong number of hashes for these sizes (extra hashes are rejected).
    #[error("proof has {actual} hashes, expected {expected}")]
    WrongLength {
        /// Length the algorithm requires.
        expected: usize,
        /// Length supplied.
        actual: usize,
    },
    /// The proof does not lead to the expected root (or old root).
    #[error("proof does not match the tree head")]
    Mismatch,
}

/// Number of steps of the RFC 9162 §2.1.3.2 / §2.1.4.2 walk from node `fnode` up to the root
/// while `snode` (the last node) is not yet 0: one proof hash is consumed per step.
fn walk_len(mut fnode: u64, mut snode: u64) -> usize {
    let mut steps = 0;
    while snode != 0 {
        if fnode & 1 == 0 && fnode == snode {
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        }
        fnode >>= 1;
        snode >>= 1;
        steps += 1;
    }
    steps
}

/// Length of the inclusion proof for `index` in a tree of `size` leaves (RFC 9162 §2.1.3.2 walk).
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, ProofError> {
    if index >= size {
        return Err(ProofError::InvalidInput(format!(
            "leaf index {index} is not below tree size {size}"
        )));
    }
    Ok(walk_len(index, size - 1))
}

/// The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1–4).
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    let expected = inclusion_proof_len(index, size)?;
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    Ok(r)
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves with head `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let r = root_from_inclusion_proof(index, size, leaf, proof)?;
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Length of the consistency proof between sizes `m ≤ n` (0 when `m = 0` or `m = n`).
pub fn consistency_proof_len(m: u64, n: u64) -> Result<usize, ProofError> {
    if m > n {
        return Err(ProofError::InvalidInput(format!(
            "old size {m} is larger than new size {n}"
        )));
    }
    if m == 0 || m == n {
        return Ok(0);
    }
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // The walked path is one seed hash plus one hash per step; when m is a power of two the
    // seed is the old root itself and is not sent (step 2).
    Ok(1 + walk_len(fnode, snode) - usize::from(m.is_power_of_two()))
}

/// Verifies that the tree of `m` leaves with head `old_root` is a prefix of the tree of `n`
/// leaves with head `new_root` (RFC 9162 §2.1.4.2). For `m = n` the proof must be empty and the
/// roots equal; for `m = 0` the proof must be empty and `old_root` the empty tree hash.
pub fn verify_consistency(
    m: u64,
    n: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let expected = consistency_proof_len(m, n)?;
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if m == n {
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if m == 0 {
        return if *old_root == empty_tree_hash() {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    // Step 2: when m is a power of two the old root is itself the first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if m.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    };
    // Steps 3–4.
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*first, *first);
    // Step 6.
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength {
                expected,
                actual: proof.len(),
            });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 7.
    if snode != 0 {
        return Err(ProofError::WrongLength {
            expected,
            actual: proof.len(),
        });
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn h(hex: &str) -> Hash {
        Hash::from_hex(hex).unwrap()
    }

    /// Dense storage built by appending `leaves` one at a time, as a log would.
    fn build(leaves: &[Vec<u8>]) -> Vec<Hash> {
        let mut storage = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            let hashes = stored_hashes_for_append(i as u64, leaf_hash(leaf), &storage).unwrap();
            storage.extend(hashes);
        }
        storage
    }

    // Known-answer vectors from transparency-dev/merkle proof/verify_test.go (the RFC 6962
    // reference vectors also used by Certificate Transparency's C++ merkle_tree_test).
    fn ct_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| hex::decode(x).unwrap())
        .collect()
    }

    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, proof) — transparency-dev's `inclusionProofs` (1-based leaf
    /// there, 0-based here).
    fn ct_inclusion() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                1,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// (old size, new size, proof) — transparency-dev's `consistencyProofs`.
    fn ct_consistency() -> Vec<(u64, u64, Vec<Hash>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    #[test]
    fn known_answer_roots() {
        let leaves = ct_leaves();
        let storage = build(&leaves);
        assert_eq!(storage.len() as u64, stored_hash_count(8));
        for (i, want) in CT_ROOTS.iter().enumerate() {
            assert_eq!(
                tree_hash(i as u64 + 1, &storage).unwrap(),
                h(want),
                "size {}",
                i + 1
            );
        }
        // RFC 9162 §2.1.1: the empty tree hashes to SHA-256 of the empty string.
        assert_eq!(
            tree_hash(0, &storage).unwrap(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn known_answer_inclusion_proofs() {
        let leaves = ct_leaves();
        let storage = build(&leaves);
        for (index, size, want) in ct_inclusion() {
            let proof = inclusion_proof(index, size, &storage).unwrap();
            assert_eq!(proof, want, "PATH({index}, {size})");
            let root = h(CT_ROOTS[size as usize - 1]);
            let leaf = leaf_hash(&leaves[index as usize]);
            verify_inclusion(index, size, &leaf, &want, &root).unwrap();
            // transparency-dev's corruptions: wrong index, size, leaf, root; extra or missing
            // hashes; a flipped bit.
            assert!(verify_inclusion(index + 1, size, &leaf, &want, &root).is_err());
            if index > 0 {
                assert!(verify_inclusion(index - 1, size, &leaf, &want, &root).is_err());
            }
            assert!(verify_inclusion(index ^ 2, size, &leaf, &want, &root).is_err());
            assert!(verify_inclusion(index, size * 2, &leaf, &want, &root).is_err());
            assert!(verify_inclusion(index, size / 2, &leaf, &want, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf_hash(b"WrongLeaf"), &want, &root).is_err());
            assert!(verify_inclusion(index, size, &leaf, &want, &empty_tree_hash()).is_err());
            let mut longer = want.clone();
            longer.push(root);
            assert!(matches!(
                verify_inclusion(index, size, &leaf, &longer, &root),
                Err(ProofError::WrongLength { .. })
            ));
            let mut front = vec![root];
            front.extend(want.iter().copied());
            assert!(verify_inclusion(index, size, &leaf, &front, &root).is_err());
            if !want.is_empty() {
                assert!(
                    verify_inclusion(index, size, &leaf, &want[..want.len() - 1], &root).is_err()
                );
            }
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i].0[0] ^= 8;
                assert_eq!(
                    verify_inclusion(index, size, &leaf, &bad, &root),
                    Err(ProofError::Mismatch)
                );
            }
        }
    }

    #[test]
    fn known_answer_consistency_proofs() {
        let storage = build(&ct_leaves());
        for (m, n, want) in ct_consistency() {
            let proof = consistency_proof(m, n, &storage).unwrap();
            assert_eq!(proof, want, "PROOF({m}, {n})");
            let (r1, r2) = (h(CT_ROOTS[m as usize - 1]), h(CT_ROOTS[n as usize - 1]));
            verify_consistency(m, n, &r1, &r2, &want).unwrap();
            if want.is_empty() {
                continue;
            }
            assert!(verify_consistency(m - 1, n, &r1, &r2, &want).is_err());
            assert!(verify_consistency(m + 1, n, &r1, &r2, &want).is_err());
            assert!(verify_consistency(m ^ 2, n, &r1, &r2, &want).is_err());
            assert!(verify_consistency(m, n * 2, &r1, &r2, &want).is_err());
            assert!(verify_consistency(m, n / 2, &r1, &r2, &want).is_err());
            assert!(verify_consistency(m, n, &r2, &r1, &want).is_err());
            assert!(verify_consistency(m, n, &r1, &r2, &[]).is_err());
            for extra in [r1, r2] {
                let mut longer = want.clone();
                longer.push(extra);
                assert!(verify_consistency(m, n, &r1, &r2, &longer).is_err());
                let mut front = vec![extra];
                front.extend(want.iter().copied());
                assert!(verify_consistency(m, n, &r1, &r2, &front).is_err());
            }
            assert!(verify_consistency(m, n, &r1, &r2, &want[..want.len() - 1]).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i].0[0] ^= 16;
                assert!(verify_consistency(m, n, &r1, &r2, &bad).is_err());
            }
        }
    }

    #[test]
    fn trivial_consistency_cases() {
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        verify_consistency(0, 0, &empty_tree_hash(), &empty_tree_hash(), &[]).unwrap();
        verify_consistency(0, 5, &empty_tree_hash(), &b, &[]).unwrap();
        assert!(verify_consistency(0, 5, &a, &b, &[]).is_err());
        verify_consistency(3, 3, &a, &a, &[]).unwrap();
        assert!(verify_consistency(3, 3, &a, &b, &[]).is_err());
        assert!(verify_consistency(3, 3, &a, &a, &[a]).is_err());
        assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
        assert!(verify_inclusion(0, 0, &a, &[], &a).is_err());
        assert!(verify_inclusion(2, 1, &a, &[], &a).is_err());
        verify_inclusion(0, 1, &a, &[], &a).unwrap();
    }

    /// Google Argon 2020 CT log responses replayed by Go's sumdb/tlog ct_test.go
    /// (golang.org/x/mod sumdb/tlog/testdata/argon2020): get-entries 10000, get-proof-by-hash
    /// and get-sth-consistency?first=3654490 against a tree of 961984013 entries.
    #[test]
    fn certificate_transparency_argon2020() {
        let entry = BASE64.decode(ARGON2020_ENTRY_10000).unwrap();
        let root = Hash::from_base64("dwlueapdd7LaOEnX2W2Wp9v2XE+KzejHRQGHwEx0oaM=").unwrap();
        let size = 961_984_013;
        let audit: Vec<Hash> = ARGON2020_AUDIT_PATH
            .iter()
            .map(|b| Hash::from_base64(b).unwrap())
            .collect();
        verify_inclusion(10_000, size, &leaf_hash(&entry), &audit, &root).unwrap();
        assert!(verify_inclusion(10_001, size, &leaf_hash(&entry), &audit, &root).is_err());

        let old = Hash::from_base64("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=").unwrap();
        let consistency: Vec<Hash> = ARGON2020_CONSISTENCY
            .iter()
            .map(|b| Hash::from_base64(b).unwrap())
            .collect();
        verify_consistency(3_654_490, size, &old, &root, &consistency).unwrap();
        assert!(verify_consistency(3_654_491, size, &old, &root, &consistency).is_err());
    }

    const ARGON2020_ENTRY_10000: &str = "AAAAAAFelPhqUwAAAAViMIIFXjCCBEagAwIBAgIRAOodHzZdqWIFzYyl/SovhCMwDQYJKoZIhvcNAQELBQAwgZAxCzAJBgNVBAYTAkdCMRswGQYDVQQIExJHcmVhdGVyIE1hbmNoZXN0ZXIxEDAOBgNVBAcTB1NhbGZvcmQxGjAYBgNVBAoTEUNPTU9ETyBDQSBMaW1pdGVkMTYwNAYDVQQDEy1DT01PRE8gUlNBIERvbWFpbiBWYWxpZGF0aW9uIFNlY3VyZSBTZXJ2ZXIgQ0EwHhcNMTcwMjE1MDAwMDAwWhcNMjAwNDE2MjM1OTU5WjBfMSEwHwYDVQQLExhEb21haW4gQ29udHJvbCBWYWxpZGF0ZWQxHTAbBgNVBAsTFFBvc2l0aXZlU1NMIFdpbGRjYXJkMRswGQYDVQQDDBIqLmxhbmRsb3Jkcy5jb20uYXUwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEKAoIBAQCtPBKKHj4zdrGlCjgTHzb5gx9JCs97DwvBz60f14gDufF2haWbOxyJ0a3opAMsZnOr8HkARVCwxdqG/PTfACcb0QM7FOlzvxGqxataTYiChwvkkif8F9GlJw69HuHgzhusPf1Ytfk3ps1PRC14MkyrS4kwPrk/Le4XdkqRpRw62wG4V6IkbzsNMEOl1H8EgUbfyapdOcVxHjIzvBVy56fBRKG05Fr5wNq3Acak5kYZdNsLhhmlrqAfAjiombW3hb3V5blJdRC0BDdYHv2+zKey6LqJ1FDoXo6IzbzPpC+aifZy47YX+/N1U64Qn5xlDg7mOP8JXfkNJHbU1TJZHif5AgMBAAGjggHhMIIB3TAfBgNVHSMEGDAWgBSQr2o6lFoL2JDqElZz30O0Oija5zAdBgNVHQ4EFgQUNQSLjkoz01I+iuuoC5lgEp0anhcwDgYDVR0PAQH/BAQDAgWgMAwGA1UdEwEB/wQCMAAwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCME8GA1UdIARIMEYwOgYLKwYBBAGyMQECAgcwKzApBggrBgEFBQcCARYdaHR0cHM6Ly9zZWN1cmUuY29tb2RvLmNvbS9DUFMwCAYGZ4EMAQIBMFQGA1UdHwRNMEswSaBHoEWGQ2h0dHA6Ly9jcmwuY29tb2RvY2EuY29tL0NPTU9ET1JTQURvbWFpblZhbGlkYXRpb25TZWN1cmVTZXJ2ZXJDQS5jcmwwgYUGCCsGAQUFBwEBBHkwdzBPBggrBgEFBQcwAoZDaHR0cDovL2NydC5jb21vZG9jYS5jb20vQ09NT0RPUlNBRG9tYWluVmFsaWRhdGlvblNlY3VyZVNlcnZlckNBLmNydDAkBggrBgEFBQcwAYYYaHR0cDovL29jc3AuY29tb2RvY2EuY29tMC8GA1UdEQQoMCaCEioubGFuZGxvcmRzLmNvbS5hdYIQbGFuZGxvcmRzLmNvbS5hdTANBgkqhkiG9w0BAQsFAAOCAQEACyHqxUzrexToY7tOv4+kyGPP2D27P1tQpyzeAl1bPObiMhNK2b9vvBLDWAaqm8c0YL1h+DBdLoWzf3xFsIkTCVCjWJTNSNlcYtgRk6or1s7jWsfXzWqsnPjPPmTIOCw7EfH7Yme3oxPs3UUsmShAgPwNohAtL9GqlqMiKM6v1WU3NHt01jEoNP23LRa6KeNK6AH6WHJykzL223IlhgXjHTeuQj6lR+TNrQXJuhwTXYe+20rrpPQxc1Pn7AqnvfWgmicRQ7gdIcr4V6+ecTvLfNOaJ0ZYe5G5giuAAdTm7F57pk04f4gyZNYKrj88mvbkoriN8b6jcWExtrYO6bm2TwAA";

    const ARGON2020_AUDIT_PATH: [&str; 30] = [
        "T46AmJsuOM/gFiGlUp+IJJebp+1Z5qratFNW7U0JyOQ=",
        "9Jj1Feodn42uRYEfffkV4HF/EIPFQ5Zo9IwkxbQ2uhk=",
        "D53/1oCNebF4J59HHgioovKZxrmrKcVuCVhy3Izg8Ck=",
        "wSFDgGSrsXRPA+1c8WHoAFCsWeUv8NDyP/Q/SgsyVyY=",
        "516/RcwsgdwdzHn18v1dJHqBkgFUbNhmCIWOGjsMJaE=",
        "naTFY2ajLFgrgs5XUl+zJYZnnlJksLGsA1VYwpLfqbY=",
        "mKBRJo6qao+0Kdh/rhGkZUbHUAxMhrtrclrTpIbNjIg=",
        "Co4ueOFE7lpifLio94irxxsv1wFMMaK3tPu2ZQkHlro=",
        "yRgy800K6JMYCC05sWfqF2kvCg2riT/pVM+nEa6V5+0=",
        "n2O38XJZC8/Wpbwi9HhgVizlUyeUHVZvYyQB1607MRc=",
        "go3tAjuNfNSCj87y2Rg1xOroDknGN1eaf3cgvzObf7Q=",
        "8D0Mj3/J7ySSnFb0afIHYXv6rlOhECnsebY6XKi1IR8=",
        "6rcez46ZU8M5vPiWVMAUfJfAOV0pPP/mch/lYzZhj/M=",
        "2rtIeXrPvSdUyHc5maIgSAVB2BzaKaupWxSAiVayDE4=",
        "nniW/IMFQPN5xw8UsHFn7CRStYbm1gLu7NNa6kkRqJQ=",
        "mRPPi7sQS22MduIEyvcNzCNFqIt6kLwYPkNKrVtIcu8=",
        "JvTivzESNS9wHI8aph5a7uieVmtS/p9PciMZ5D6GyOo=",
        "UTyQd+Ym0wY4zG+qK806bBORwi1CSVvFQ/KknnqoZj8=",
        "hXODrqN+ff+U6zPqRQ+ZQKs6im1fPcxIerDSfNwflhE=",
        "II6GE+WY/DrpZzfHztLwkR46o37zVkNLCyPYlf68zA0=",
        "d609kWWcNBllbA8Jb/ad4XAVVGnScLRmtP8FYyr+Dck=",
        "rikBsP0G0gioXRpBFED2CzQdSLrGPvRd0bEcbEZw1rI=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];

    const ARGON2020_CONSISTENCY: [&str; 30] = [
        "80Sfbj6UQEdVSZCSIgh9NMPj3vCBzcc1A48B2crJSWg=",
        "FZcrgAHUk6nNPviJZq8kEK6jCG1d18pJOFE45ZDc1TQ=",
        "Q67reWXmPBo1UfmwBap4Xi9PMPfFdUSSw3WGlRZdG7k=",
        "eJ7CyhR4PxzBxDIsWgrVYW1eFUb9ndgf46tFmiqVrxA=",
        "QrDwp062Grm5WY8KdrhFsBuuNjGzRox2Jb8PmVL5OYw=",
        "XM4YMjMEdLH/XJam/ZWyaP14k3cmsOtnPsOWQ54lW1s=",
        "SGiBh+jOTGccXU48ZzgQ88lRcBmtB4wz4oSDndv2QTg=",
        "WAS6txqNLYKGL1GdBdpqmV42TTfn6cJsuDsqLXuTCNI=",
        "QFmRS0rirUA7ZN3lxFjDncV+E1OCrn3NUB4RCp+5fzc=",
        "Hdbp7It2XBNZmNDBpCN/KPd7vfVqxgzwOosqVIaEA9E=",
        "mxvHL0ZiblBdD7j7pIa1jlfB0gSqfJ6oX0UGo7L0VsU=",
        "q5hjyvoW6TL/PThgcitpDcSTrnKX2p1+aqscqH2euRA=",
        "jTOWDqt3IHj2NVFeezyBz2ofpru+ztEywqKUAfFclKI=",
        "GIRn0w3HqJdvU9j1WVD//eR6lk2AaTVjyzjsJNP8U88=",
        "x52GJvxG81fnQBrgOTbll1A5tz95/LXK0Ag1NhB0r1I=",
        "6/0OqrcTgc3o5dD5PymmoC96lB9yLPFuTHVvLy8fSGk=",
        "Gf+iKLfcXO5l4JEFmsZvSdG5q1uEeWPfYLrds6pmjz0=",
        "DGuaco+McyM3AfRSF6qX7RwSetwe2ieYJmxw5e9rVx0=",
        "2tQJ9V32hnYp+fdpP6TcjmgJmLeNVOMKM0Ml1kk4cNU=",
        "3PapK+IkyJr8I9yAErAmzuZezzLMzsg+PfeRCgNW8NQ=",
        "s6xiYeejb+wtqHA+URJZ2I/SCPyIW8coP6aB00FJbMY=",
        "z9lSpmdTcr5M5ZzKlc4EPh3SrSypKFdk6JUF/UccaZU=",
        "GXIElfmnRuWfbA4z7ubV/UwlpSRUbUeec7oL5HDDnh0=",
        "pR0SH/NYP6s9+8azWwaeUXA4Ze/3WCIgMfh5YW6wvcE=",
        "f3GuAKYVrF8RBg3s15jvA/YvV9oAliWtzP/imwPhQVA=",
        "WHn8zDxlVgkV+lSlmzaOdfSBrTHoRr5nT3d76q0KKWE=",
        "f2uV2ZxVgULzLPKuZcowRY3ZY7fRlX59iDBjV1R8kNQ=",
        "NzQVjJsvQwbi7WStMr9oFkh9VbHfK7LB6o7WwAqwNTs=",
        "C0LttBeYHZHgL+032JIcJC3CTBIyza/hsbmJUgJfmDI=",
        "nixU5CWTFVDlF4BGdcU6kA7WSYurEpe9jRWc+F/7sOc=",
    ];

    #[test]
    fn stored_hash_index_layout() {
        // Go tlog's TestSplitStoredHashIndex, plus the first slots written by hand:
        // leaf0=0, leaf1=1, (1,0)=2, leaf2=3, leaf3=4, (1,1)=5, (2,0)=6, leaf4=7.
        assert_eq!(
            [
                (0, 0),
                (0, 1),
                (1, 0),
                (0, 2),
                (0, 3),
                (1, 1),
                (2, 0),
                (0, 4)
            ]
            .map(|(l, n)| stored_hash_index(l, n)),
            [0, 1, 2, 3, 4, 5, 6, 7]
        );
        for level in 0..10 {
            for n in 0..200 {
                let x = stored_hash_index(level, n);
                assert_eq!(split_stored_hash_index(x), Some((level, n)));
            }
        }
        assert_eq!(split_stored_hash_index(u64::MAX), None);
        assert_eq!(stored_hash_index(64, 0), u64::MAX);
        let mut storage = Vec::new();
        for i in 0..300u64 {
            assert_eq!(stored_hash_count(i), storage.len() as u64);
            let hs = stored_hashes_for_append(i, leaf_hash(&i.to_be_bytes()), &storage).unwrap();
            assert_eq!(hs.len() as u32, 1 + i.trailing_ones());
            storage.extend(hs);
        }
    }

    /// Go tlog's TestTree, reshaped: after every append, every inclusion and consistency proof
    /// of every smaller tree verifies, reads ascending indexes, and fails with a flipped bit.
    #[test]
    fn every_proof_of_small_trees() {
        let mut storage: Vec<Hash> = Vec::new();
        let mut roots = Vec::new();
        let mut leaves = Vec::new();
        for i in 0..64u64 {
            let leaf = leaf_hash(format!("leaf {i}").as_bytes());
            leaves.push(leaf);
            storage.extend(stored_hashes_for_append(i, leaf, &storage).unwrap());
            let size = i + 1;
            let root = tree_hash(size, &storage).unwrap();
            roots.push(root);
            for j in 0..size {
                let idx = inclusion_proof_indexes(j, size).unwrap();
                assert!(idx.windows(2).all(|w| w[0] < w[1]), "ascending reads");
                let mut p = inclusion_proof(j, size, &storage).unwrap();
                verify_inclusion(j, size, &leaves[j as usize], &p, &root).unwrap();
                for k in 0..p.len() {
                    p[k].0[0] ^= 1;
                    assert!(verify_inclusion(j, size, &leaves[j as usize], &p, &root).is_err());
                    p[k].0[0] ^= 1;
                }
            }
            for m in 0..=size {
                let old = if m == 0 {
                    empty_tree_hash()
                } else {
                    roots[m as usize - 1]
                };
                let mut p = consistency_proof(m, size, &storage).unwrap();
                verify_consistency(m, size, &old, &root, &p).unwrap();
                for k in 0..p.len() {
                    p[k].0[0] ^= 1;
                    assert!(verify_consistency(m, size, &old, &root, &p).is_err());
                    p[k].0[0] ^= 1;
                }
            }
        }
    }

    #[test]
    fn batch_append_matches_one_by_one() {
        let all: Vec<Hash> = (0..500u64).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut one_by_one = Vec::new();
        for (i, l) in all.iter().enumerate() {
            one_by_one.extend(stored_hashes_for_append(i as u64, *l, &one_by_one).unwrap());
        }
        let mut batched: Vec<Hash> = Vec::new();
        let mut size = 0u64;
        for chunk in [1usize, 2, 3, 7, 64, 1, 100, 255, 67] {
            let leaves = &all[size as usize..size as usize + chunk];
            let reads = append_batch_indexes(size, chunk as u64).unwrap();
            assert!(
                reads.iter().all(|r| *r < stored_hash_count(size)),
                "reads only existing slots"
            );
            let b = append_leaves(size, leaves, &batched).unwrap();
            assert_eq!(b.first_index, batched.len() as u64);
            batched.extend(b.hashes);
            size += chunk as u64;
            assert_eq!(b.tree_size, size);
            assert_eq!(b.root, tree_hash(size, &one_by_one).unwrap());
        }
        assert_eq!(batched, one_by_one);
        // An empty batch changes nothing and reports the current head.
        let b = append_leaves(size, &[], &batched).unwrap();
        assert!(b.hashes.is_empty());
        assert_eq!(b.root, tree_hash(size, &batched).unwrap());
    }

    #[test]
    fn readers_report_missing_hashes_and_bad_requests() {
        let storage = build(&ct_leaves());
        assert!(matches!(tree_hash(9, &storage), Err(MerkleError::Read(_))));
        assert!(matches!(
            inclusion_proof(8, 8, &storage),
            Err(MerkleError::InvalidInput(_))
        ));
        assert!(matches!(
            consistency_proof(9, 8, &storage),
            Err(MerkleError::InvalidInput(_))
        ));
        let idx = tree_hash_indexes(5).unwrap();
        let pre = PrefetchedHashes::new(&idx, &storage.read_hashes(&idx).unwrap()).unwrap();
        assert_eq!(tree_hash(5, &pre).unwrap(), h(CT_ROOTS[4]));
        assert!(matches!(tree_hash(6, &pre), Err(MerkleError::Read(_))));
        assert!(PrefetchedHashes::new(&idx, &[]).is_err());
    }

    /// 10,000 leaves built once and shared by the property tests.
    fn big_tree() -> &'static (Vec<Hash>, Vec<Hash>, Vec<Hash>) {
        static TREE: OnceLock<(Vec<Hash>, Vec<Hash>, Vec<Hash>)> = OnceLock::new();
        TREE.get_or_init(|| {
            let leaves: Vec<Hash> = (0..10_000u64)
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect();
            let mut storage = Vec::new();
            let mut roots = vec![empty_tree_hash()];
            for (i, l) in leaves.iter().enumerate() {
                storage.extend(stored_hashes_for_append(i as u64, *l, &storage).unwrap());
                roots.push(tree_hash(i as u64 + 1, &storage).unwrap());
            }
            (leaves, storage, roots)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn inclusion_proofs_verify_and_tampering_fails(
            size in 1u64..=10_000,
            index_seed in any::<u64>(),
            other_seed in any::<u64>(),
            flip in any::<(usize, u8)>(),
        ) {
            let (leaves, storage, roots) = big_tree();
            let index = index_seed % size;
            let root = roots[size as usize];
            let leaf = leaves[index as usize];
            let proof = inclusion_proof(index, size, storage).unwrap();
            prop_assert_eq!(proof.len(), inclusion_proof_len(index, size).unwrap());
            prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());

            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.0 % bad.len();
                bad[k].0[(flip.1 % 32) as usize] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
            let mut leaf_bad = leaf;
            leaf_bad.0[(flip.1 % 32) as usize] ^= 1 << (flip.1 % 8);
            prop_assert!(verify_inclusion(index, size, &leaf_bad, &proof, &root).is_err());
            if size > 1 {
                let wrong = (index + 1 + other_seed % (size - 1)) % size;
                prop_assert_ne!(wrong, index);
                prop_assert!(verify_inclusion(wrong, size, &leaf, &proof, &root).is_err());
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
        }

        #[test]
        fn consistency_proofs_verify_and_tampering_fails(
            n in 1u64..=10_000,
            m_seed in any::<u64>(),
            other_seed in any::<u64>(),
            flip in any::<(usize, u8)>(),
        ) {
            let (_, storage, roots) = big_tree();
            let m = 1 + m_seed % n;
            let (old, new) = (roots[m as usize], roots[n as usize]);
            let proof = consistency_proof(m, n, storage).unwrap();
            prop_assert_eq!(proof.len(), consistency_proof_len(m, n).unwrap());
            prop_assert!(verify_consistency(m, n, &old, &new, &proof).is_ok());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let k = flip.0 % bad.len();
                bad[k].0[(flip.1 % 32) as usize] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_consistency(m, n, &old, &new, &bad).is_err());
                let mut longer = proof.clone();
                longer.push(new);
                prop_assert!(verify_consistency(m, n, &old, &new, &longer).is_err());
            }
            if m < n {
                // Another old size with the same proof and roots must fail.
                let wrong = 1 + (m + other_seed % (n - 1)) % (n - 1);
                if wrong != m {
                    prop_assert!(verify_consistency(wrong, n, &old, &new, &proof).is_err());
                }
                let mut old_bad = old;
                old_bad.0[(flip.1 % 32) as usize] ^= 1 << (flip.1 % 8);
                prop_assert!(verify_consistency(m, n, &old_bad, &new, &proof).is_err());
            }
        }
    }
}
