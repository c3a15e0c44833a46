ALTER TABLE collections DROP COLUMN index_generation;
