-- The registry (issues 6 and 7): organisations (bureaus), their seals, API keys, e-licences and
-- their serial counters, export jobs and idempotent requests. The archive log stays the record of
-- truth: every change here is also a log record, and `registry_state.applied_seq` marks how far
-- the licence rows have been reconciled with the log (see api/src/registry/reconcile.rs).
-- Times are RFC 3339 UTC text.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    uscc TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    name_en TEXT,
    address TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    last_seq INTEGER NOT NULL
);

-- A seal: its GB/T 38540 object, the signer certificate and chain, and where the private key
-- lives (a PEM file under the data folder, mode 0600; never in the database).
CREATE TABLE seals (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    name TEXT NOT NULL,
    seal_type INTEGER NOT NULL,
    es_id TEXT NOT NULL UNIQUE,
    seal_der BLOB NOT NULL,
    cert_der BLOB NOT NULL,
    chain_pem TEXT NOT NULL,
    key_file TEXT NOT NULL,
    picture_png BLOB NOT NULL,
    valid_start TEXT NOT NULL,
    valid_end TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    revoked_reason TEXT,
    created TEXT NOT NULL,
    revoked TEXT,
    last_seq INTEGER NOT NULL
);
CREATE INDEX seals_org ON seals (org_id, created);

-- API keys: only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    secret_sha256 BLOB NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'issuer', 'archivist', 'auditor')),
    org_id TEXT REFERENCES organisations (id),
    label TEXT,
    created TEXT NOT NULL,
    revoked TEXT
);

-- E-licences. `identifier` is the GB/T 36904 电子证照标识; `public_id` the unguessable id of the
-- verification URL. Status 'expired' is not stored: it follows from valid_until.
CREATE TABLE licences (
    identifier TEXT PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    type_key TEXT NOT NULL,
    type_code TEXT NOT NULL,
    type_name TEXT NOT NULL,
    org_id TEXT NOT NULL REFERENCES organisations (id),
    issuer_uscc TEXT NOT NULL,
    issuer_name TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    holder_code TEXT NOT NULL,
    serial TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'suspended', 'revoked', 'superseded')),
    status_reason TEXT,
    valid_from TEXT NOT NULL,
    valid_until TEXT,
    supersedes TEXT,
    superseded_by TEXT,
    seal_id TEXT NOT NULL,
    pdf_sha256 TEXT NOT NULL,
    data_json TEXT NOT NULL,
    issued TEXT NOT NULL,
    updated TEXT NOT NULL,
    issued_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE,
    request_sha256 TEXT
);
CREATE INDEX licences_org ON licences (org_id, issued, identifier);
CREATE INDEX licences_holder ON licences (holder_code);
CREATE INDEX licences_type ON licences (type_code);

-- Serial numbers per issuer, type and year (reserved in blocks; a crash leaves a gap, never a
-- duplicate).
CREATE TABLE licence_serials (
    org_id TEXT NOT NULL,
    type_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (org_id, type_code, year)
);

CREATE TABLE registry_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq INTEGER NOT NULL
);
INSERT INTO registry_state (id, applied_seq) VALUES (1, 0);

-- Background jobs (package export).
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    progress INTEGER NOT NULL,
    total INTEGER NOT NULL,
    params TEXT NOT NULL,
    result_file TEXT,
    error TEXT,
    actor TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);

-- Idempotent POSTs other than licence issuance (POST /v1/sign): the first response is kept.
CREATE TABLE idempotent_requests (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    body_ref TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
