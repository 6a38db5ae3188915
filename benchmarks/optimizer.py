"""Optimizer benchmark table (see carrier_opt/bench/optimizer.py); `carrier-opt bench optimizer`."""

from carrier_opt.bench.optimizer import main

if __name__ == "__main__":
    main()
