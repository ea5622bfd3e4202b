"""Which models may answer, in which order: route resolution and plans (``planner``), the learned difficulty score
(``difficulty``), the classifier model's prompt and labels (``classifier``), routing strategies (``strategies``) and
the capabilities a request needs (``capabilities``).

May use ``health`` (strategies read the live health picture), ``config`` and ``values``.
"""
