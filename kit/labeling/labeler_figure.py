"""The matplotlib side of :class:`kit.labeling.labeler.Labeler`: the frame and its markers.

Kept apart from the labeler's logic (what a click or key does), as
:mod:`kit.labeling.labeler_panel` keeps the widgets apart: this module only draws
the state it is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

DPI = 100


class FrameFigure:
    """One frame at full resolution and the markers over it.

    A marker slot is one (individual, body part) pair: in a single-animal project one per
    body part, coloured by body part; in a multi-animal one, coloured by individual with a
    marker shape per body part.

    Args:
        image: (height, width, 3) uint8 RGB, the first frame shown.
        scale: screen pixels per image pixel.
        names: the text next to each slot's marker (its body part), in slot order.
        colors: (num_slots, 4) RGBA, one per slot.
        markers: one Matplotlib marker per slot (default: all ``"o"``).
    """

    def __init__(self, image: np.ndarray, scale: float, names: Sequence[str],
                 colors: np.ndarray, markers: Sequence[str] | None = None) -> None:
        markers = ["o"] * len(names) if markers is None else list(markers)
        h, w = image.shape[:2]
        with plt.ioff():  # shown inside the labeler's widget, not on its own
            self.fig = plt.figure(figsize=(w * scale / DPI, h * scale / DPI), dpi=DPI)
        self.ax = self.fig.add_axes((0, 0, 1, 1))  # the image fills the canvas: no margins
        self.ax.set_axis_off()
        self.image = self.ax.imshow(image, interpolation="nearest")
        canvas = self.fig.canvas
        for option, value in (("header_visible", False), ("resizable", False),
                              ("capture_scroll", True), ("toolbar_position", "left")):
            if hasattr(canvas, option):
                setattr(canvas, option, value)
        if isinstance(canvas, widgets.DOMWidget):  # keep the panel next to the frame
            canvas.layout.flex = "0 0 auto"
        self.labels = [self.ax.plot([], [], m, color=c, ms=8, mec="white", mew=1)[0]
                       for c, m in zip(colors, markers)]
        self.names = [self.ax.text(0, 0, b, color=c, fontsize=8, visible=False)
                      for b, c in zip(names, colors)]
        self.suggested = [self.ax.plot([], [], m, mfc="none", mec=c, ms=10, mew=2)[0]
                          for c, m in zip(colors, markers)]
        self.doubtful = self.ax.plot([], [], "s", mfc="none", mec="red", ms=16, mew=1.5)[0]
        self.ring = self.ax.plot([], [], "o", mfc="none", mec="white", ms=15, mew=1.5)[0]

    @property
    def canvas_widget(self) -> widgets.DOMWidget | None:
        """The ipympl canvas, or None with a non-widget matplotlib backend."""
        return self.fig.canvas if isinstance(self.fig.canvas, widgets.DOMWidget) else None

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` (height, width, 3); another size resets the view to the whole frame."""
        if image.shape != self.image.get_array().shape:
            h, w = image.shape[:2]
            self.image.set_extent((-0.5, w - 0.5, h - 0.5, -0.5))
            self.ax.set_xlim(-0.5, w - 0.5)
            self.ax.set_ylim(h - 0.5, -0.5)
        self.image.set_data(image)

    def draw(self, points: np.ndarray, suggestions: Sequence[np.ndarray | None],
             pcutoff: float, selected: int) -> None:
        """Draw the labels and, for unplaced slots, the suggestions.

        Args:
            points: (num_slots, 2) x then y, image pixels, NaN = not placed.
            suggestions: per slot (x, y, likelihood) or None; those below
                ``pcutoff`` get a red square.
            selected: the selected slot, ringed if placed.
        """
        doubtful = []
        for k, (x, y) in enumerate(points):
            placed = bool(np.isfinite(x))
            self.labels[k].set_data([x] if placed else [], [y] if placed else [])
            self.names[k].set(position=(x + 4, y - 4) if placed else (0, 0), visible=placed)
            s = None if placed else suggestions[k]
            self.suggested[k].set_data([s[0]] if s is not None else [],
                                       [s[1]] if s is not None else [])
            if s is not None and s[2] < pcutoff:
                doubtful.append(s[:2])
        self.doubtful.set_data([d[0] for d in doubtful], [d[1] for d in doubtful])
        sel = points[selected]
        self.ring.set_data(*(([sel[0]], [sel[1]]) if np.isfinite(sel[0]) else ([], [])))
        self.fig.canvas.draw_idle()
