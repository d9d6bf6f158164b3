"""Stage 1, the project: config and paths, label and analysis files, video and image I/O,
frame picking, train/test splits, and how poses are drawn. Imports no other stage.

The project's config and paths are re-exported here (``from kit.project import load_project``).
"""

from kit.project.config import Project, create_project, load_project, update_config
from kit.project.files import DiskFullError, atomic_path, atomic_write_text

__all__ = ["DiskFullError", "Project", "atomic_path", "atomic_write_text", "create_project",
           "load_project", "update_config"]
