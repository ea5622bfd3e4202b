"""Offline training, evaluation and calibration of the ``auto`` router's difficulty score.

Run as ``python -m router_training train|eval|calibrate`` (``make train-router`` / ``eval-router`` /
``calibrate-router``). Needs numpy and scikit-learn (requirements-dev.txt); the Lambda bundle never imports
this package: it only reads the JSON artifact written here.
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:  # the features come from the gateway's own code, so training and serving agree
    sys.path.insert(0, _LAMBDAS)
