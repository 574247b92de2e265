-- parquet-exporter views and macros for the duckdb CLI (generated: parquet-exporter schema --write).
-- Run from the repository root: duckdb -init config/views.sql
CREATE OR REPLACE VIEW query_performance AS SELECT * FROM read_parquet('knowledge/optimize/parquet/query_perf/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}, union_by_name = true);
CREATE OR REPLACE VIEW query_performance_weekly AS SELECT * FROM read_parquet('knowledge/optimize/parquet/query_perf_weekly/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}, union_by_name = true);
CREATE OR REPLACE VIEW index_recommendations AS SELECT * FROM read_parquet('knowledge/optimize/parquet/index_advisor/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}, union_by_name = true);
CREATE OR REPLACE VIEW optimization_events AS SELECT * FROM read_parquet('knowledge/optimize/parquet/optimization_summary/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}, union_by_name = true);
CREATE OR REPLACE VIEW rejects AS SELECT * FROM read_parquet('knowledge/optimize/parquet/_rejects/**/*.parquet', hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}, union_by_name = true);
CREATE OR REPLACE MACRO avg_query_time(days) AS (
  SELECT AVG(execution_time_ms) FROM query_performance WHERE date_partition >= CURRENT_DATE - CAST(days AS INTEGER)
);
CREATE OR REPLACE MACRO slow_queries(threshold_ms) AS TABLE
  SELECT * FROM query_performance WHERE execution_time_ms > threshold_ms ORDER BY execution_time_ms DESC;
