-- When each handler version was last made the active one: by its upload, or by
-- `POST /v1/handlers/{name}/activate`, which brings an older version back without changing
-- when it was uploaded. The most recently activated version of a name is the active one.
ALTER TABLE wasm_handler ADD COLUMN activated_at TEXT;
UPDATE wasm_handler SET activated_at = uploaded_at;
