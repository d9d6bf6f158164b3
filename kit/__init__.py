"""kit: markerless animal pose estimation with the DeepLabCut method, in notebooks.

Modules form one pipeline, each importing only the ones before it:
project/labels -> splits -> targets -> data -> model -> train -> predict -> evaluate.
Import what you need (``from kit import project, train``); nothing heavy runs on import.
"""

__version__ = "0.1.0"
