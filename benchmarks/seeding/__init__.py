"""Data the benchmarks write straight into a sandbox's database before they measure."""
