"""``python -m huiminbao_bench enrollment | lookups | phases``: ``huiminbao bench`` itself."""

from huiminbao_bench.cli import bench

if __name__ == "__main__":
    bench()
