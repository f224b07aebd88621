"""The general location model: categorical and continuous columns imputed together (:func:`impute_glom`)."""

from imputer.glom.api import impute_glom
from imputer.glom.result import GlomImputeResult

__all__ = ["GlomImputeResult", "impute_glom"]
