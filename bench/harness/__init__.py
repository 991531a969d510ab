"""The Pareto benchmark's harness: what `bench/pareto.py` does between its flags and its files.

- `pareto_flags`: the flags, their quick/full defaults and their checks
- `record`: the resume record (partial.json, flags.json) and which flags a model depends on
- `recipe`: the shared training recipe for any Keras model, and the run's configs
- `models`: train and measure one model under every seed, and record it
- `imported`: baselines from earlier results files, checked against this run
- `verdict`: does E-DNAS beat the baselines at its latency, by how much; the text table
- `plot`: accuracy against latency
- `pareto_run`: the whole run, searches to verdict
"""
