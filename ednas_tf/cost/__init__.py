"""Pure cost models: how long a block or layer takes on a target, without measuring anything.

`base.LatencyModel` is the interface; `tda2x`/`tda2x_latency` the analytic TDA2x model, `macs` the
MACs proxy, `lut.LookupTable` measured rows; `network` costs a child or a whole space with any of
them. Fitting the TDA2x model is `ednas_tf.fit`, measuring tables `ednas_tf.measure`.
"""
