ALTER TABLE hdb_metadata DROP COLUMN applied_from_dir;
