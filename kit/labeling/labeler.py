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
selected part's point, ``a`` accept the suggestions with likelihood >= pcutoff.

Every change is saved at once (see :class:`kit.labeling.label_store.LabelStore`). A frame
counts as labeled once one of its body parts is placed; the labeler opens at the
first frame that is not. The event handlers are plain methods (``on_click``,
``on_press``/``on_motion``/``on_release``, ``on_key``, ``on_scroll``) taking data
coordinates, so code and tests can drive the widget without a browser; the
matplotlib callbacks only forward to them.
"""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

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
from kit.labeling.labeler_figure import FrameFigure
from kit.labeling.labeler_panel import Panel
from kit.project import Project
from kit.project.drawing import bodypart_colors
from kit.project.video import load_image

PICK_RADIUS_PX = 8  # a press this close (screen pixels) to a point grabs it
KEYS = {
    "n": "next_frame",
    "right": "next_frame",
    "p": "previous_frame",
    "left": "previous_frame",
    "u": "next_unlabeled",
    "up": "previous_part",
    "down": "next_part",
    "delete": "delete_point",
    "backspace": "delete_point",
    "a": "accept_suggestions",
}


class Labeler:
    """Label one video's extracted frames; see the module docstring for mouse and keys.

    Args:
        project: the project.
        video: labeled-data folder name; ``""`` = the first one with frames.
        scorer: whose labels (file ``CollectedData_<scorer>``); ``""`` = the config's scorer.
        suggestions: a model's predictions for these frames (DeepLabCut layout: scorer,
            bodyparts, coords x/y/likelihood; index = image names), drawn as hollow
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
        self.lock = LabelLock(self.project.labeled_data_dir(self.video), self.project.scorer)
        if not self.lock.acquired and on_locked == "raise":
            raise LabelsLockedError(
                f"{self.lock.describe_holder()}. Close that labeler, or "
                "delete the lock file if no one is labeling."
            )
        self.store = LabelStore(self.project, self.video, self.images)
        self.suggestions = parse_suggestions(suggestions, self.bodyparts)
        self.colors = bodypart_colors(
            len(self.bodyparts), self.project.config.get("colormap", "rainbow")
        )
        self.message = "" if self.lock.acquired else f"Read-only: {self.lock.describe_holder()}."
        self._drag: dict | None = None
        self.frame = next((i for i, n in enumerate(self.images) if not self.store.is_labeled(n)), 0)
        self.part = self._first_unplaced()
        first = load_image(self.project.image_path(self.images[self.frame]))
        self.view = FrameFigure(first, scale, self.bodyparts, self.colors)
        self.fig, self.ax = self.view.fig, self.view.ax
        self._connect()
        self._build_panel()
        if self.message:
            warnings.warn(self.message, stacklevel=2)
        self._show_frame()

    # --- state ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The current image, as named in the label index."""
        return self.images[self.frame]

    @property
    def read_only(self) -> bool:
        return not self.lock.acquired

    def points(self) -> np.ndarray:
        """(num_bodyparts, 2) labels of the current frame, NaN = not placed."""
        return self.store.points(self.name)

    def _first_unplaced(self, after: int = -1) -> int:
        placed = np.isfinite(self.store.points(self.images[self.frame])[:, 0])
        order = [(after + 1 + i) % len(self.bodyparts) for i in range(len(self.bodyparts))]
        return next((k for k in order if not placed[k]), max(after, 0))

    def _suggestion(self, part: int) -> np.ndarray | None:
        row = self.suggestions.get(self.name)
        return None if row is None or not np.isfinite(row[part, :2]).all() else row[part]

    # --- actions (also the buttons' and keys') -----------------------------------------
    def go_to(self, frame: int) -> None:
        self.frame = int(np.clip(frame, 0, len(self.images) - 1))
        self.part = self._first_unplaced()
        self._drag = None
        self._show_frame()

    def next_frame(self) -> None:
        self.go_to(self.frame + 1)

    def previous_frame(self) -> None:
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
        self.part = int(part) % len(self.bodyparts)
        self._redraw()

    def next_part(self) -> None:
        self.select_part(self.part + 1)

    def previous_part(self) -> None:
        self.select_part(self.part - 1)

    def place(self, part: int, x: float, y: float, advance: bool = True) -> None:
        """Put body part ``part`` at image pixel (x, y) of the current frame and save."""
        if self._save(part, (x, y)) and advance:
            self.part = self._first_unplaced(after=part)
        self._redraw()

    def delete_point(self, part: int | None = None) -> None:
        """Mark ``part`` (default: the selected one) not visible in this frame and save."""
        self._save(self.part if part is None else part, None)
        self._redraw()

    def accept_suggestions(self) -> None:
        """Turn the suggestions of unplaced parts with likelihood >= pcutoff into labels."""
        placed = np.isfinite(self.points()[:, 0])
        for k in range(len(self.bodyparts)):
            s = self._suggestion(k)
            if not placed[k] and s is not None and s[2] >= self.project.pcutoff:
                self._save(k, (s[0], s[1]))
        self.part = self._first_unplaced()
        self._redraw()

    def _save(self, part: int, xy: tuple[float, float] | None) -> bool:
        if self.read_only:
            self.message = f"Read-only, not saved: {self.lock.describe_holder()}."
            return False
        path = self.store.set_point(self.name, part, xy)
        self.message = self.store.warnings[-1] if self.store.warnings else f"saved {path.name}"
        self.store.warnings.clear()
        return True

    # --- event handlers: data coordinates in, actions out -----------------------------
    def on_click(self, x: float | None, y: float | None, button: int = 1) -> None:
        """Button 1 places the selected part at (x, y); button 3 deletes the nearest point."""
        if x is None or y is None:
            return
        if button == 3:
            hit = self._hit(x, y, suggestions=False)
            if hit is not None:
                self.delete_point(hit[0])
        elif button == 1:
            self.place(self.part, x, y)

    def on_press(self, x: float | None, y: float | None, button: int = 1) -> None:
        """Grab the point under (x, y) to drag it, else act as :meth:`on_click`."""
        hit = self._hit(x, y) if button == 1 and x is not None else None
        if hit is None:
            return self.on_click(x, y, button)
        part, is_suggestion = hit
        self.part = part
        self._drag = {"part": part, "suggestion": is_suggestion, "xy": None}
        self._redraw()

    def on_motion(self, x: float | None, y: float | None) -> None:
        if self._drag is not None and x is not None and y is not None:
            self._drag["xy"] = (x, y)
            self._redraw()

    def on_release(self, x: float | None, y: float | None) -> None:
        """Drop a dragged point (saved), or accept a suggestion clicked without moving."""
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if drag["xy"] is not None:
            xy = (x, y) if x is not None and y is not None else drag["xy"]
            self.place(drag["part"], *xy, advance=drag["suggestion"])
        elif drag["suggestion"]:
            s = self._suggestion(drag["part"])
            self.place(drag["part"], s[0], s[1])
        else:
            self._redraw()

    def on_key(self, key: str | None) -> None:
        if key and key.isdigit() and 1 <= int(key) <= len(self.bodyparts):
            self.select_part(int(key) - 1)
        elif key in KEYS:
            getattr(self, KEYS[key])()

    def on_scroll(self, x: float, y: float, step: float) -> None:
        """Zoom by 1.25 per step around (x, y) (steps > 0 zoom in)."""
        factor = 1.25**-step
        for get, set_, c in (
            (self.ax.get_xlim, self.ax.set_xlim, x),
            (self.ax.get_ylim, self.ax.set_ylim, y),
        ):
            lo, hi = get()
            set_(c + (lo - c) * factor, c + (hi - c) * factor)
        self.fig.canvas.draw_idle()

    def _hit(self, x: float, y: float, suggestions: bool = True) -> tuple[int, bool] | None:
        """(part, is_suggestion) of the point nearest (x, y) within the pick radius, or None."""
        radius = PICK_RADIUS_PX * abs(np.diff(self.ax.get_xlim())[0]) / self.ax.bbox.width
        points = self.points()
        candidates = [(k, False, points[k]) for k in range(len(points))]
        if suggestions:
            candidates += [
                (k, True, self._suggestion(k)[:2])
                for k in range(len(points))
                if not np.isfinite(points[k, 0]) and self._suggestion(k) is not None
            ]
        best = None
        for k, is_suggestion, xy in candidates:
            d = np.hypot(xy[0] - x, xy[1] - y)
            if np.isfinite(d) and d <= radius and (best is None or d < best[0]):
                best = (d, k, is_suggestion)
        return None if best is None else (best[1], best[2])

    # --- matplotlib wiring -------------------------------------------------------------
    def _toolbar_busy(self) -> bool:
        mode = getattr(getattr(self.fig.canvas, "toolbar", None), "mode", "")
        return getattr(mode, "value", mode) not in ("", None)

    def _connect(self) -> None:
        canvas = self.fig.canvas
        manager = getattr(canvas, "manager", None)
        if getattr(manager, "key_press_handler_id", None) is not None:
            canvas.mpl_disconnect(manager.key_press_handler_id)  # matplotlib's own keys (p, q...)
        handlers = {
            "button_press_event": self._mpl_press,
            "motion_notify_event": self._mpl_motion,
            "button_release_event": self._mpl_release,
            "scroll_event": self._mpl_scroll,
            "key_press_event": lambda event: self.on_key(event.key),
        }
        self._connections = [canvas.mpl_connect(name, f) for name, f in handlers.items()]

    def _mpl_press(self, event) -> None:
        if event.inaxes is self.ax and not self._toolbar_busy():
            self.on_press(event.xdata, event.ydata, int(event.button))

    def _mpl_motion(self, event) -> None:
        if self._drag is not None:
            self.on_motion(event.xdata, event.ydata)

    def _mpl_release(self, event) -> None:
        if self._drag is not None:
            self.on_release(event.xdata, event.ydata)

    def _mpl_scroll(self, event) -> None:
        if event.inaxes is self.ax:
            self.on_scroll(event.xdata, event.ydata, event.step)

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
        points = self.points().copy()
        if self._drag is not None and self._drag["xy"] is not None:
            points[self._drag["part"]] = self._drag["xy"]
        suggestions = [self._suggestion(k) for k in range(len(self.bodyparts))]
        if self._drag is None or self._drag["xy"] is None:  # no panel change while dragging
            self._update_panel(points)
        self.view.draw(points, suggestions, self.project.pcutoff, self.part)

    def _build_panel(self) -> None:
        actions = [
            ("previous (p)", self.previous_frame),
            ("next (n)", self.next_frame),
            ("next unlabeled (u)", self.next_unlabeled),
            ("delete point (Del)", self.delete_point),
            ("accept suggestions (a)", self.accept_suggestions),
        ]
        self.panel = Panel(self.bodyparts, self.colors, self.select_part, actions,
                           self.view.canvas_widget)
        self.status, self.widget = self.panel.status, self.panel.widget

    def _update_panel(self, points: np.ndarray) -> None:
        where = (
            f"<b>{self.video}</b> frame {self.frame + 1}/{len(self.images)} "
            f"<code>{self.name.rsplit('/', 1)[-1]}</code>"
        )
        num_labeled = sum(self.store.is_labeled(n) for n in self.images)
        self.panel.update(points, self.part, where, num_labeled, self.message)
