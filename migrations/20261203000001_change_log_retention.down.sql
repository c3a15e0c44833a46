DROP TABLE IF EXISTS change_log_trims;
DROP TABLE IF EXISTS index_progress;
