"""The ipywidgets side of :class:`kit.labeling.labeler.Labeler`: selector buttons (body
parts, and individuals in a multi-animal project), frame buttons, status.

Kept apart from the labeler's logic so that stays short; the panel only shows
state and calls back the labeler's actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_hex

HELP = (
    "click: place &nbsp; drag: move &nbsp; right click: delete &nbsp; n/p: next/previous "
    "frame &nbsp; u: next unlabeled &nbsp; 1-9, up/down: body part &nbsp; Del: delete "
    "&nbsp; a: accept suggestions &nbsp; c: copy the previous labeled frame's points "
    "&nbsp; toolbar or scroll: zoom and pan"
)
HELP_INDIVIDUALS = (
    "i / shift+i: next/previous individual &nbsp; c: copy the selected individual's points "
    "from the previous frame labeling it, shift+c: every individual's"
)
BUTTON_WIDTH = "170px"


@dataclass(frozen=True)
class Selector:
    """One group of buttons choosing one item (body parts, or individuals).

    Attributes:
        title: the group's heading.
        names: the button labels, in order.
        colors: (len(names), 4) RGBA tints, or None for plain buttons.
        select: called with the index of the clicked button.
    """

    title: str
    names: Sequence[str]
    colors: np.ndarray | None
    select: Callable[[int], None]


def _button(name: str, color) -> widgets.Button:
    style = {} if color is None else {
        "button_color": to_hex(0.55 * np.asarray(color[:3]) + 0.45)}  # light: text stays legible
    return widgets.Button(description=name, layout=widgets.Layout(width=BUTTON_WIDTH), style=style)  # own layout: own border


class Panel:
    """Widgets beside the frame.

    Args:
        selectors: the groups of buttons, e.g. body parts then individuals.
        actions: ``(button label, callback)`` for the frame buttons.
        canvas: the ipympl canvas widget, or None (a non-widget matplotlib backend).
    """

    def __init__(
        self,
        selectors: Sequence[Selector],
        actions: Sequence[tuple[str, Callable[[], None]]],
        canvas: widgets.DOMWidget | None,
    ) -> None:
        self.groups: list[list[widgets.Button]] = []
        side = []
        for selector in selectors:
            colors = [None] * len(selector.names) if selector.colors is None else selector.colors
            buttons = [_button(name, c) for name, c in zip(selector.names, colors)]
            for k, button in enumerate(buttons):
                button.on_click(lambda _, k=k, select=selector.select: select(k))
            self.groups.append(buttons)
            side += [widgets.HTML(f"<b>{selector.title}</b>"), *buttons]
        side.append(widgets.HTML("<b>frames</b>"))
        for label, action in actions:
            side.append(widgets.Button(description=label, layout=widgets.Layout(width=BUTTON_WIDTH)))
            side[-1].on_click(lambda _, action=action: action())
        self.status = widgets.HTML()
        row = widgets.HBox(
            [canvas, widgets.VBox(side)] if canvas is not None else [widgets.VBox(side)],
            layout=widgets.Layout(align_items="flex-start", grid_gap="12px"),
        )
        help_text = HELP + (f"<br>{HELP_INDIVIDUALS}" if len(selectors) > 1 else "")
        self.widget = widgets.VBox([self.status, row, widgets.HTML(f"<small>{help_text}</small>")])

    def update(self, selected: Sequence[int], checked: Sequence[Sequence[bool]],
               status: str) -> None:
        """Show the selected button of each group, check marks, and the status line (HTML)."""
        for buttons, chosen, marks in zip(self.groups, selected, checked):
            for k, button in enumerate(buttons):
                button.icon = "check" if marks[k] else ""
                button.layout.border = "3px solid black" if k == chosen else ""
        self.status.value = status
