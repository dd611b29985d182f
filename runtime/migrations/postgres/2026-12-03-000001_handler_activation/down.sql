ALTER TABLE wasm_handler DROP COLUMN activated_at;
