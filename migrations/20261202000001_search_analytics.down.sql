DROP TABLE IF EXISTS search_analytics;
