"""treemodel adapters: boosted-tree models compiled for fast scoring (docs/model.md).

- ``ensemble``: the flattened arrays (``RawTree`` -> ``pack_trees`` -> ``CompiledEnsemble``)
- ``sklearn_compiler``: ``compile_estimator`` for fitted HGB / GBM binary classifiers
- ``predictor``: ``TreeEnsembleModel``, the ``ScoringModel`` that scores without scikit-learn
- ``training``: features from evidence, fit, evaluate, compile, register
- ``sweep``: the model-size measurement behind the defaults
- ``toy``: tiny hand-made models for tests
- ``serving`` / ``inprocess_client``: the served model and the in-process ``ModelClient``
"""
