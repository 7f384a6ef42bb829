-- The archive log (issue 4): records, RFC 9162 node hashes in Go tlog's dense layout, the head
-- (compare-and-swap target of every append), signed checkpoints; documents and evidence.
CREATE TABLE log_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    root BLOB NOT NULL,
    last_record_hash BLOB NOT NULL
);
-- The empty log: size 0, root SHA-256("") (RFC 9162 §2.1.1), no previous record.
INSERT INTO log_head (id, size, root, last_record_hash)
VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', zeroblob(32));

CREATE TABLE log_records (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    time TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    record_hash BLOB NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX log_records_kind ON log_records (kind, seq);

CREATE TABLE log_hashes (
    idx INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
);

CREATE TABLE log_checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL,
    created TEXT NOT NULL
);

-- Documents whose bytes are kept under <data dir>/documents/sha256/ab/cdef….pdf.
CREATE TABLE documents (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    created TEXT NOT NULL
);

-- Evidence (verification reports, JSON) named by a record's digest with role "evidence".
CREATE TABLE evidence (
    sha256 TEXT PRIMARY KEY,
    document_sha256 TEXT NOT NULL,
    media_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX evidence_document ON evidence (document_sha256);
