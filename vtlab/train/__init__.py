"""Training: recipes, the engine, checkpoints, distributed set-up."""

from .engine import TrainConfig, evaluate, train
from .recipes import RECIPES, Recipe, get_recipe

__all__ = ["RECIPES", "Recipe", "TrainConfig", "evaluate", "get_recipe", "train"]
