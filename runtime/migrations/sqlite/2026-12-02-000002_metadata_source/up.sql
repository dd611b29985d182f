-- The resource version last written from a metadata directory (`--metadata-dir` at start, or
-- `hookwing metadata apply`): a stored version above it was changed through the API since, and
-- a start with `--metadata-dir` refuses to discard that unless told to.
ALTER TABLE hdb_metadata ADD COLUMN applied_from_dir BIGINT;
