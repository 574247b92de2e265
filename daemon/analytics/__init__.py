"""Reading the datasets: DuckDB views and queries, health, the HTML report."""
