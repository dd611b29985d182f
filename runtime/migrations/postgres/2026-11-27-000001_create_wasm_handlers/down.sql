DROP TABLE wasm_handler;
