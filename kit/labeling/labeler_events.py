"""The mouse and keys of :class:`kit.labeling.labeler.Labeler`: event handlers taking data
coordinates (image pixels), and the matplotlib wiring that forwards to them.

Kept apart from the labeler's actions (what placing, deleting, copying do); the
handlers only find the point under the pointer and call those actions, so code and
tests can drive the widget without a browser.
"""

from __future__ import annotations

import numpy as np

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
    "i": "next_individual",
    "I": "previous_individual",
    "c": "copy_individual",
    "C": "copy_all_individuals",
}


class LabelerEvents:
    """Event handlers mixed into :class:`kit.labeling.labeler.Labeler` (which provides the
    state: ``ax``, ``fig``, ``slots``, ``individual``, ``part``, ``_drag``, and the actions)."""

    # --- event handlers: data coordinates in, actions out -----------------------------
    def on_click(self, x: float | None, y: float | None, button: int = 1) -> None:
        """Button 1 places the selected part at (x, y); button 3 deletes the nearest point."""
        if x is None or y is None:
            return
        if button == 3:
            hit = self._hit(x, y, suggestions=False)
            if hit is not None:
                self.delete_point(hit[1], hit[0])
        elif button == 1:
            self.place(self.part, x, y)

    def on_press(self, x: float | None, y: float | None, button: int = 1) -> None:
        """Grab the point under (x, y) to drag it, else act as :meth:`on_click`."""
        hit = self._hit(x, y) if button == 1 and x is not None else None
        if hit is None:
            return self.on_click(x, y, button)
        self.individual, self.part, is_suggestion = hit
        self._drag = {"slot": hit[:2], "suggestion": is_suggestion, "xy": None}
        self._redraw()

    def on_motion(self, x: float | None, y: float | None) -> None:
        """Move the point being dragged to ``(x, y)`` (image pixels; None outside the frame)."""
        if self._drag is not None and x is not None and y is not None:
            self._drag["xy"] = (x, y)
            self._redraw()

    def on_release(self, x: float | None, y: float | None) -> None:
        """Drop a dragged point (saved), or accept a suggestion clicked without moving."""
        drag, self._drag = self._drag, None
        if drag is None:
            return
        individual, part = drag["slot"]
        if drag["xy"] is not None:
            xy = (x, y) if x is not None and y is not None else drag["xy"]
            self.place(part, *xy, advance=drag["suggestion"], individual=individual)
        elif drag["suggestion"]:
            s = self._suggestion(part, individual)
            self.place(part, s[0], s[1], individual=individual)
        else:
            self._redraw()

    def on_key(self, key: str | None) -> None:
        """Act on a key press: a digit selects a body part, the others as ``KEYS`` says."""
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

    def _hit(self, x: float, y: float, suggestions: bool = True
             ) -> tuple[int, int, bool] | None:
        """(individual, part, is_suggestion) of the point nearest (x, y) within the pick
        radius, or None; any individual's point counts."""
        radius = PICK_RADIUS_PX * abs(np.diff(self.ax.get_xlim())[0]) / self.ax.bbox.width
        points = self.all_points()
        candidates = [(i, k, False, points[i, k]) for i, k in self.slots]
        if suggestions:
            candidates += [
                (i, k, True, self._suggestion(k, i)[:2])
                for i, k in self.slots
                if not np.isfinite(points[i, k, 0]) and self._suggestion(k, i) is not None
            ]
        best = None
        for i, k, is_suggestion, xy in candidates:
            d = np.hypot(xy[0] - x, xy[1] - y)
            if np.isfinite(d) and d <= radius and (best is None or d < best[0]):
                best = (d, i, k, is_suggestion)
        return None if best is None else best[1:]

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

