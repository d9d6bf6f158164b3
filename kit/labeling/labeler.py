"""Label the frames of one video in a notebook: an ipywidgets + matplotlib (ipympl) widget.

In a notebook run ``%matplotlib widget`` first, then show ``Labeler(project).widget``.
The frame is drawn at full resolution (one image pixel per screen pixel at
``scale=1``); the matplotlib toolbar zooms and pans, and so does the scroll wheel.

Mouse: a click places the selected body part, then the next body part not yet
placed is selected; press on a point and drag it to move it; a right click on a
point deletes it (the part is not visible, NaN); a click on a suggestion (hollow
marker) accepts it. While the toolbar's zoom or pan mode is on, clicks do not label.

Keys (with the pointer over the frame): ``n``/``right`` next frame, ``p``/``left``
previous frame, ``u`` next unlabeled frame, ``1``-``9`` choose a body part,
``up``/``down`` previous/next body part, ``delete``/``backspace`` delete the
selected part's point, ``a`` accept the suggestions with likelihood >= pcutoff,
``c`` copy the points of the previous labeled frame (those not placed here yet).

Several animals (a multi-animal project, ``project.layout``): each point belongs to an
individual as well as a body part (DeepLabCut's four-level labels; unique body parts
belong to the individual ``single``). ``i``/``I`` (shift+i) select the next/previous
individual, as do the individual buttons; a click places the selected individual's
selected part, and the next unplaced part of that individual (then of the next ones)
is selected. ``c`` copies the selected individual's points from the previous frame
labeling it, ``C`` every individual's. Points are coloured by individual, body parts
told apart by marker shape and name. Individuals not labeled in a frame stay NaN.

Every change is saved at once (see :class:`kit.labeling.label_store.LabelStore`). A frame
counts as labeled once one of its body parts is placed; the labeler opens at the
first frame that is not. The event handlers are plain methods (``on_click``,
``on_press``/``on_motion``/``on_release``, ``on_key``, ``on_scroll``; in
:mod:`kit.labeling.labeler_events`) taking data
coordinates, so code and tests can drive the widget without a browser; the
matplotlib callbacks only forward to them.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from kit.labeling.label_audit import swap_sides
from kit.labeling.label_store import (
    ON_LOCKED,
    LabelLock,
    LabelsLockedError,
    LabelStore,
    first_video,
    frame_images,
    parse_suggestions,
    with_scorer,
)
from kit.labeling.labeler_events import LabelerEvents
from kit.labeling.labeler_figure import FrameFigure
from kit.labeling.labeler_panel import Panel, Selector
from kit.project import Project
from kit.project.drawing import bodypart_colors
from kit.project.video import load_image

# marker -> its glyph on the body-part buttons (multi-animal projects)
MARKERS = {"o": "\u25cf", "s": "\u25a0", "^": "\u25b2", "D": "\u25c6", "v": "\u25bc",
           "p": "\u2b1f", "h": "\u2b22", "*": "\u2605", "P": "\u271a", "X": "\u2716"}


class Labeler(LabelerEvents):
    """Label one video's extracted frames; see the module docstring for mouse and keys.

    Args:
        project: the project.
        video: labeled-data folder name; ``""`` = the first one with frames.
        scorer: whose labels (file ``CollectedData_<scorer>``); ``""`` = the config's scorer.
        suggestions: a model's predictions for these frames (DeepLabCut layout: scorer,
            bodyparts, coords x/y/likelihood, with an individuals level in a multi-animal
            project; index = image names), drawn as hollow
            markers, red squares around those below the project's pcutoff.
        on_locked: when another live kernel labels this video: ``"read-only"`` (warn,
            show, never save) or ``"raise"`` (:class:`LabelsLockedError`).
        scale: screen pixels per image pixel.
    """

    def __init__(
        self,
        project: Project,
        video: str = "",
        scorer: str = "",
        suggestions: pd.DataFrame | None = None,
        on_locked: str = "read-only",
        scale: float = 1.0,
    ) -> None:
        if on_locked not in ON_LOCKED:
            raise ValueError(f"Unknown on_locked={on_locked!r}. Choose one of {list(ON_LOCKED)}.")
        self.project = with_scorer(project, scorer)
        self.video = video or first_video(self.project)
        self.images = frame_images(self.project, self.video)
        if not self.images:
            raise ValueError(
                f"No PNG frames in {self.project.labeled_data_dir(self.video)}. "
                f"Folders with frames: {self.project.labeled_videos()}."
            )
        self.bodyparts = self.project.bodyparts
        self.store = LabelStore(self.project, self.video, self.images)  # checks the file first
        self.lock = LabelLock(self.project.labeled_data_dir(self.video), self.project.scorer)
        if not self.lock.acquired and on_locked == "raise":
            raise LabelsLockedError(
                f"{self.lock.describe_holder()}. Close that labeler, or "
                "delete the lock file if no one is labeling."
            )
        self.individuals = self.store.individuals  # [] for one animal
        self.suggestions = parse_suggestions(suggestions, self.bodyparts, self.store.layout)
        self.slots = [tuple(int(v) for v in s) for s in np.argwhere(self.store.has_part)]
        self.colors = self._slot_colors()
        self.message = "" if self.lock.acquired else f"Read-only: {self.lock.describe_holder()}."
        self._drag: dict | None = None
        self.frame = next((i for i, n in enumerate(self.images) if not self.store.is_labeled(n)), 0)
        self.individual, self.part = self._next_unplaced()
        first = load_image(self.project.image_path(self.images[self.frame]))
        markers = [self._marker(k) for _, k in self.slots]
        self.view = FrameFigure(first, scale, [self.bodyparts[k] for _, k in self.slots],
                                self.colors, markers)
        self.fig, self.ax = self.view.fig, self.view.ax
        self._connect()
        self._build_panel()
        if self.message:
            warnings.warn(self.message, stacklevel=2)
        self._show_frame()

    def _marker(self, part: int) -> str:
        """One marker per body part with several animals; dots coloured by part otherwise."""
        return list(MARKERS)[part % len(MARKERS)] if self.individuals else "o"

    def _slot_colors(self) -> np.ndarray:
        """(num_slots, 4) RGBA: by body part for one animal, by individual for several."""
        colormap = self.project.config.get("colormap", "rainbow")
        if not self.individuals:
            return bodypart_colors(len(self.bodyparts), colormap)
        by_individual = bodypart_colors(len(self.individuals), colormap)
        return np.array([by_individual[i] for i, _ in self.slots])

    # --- state ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The current image, as named in the label index."""
        return self.images[self.frame]

    @property
    def read_only(self) -> bool:
        return not self.lock.acquired

    def points(self) -> np.ndarray:
        """(num_bodyparts, 2) labels of the selected individual in the current frame,
        NaN = not placed."""
        return self.store.points(self.name, self.individual)

    def all_points(self) -> np.ndarray:
        """(num_rows, num_bodyparts, 2) labels of every individual in the current frame (one
        row for one animal; rows as ``project.layout.table_individuals``)."""
        return self.store.all_points(self.name)

    def _next_unplaced(self, after: tuple[int, int] | None = None) -> tuple[int, int]:
        """The (individual, part) after ``after`` (from the start if None) not yet placed,
        in table order and wrapping around; ``after`` (or the first) if every one is."""
        placed = np.isfinite(self.all_points()[..., 0])
        start = self.slots.index(after) + 1 if after is not None else 0
        for n in range(len(self.slots)):
            i, k = self.slots[(start + n) % len(self.slots)]
            if not placed[i, k]:
                return i, k
        return after if after is not None else self.slots[0]

    def _suggestion(self, part: int, individual: int | None = None) -> np.ndarray | None:
        """(x, y, likelihood) suggested for ``part`` of ``individual`` (default: selected)."""
        row = self.suggestions.get(self.name)
        individual = self.individual if individual is None else individual
        point = None if row is None else row[individual, part]
        return None if point is None or not np.isfinite(point[:2]).all() else point

    # --- actions (also the buttons' and keys') -----------------------------------------
    def go_to(self, frame: int) -> None:
        """Show frame ``frame`` (clipped to the frames), with its first unplaced part selected."""
        self.frame = int(np.clip(frame, 0, len(self.images) - 1))
        self.individual, self.part = self._next_unplaced()
        self._drag = None
        self._show_frame()

    def next_frame(self) -> None:
        """Show the next frame."""
        self.go_to(self.frame + 1)

    def previous_frame(self) -> None:
        """Show the previous frame."""
        self.go_to(self.frame - 1)

    def next_unlabeled(self) -> None:
        """Go to the next frame with no point placed (wrapping around); stay if there is none."""
        n = len(self.images)
        for i in range(1, n + 1):
            if not self.store.is_labeled(self.images[(self.frame + i) % n]):
                return self.go_to((self.frame + i) % n)
        self.message = "Every frame has labels."
        self._redraw()

    def select_part(self, part: int) -> None:
        """Select body part ``part``; if the selected individual has no such part (a unique
        part, or an animal's part while ``single`` is selected), the first one having it."""
        self.part = int(part) % len(self.bodyparts)
        if not self.store.has_part[self.individual, self.part]:
            self.individual = int(np.argmax(self.store.has_part[:, self.part]))
        self._redraw()

    def _step_part(self, step: int) -> None:
        parts = np.flatnonzero(self.store.has_part[self.individual]).tolist()
        self.select_part(parts[(parts.index(self.part) + step) % len(parts)])

    def next_part(self) -> None:
        """The selected individual's next body part."""
        self._step_part(1)

    def previous_part(self) -> None:
        """Select the previous body part."""
        self._step_part(-1)

    def select_individual(self, individual: int) -> None:
        """Select row ``individual`` (of ``project.layout.table_individuals``), keeping the
        body part if it has it, else its first unplaced one."""
        self.individual = int(individual) % self.store.num_rows
        parts = np.flatnonzero(self.store.has_part[self.individual])
        if self.part not in parts:
            placed = np.isfinite(self.points()[:, 0])
            self.part = next((int(k) for k in parts if not placed[k]), int(parts[0]))
        self._redraw()

    def next_individual(self) -> None:
        """Select the next individual."""
        self.select_individual(self.individual + 1)

    def previous_individual(self) -> None:
        """Select the previous individual."""
        self.select_individual(self.individual - 1)

    def place(self, part: int, x: float, y: float, advance: bool = True,
              individual: int | None = None) -> None:
        """Put body part ``part`` of ``individual`` (default: the selected one) at image
        pixel (x, y) of the current frame and save."""
        individual = self.individual if individual is None else individual
        if self._save({(individual, part): (x, y)}) and advance:
            self.individual, self.part = self._next_unplaced(after=(individual, part))
        self._redraw()

    def delete_point(self, part: int | None = None, individual: int | None = None) -> None:
        """Mark ``part`` of ``individual`` (default: the selected ones) not visible; save."""
        individual = self.individual if individual is None else individual
        self._save({(individual, self.part if part is None else part): None})
        self._redraw()

    def accept_suggestions(self) -> None:
        """Turn the suggestions of unplaced points with likelihood >= pcutoff into labels
        (every individual's), in one save."""
        placed = np.isfinite(self.all_points()[..., 0])
        changes = {}
        for i, k in self.slots:
            s = self._suggestion(k, i)
            if not placed[i, k] and s is not None and s[2] >= self.project.pcutoff:
                changes[(i, k)] = (s[0], s[1])
        if changes:
            self._save(changes)
        self.individual, self.part = self._next_unplaced()
        self._redraw()

    def copy_individual(self) -> None:
        """Copy the selected individual's points from the previous frame labeling it."""
        self.copy_previous([self.individual])

    def copy_all_individuals(self) -> None:
        """Copy every individual's points from the previous labeled frame."""
        self.copy_previous(range(self.store.num_rows))

    def copy_previous(self, individuals) -> None:
        """Copy the points of ``individuals`` (rows) from the nearest earlier frame labeling
        any of them into this frame, where not placed yet (placed points are kept); one save."""
        rows = list(individuals)
        source = next((n for n in reversed(self.images[: self.frame])
                       if any(self.store.is_labeled(n, i) for i in rows)), None)
        who = ", ".join(self.individuals[i] for i in rows) if self.individuals else "the animal"
        if source is None:
            self.message = f"No earlier frame has labels of {who}: nothing to copy."
            return self._redraw()
        new, old = self.store.all_points(source), self.all_points()
        changes = {(i, k): tuple(new[i, k]) for i, k in self.slots
                   if i in rows and np.isfinite(new[i, k, 0]) and not np.isfinite(old[i, k, 0])}
        if changes and self._save(changes):
            self.message = (f"copied {len(changes)} point(s) of {who} from "
                            f"{source.rsplit('/', 1)[-1]}; {self.message}")
        elif not changes:
            self.message = f"Nothing to copy: {who} already placed where {source} has points."
        self.individual, self.part = self._next_unplaced()
        self._redraw()

    def _save(self, changes: dict[tuple[int, int], tuple[float, float] | None]) -> bool:
        """Save ``{(individual, part): (x, y) or None}`` for the current frame."""
        if self.read_only:
            self.message = f"Read-only, not saved: {self.lock.describe_holder()}."
            return False
        path = self.store.set_points(self.name, changes)
        self.message = self.store.warnings[-1] if self.store.warnings else f"saved {path.name}"
        self.store.warnings.clear()
        return True

    def swap_sides(self, swaps: pd.DataFrame) -> list[str]:
        """Exchange the left and right points of each row of ``swaps``
        (:func:`kit.labeling.label_audit.project_side_swaps`) in this video's labels, the
        file before kept as ``.bak``; the images changed.

        Raises:
            LabelsLockedError: another kernel is labeling this video (read-only here).
        """
        if self.read_only:
            raise LabelsLockedError(f"Read-only, nothing swapped: {self.lock.describe_holder()}.")
        changed = swap_sides(self.store, swaps)
        self._show_frame()
        return changed

    def close(self) -> None:
        """Release the lock and close the figure and the widget."""
        self.lock.release()
        plt.close(self.fig)
        self.widget.close()

    # --- drawing (kit.labeling.labeler_figure, kit.labeling.labeler_panel) ------------------
    def _show_frame(self) -> None:
        self.view.set_image(load_image(self.project.image_path(self.name)))
        self._redraw()

    def _redraw(self) -> None:
        points = self.all_points()
        if self._drag is not None and self._drag["xy"] is not None:
            points[self._drag["slot"]] = self._drag["xy"]
        suggestions = [self._suggestion(k, i) for i, k in self.slots]
        if self._drag is None or self._drag["xy"] is None:  # no panel change while dragging
            self._update_panel(points)
        slots = np.array(self.slots)
        self.view.draw(points[slots[:, 0], slots[:, 1]], suggestions, self.project.pcutoff,
                       self.slots.index((self.individual, self.part)))

    def _build_panel(self) -> None:
        actions = [
            ("previous (p)", self.previous_frame),
            ("next (n)", self.next_frame),
            ("next unlabeled (u)", self.next_unlabeled),
            ("delete point (Del)", self.delete_point),
            ("accept suggestions (a)", self.accept_suggestions),
            ("copy previous (c)", self.copy_individual),
        ]
        colormap = self.project.config.get("colormap", "rainbow")
        if not self.individuals:
            selectors = [Selector("body parts", [f"{k + 1} {b}" for k, b in enumerate(
                self.bodyparts)], bodypart_colors(len(self.bodyparts), colormap),
                self.select_part)]
        else:
            actions.append(("copy all previous (C)", self.copy_all_individuals))
            names = [f"{k + 1} {b} {MARKERS[self._marker(k)]}" for k, b in enumerate(
                self.bodyparts)]
            selectors = [Selector("body parts", names, None, self.select_part),
                         Selector("individuals (i)", self.individuals,
                                  bodypart_colors(len(self.individuals), colormap),
                                  self.select_individual)]
        self.panel = Panel(selectors, actions, self.view.canvas_widget)
        self.status, self.widget = self.panel.status, self.panel.widget

    def _update_panel(self, points: np.ndarray) -> None:
        """Show the state; ``points`` (num_rows, num_bodyparts, 2) of the current frame."""
        where = (
            f"<b>{self.video}</b> frame {self.frame + 1}/{len(self.images)} "
            f"<code>{self.name.rsplit('/', 1)[-1]}</code>"
        )
        num_labeled = sum(self.store.is_labeled(n) for n in self.images)
        placed = np.isfinite(points[..., 0])
        mine = placed[self.individual]
        who = f"{self.individuals[self.individual]} " if self.individuals else ""
        num_parts = int(self.store.has_part[self.individual].sum())
        self.panel.update(
            [self.part, self.individual], [mine.tolist(), placed.any(axis=1).tolist()],
            f"{where} &middot; {int(mine.sum())}/{num_parts} parts {who and 'of ' + who}"
            f"&middot; {num_labeled} frames labeled &middot; selected: "
            f"<b>{who}{self.bodyparts[self.part]}</b><br><i>{self.message or '&nbsp;'}</i>")
