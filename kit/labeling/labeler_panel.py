"""The ipywidgets side of :class:`kit.labeling.labeler.Labeler`: body-part buttons, frame buttons, status.

Kept apart from the labeler's logic so that stays short; the panel only shows
state and calls back the labeler's actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_hex

HELP = (
    "click: place &nbsp; drag: move &nbsp; right click: delete &nbsp; n/p: next/previous "
    "frame &nbsp; u: next unlabeled &nbsp; 1-9, up/down: body part &nbsp; Del: delete "
    "&nbsp; a: accept suggestions &nbsp; toolbar or scroll: zoom and pan"
)
BUTTON = widgets.Layout(width="170px")


class Panel:
    """Widgets beside the frame.

    Args:
        bodyparts: names, in order; ``colors`` (K, 4) RGBA, one per body part.
        select: called with a body-part index when its button is clicked.
        actions: ``(button label, callback)`` for the frame buttons.
        canvas: the ipympl canvas widget, or None (a non-widget matplotlib backend).
    """

    def __init__(
        self,
        bodyparts: Sequence[str],
        colors: np.ndarray,
        select: Callable[[int], None],
        actions: Sequence[tuple[str, Callable[[], None]]],
        canvas: widgets.DOMWidget | None,
    ) -> None:
        self.bodyparts = list(bodyparts)
        self.part_buttons = []
        for k, part in enumerate(self.bodyparts):
            tint = to_hex(0.55 * np.asarray(colors[k][:3]) + 0.45)  # light: dark text stays legible
            button = widgets.Button(
                description=f"{k + 1} {part}", layout=BUTTON, style={"button_color": tint}
            )
            button.on_click(lambda _, k=k: select(k))
            self.part_buttons.append(button)
        buttons = []
        for label, action in actions:
            buttons.append(widgets.Button(description=label, layout=BUTTON))
            buttons[-1].on_click(lambda _, action=action: action())
        self.status = widgets.HTML()
        side = widgets.VBox(
            [
                widgets.HTML("<b>body parts</b>"),
                *self.part_buttons,
                widgets.HTML("<b>frames</b>"),
                *buttons,
            ]
        )
        row = widgets.HBox(
            [canvas, side] if canvas is not None else [side],
            layout=widgets.Layout(align_items="flex-start", grid_gap="12px"),
        )
        self.widget = widgets.VBox([self.status, row, widgets.HTML(f"<small>{HELP}</small>")])

    def update(
        self, points: np.ndarray, part: int, where: str, num_labeled: int, message: str
    ) -> None:
        """Show which parts are placed ((K, 2) ``points``), the selected ``part``, and the status."""
        for k, button in enumerate(self.part_buttons):
            button.icon = "check" if np.isfinite(points[k, 0]) else ""
            button.layout.border = "3px solid black" if k == part else ""
        self.status.value = (
            f"{where} &middot; {int(np.isfinite(points[:, 0]).sum())}/{len(self.bodyparts)} parts "
            f"&middot; {num_labeled} frames labeled &middot; selected: <b>{self.bodyparts[part]}</b>"
            f"<br><i>{message or '&nbsp;'}</i>"
        )
