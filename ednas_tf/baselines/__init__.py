"""The baselines E-DNAS is measured against.

Fixed networks (`keras_apps`: keras.applications MobileNets; `fixed`: hand-set children of the
search space; `imported`: baselines recorded in an earlier benchmark's results) and the
black-box search (`tuner`: keras-tuner over the same space). They sit above the model and the
latency models, beside the search: nothing in the core imports them.
"""
