-- Every uploaded version of every WebAssembly handler, keyed by the sha256 of its bytes. The
-- newest upload of a name is the active version; older ones stay for `wasm://name@sha` pins.
CREATE TABLE wasm_handler (
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    wasm BLOB NOT NULL,
    config TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    uploaded_at TEXT NOT NULL,
    PRIMARY KEY (name, sha256)
);
CREATE INDEX wasm_handler_newest ON wasm_handler (name, uploaded_at DESC);
