"""Feature schema, feature vectors and the pure feature extraction."""

from riskscore.domain.features.schema import FeatureDef, FeatureSchema, FeatureVector

__all__ = ["FeatureDef", "FeatureSchema", "FeatureVector"]
