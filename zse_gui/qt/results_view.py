"""The result grid: thumbnails with rank, score, label, re-rank movement and a zero-shot badge."""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import (
    QGraphicsOpacityEffect,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from zse_gui.qt.state import class_seen
from zse_gui.results import RankedItem, RetrievalResult
from zse_gui.viz.strokes import TARGET_RGB

__all__ = ["ResultsView", "movement_text"]

log = logging.getLogger(__name__)

THUMB = 104
TILE = QSize(THUMB + 24, THUMB + 52)
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
UNSEEN_ROLE = Qt.ItemDataRole.UserRole + 2
STAGE_ROLE = Qt.ItemDataRole.UserRole + 3
TARGET_ROLE = Qt.ItemDataRole.UserRole + 4  # the photo a replay follows (outlined)
TARGET_COLOUR = "#{:02x}{:02x}{:02x}".format(*TARGET_RGB)  # as in the Strokes tab's replay frames


def movement_text(item: RankedItem, reranked: bool, top_k: int) -> tuple[str, str]:
    """How re-ranking moved an item, as (text, colour name).

    ``"▲3"`` moved up three places, ``"▼2"`` down, ``"="`` kept its place, ``"new"`` entered the
    top-k from below it (``"▲12 new"``); ``""`` before re-ranking.
    """
    if not reranked:
        return "", "gray"
    if item.stage1_rank >= top_k:
        return f"▲{item.moved} new", "#1b7f3b"
    if item.moved > 0:
        return f"▲{item.moved}", "#1b7f3b"
    if item.moved < 0:
        return f"▼{-item.moved}", "#b3261e"
    return "=", "gray"


REPLAY_CLICK_HINT = (
    "<i>This ranking is a replay and picks nothing: stop the replay in the Strokes tab, or draw, to "
    "get back to the results.</i>"
)


class _ThumbCache:
    """Scaled thumbnails by path, least recently used dropped first."""

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, QPixmap] = OrderedDict()

    def get(self, path: str) -> QPixmap:
        pm = self._items.get(path)
        if pm is not None:
            self._items.move_to_end(path)
            return pm
        reader = QImageReader(path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and size.width() > 0 and size.height() > 0:
            # decode at thumbnail size: far cheaper than loading a large photo and scaling it
            reader.setScaledSize(size.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
        img = reader.read()
        if img.isNull():
            log.debug("no thumbnail for %s: %s", path, reader.errorString())
            pm = QPixmap()
        else:
            pm = QPixmap.fromImage(img)
        self._items[path] = pm
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return pm


class _TileDelegate(QStyledItemDelegate):
    """Paints one result tile: thumbnail, '#rank label', 'score movement' and a zero-shot badge
    (and, in a replay, an outline on the photo the replay follows)."""

    def __init__(self, view: ResultsView, grid: QListWidget) -> None:
        super().__init__(view)
        self._view = view
        self._grid = grid

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return TILE

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        item: RankedItem | None = index.data(ITEM_ROLE)
        if item is None:
            return
        painter.save()
        rect: QRect = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, QColor("#dbe8ff") if selected else QColor("white"))
        painter.setPen(QColor("#2f6fde") if selected else QColor("#d0d0d0"))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        pm = self._view.thumbs.get(item.path)
        thumb_rect = QRect(rect.x() + (rect.width() - THUMB) // 2, rect.y() + 4, THUMB, THUMB)
        if not pm.isNull():
            x = thumb_rect.x() + (THUMB - pm.width()) // 2
            y = thumb_rect.y() + (THUMB - pm.height()) // 2
            painter.drawPixmap(x, y, pm)
        else:
            painter.setPen(QColor("gray"))
            painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, "no preview")
        name = item.label or Path(item.path).name
        text_rect = QRect(rect.x() + 4, thumb_rect.bottom() + 3, rect.width() - 8, 16)
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        painter.setFont(font)
        painter.setPen(QColor("#202020"))
        fm = painter.fontMetrics()
        painter.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(f"#{item.final_rank + 1} {name}", Qt.TextElideMode.ElideRight, text_rect.width()),
        )
        score_rect = text_rect.translated(0, 16)
        reranked = bool(index.data(STAGE_ROLE))
        score = (
            f"RN {item.rn_score:.3f}"
            if reranked and item.rn_score is not None
            else f"cos {item.ret_score:.3f}"
        )
        painter.setPen(QColor("#404040"))
        painter.drawText(score_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, score)
        move, colour = movement_text(item, reranked, self._grid.count())
        if move:
            painter.setPen(QColor(colour))
            painter.drawText(
                score_rect,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(move, Qt.TextElideMode.ElideLeft, score_rect.width() // 2),
            )
        if index.data(UNSEEN_ROLE):
            badge = QRect(thumb_rect.x(), thumb_rect.y(), 62, 15)
            painter.fillRect(badge, QColor(120, 40, 140, 215))
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "zero-shot")
        if index.data(TARGET_ROLE):
            pen = painter.pen()
            pen.setColor(QColor(TARGET_COLOUR))
            pen.setWidth(3)
            painter.setPen(pen)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
            tag = QRect(thumb_rect.right() - 44, thumb_rect.y(), 44, 15)
            painter.fillRect(tag, QColor(TARGET_COLOUR))
            painter.setPen(QColor("white"))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, "target")
        painter.restore()


class ResultsView(QWidget):
    """Ranked thumbnails of the gallery for the current sketch.

    Two pages: the real ranking (``list``) and, while a stroke replay plays, a read-only replay
    grid (``replay_list``) that shows the ranking after the replayed stroke. The real page is never
    touched by a replay: a ranking, message or selection set during one lands on it unseen and
    is on show again, exactly as left, when the replay ends.

    Signals:
        result_selected(RankedItem): the user picked a result to explain.
    """

    result_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbs = _ThumbCache()
        self.top_k = 0
        self.stale = False
        self.result: RetrievalResult | None = None
        self.list = self._make_list("resultsList", "Retrieval results")
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        # Whether the selection is the user's pick (a click, the keyboard, a reopened session) or
        # the app's (#1 selected when a ranking arrives): only a pick follows its photo into the
        # next ranking; otherwise the next ranking's #1 is explained.
        self.user_chose = False
        self.list.currentItemChanged.connect(self._on_list_current_changed)
        self.list.itemClicked.connect(self._on_list_item_clicked)
        self._dim = QGraphicsOpacityEffect(self.list)  # the tiles are painted by hand: fade them
        self._dim.setOpacity(0.35)
        self._dim.setEnabled(False)
        self.list.setGraphicsEffect(self._dim)
        self.message = QLabel("Draw a sketch to search the gallery.", self)
        self.message.setObjectName("resultsMessage")
        self.message.setWordWrap(True)
        real = QWidget(self)
        layout = QVBoxLayout(real)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.list, 1)
        # the replay page: what the ranking was after stroke k (not selectable: it is not current)
        self.replay_list = self._make_list("replayResultsList", "Replayed results")
        self.replay_list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.replay_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.replay_message = QLabel(self)
        self.replay_message.setObjectName("replayMessage")
        self.replay_message.setWordWrap(True)
        self.replay_message.setTextFormat(Qt.TextFormat.RichText)
        self.replay_message.setStyleSheet(f"color: {TARGET_COLOUR};")
        self._replay_text = ""
        # Room for the frame's two lines and the click hint: the grid under it stays put while
        # the text changes from stroke to stroke.
        self.replay_message.setMinimumHeight(4 * self.replay_message.fontMetrics().lineSpacing())
        self.replay_message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # A click on a replayed tile picks nothing (that ranking is not current): say so.
        self.replay_list.itemClicked.connect(self._on_replay_item_clicked)
        replay = QWidget(self)
        rlay = QVBoxLayout(replay)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(self.replay_message)
        rlay.addWidget(self.replay_list, 1)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(real)
        self.pages.addWidget(replay)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.pages)

    def _make_list(self, name: str, accessible: str) -> QListWidget:
        grid = QListWidget(self)
        grid.setObjectName(name)
        grid.setViewMode(QListView.ViewMode.IconMode)
        grid.setResizeMode(QListView.ResizeMode.Adjust)
        grid.setMovement(QListView.Movement.Static)
        grid.setUniformItemSizes(True)
        grid.setGridSize(TILE)
        grid.setSpacing(0)
        grid.setWrapping(True)
        grid.setItemDelegate(_TileDelegate(self, grid))
        grid.setAccessibleName(accessible)
        return grid

    # ---- the replay page
    @property
    def replaying(self) -> bool:
        """Whether the replay page is on show."""
        return self.pages.currentIndex() == 1

    def show_replay(
        self, result: RetrievalResult | None, target: int, text: str, seen: frozenset[str] | None = None
    ) -> None:
        """Show a replayed ranking (None: no ink yet) with gallery item ``target`` outlined."""
        self.replay_list.clear()
        reranked = result is not None and result.mode != "ret"
        for item in result.items if result is not None else ():
            w = self._tile(item, reranked, seen)
            w.setData(TARGET_ROLE, item.index == target)
            self.replay_list.addItem(w)
        self._replay_text = text
        self.replay_message.setText(text)
        self.pages.setCurrentIndex(1)

    def _on_replay_item_clicked(self, _item: QListWidgetItem) -> None:
        self.replay_message.setText(
            (self._replay_text + "<br>" if self._replay_text else "") + REPLAY_CLICK_HINT
        )

    def end_replay(self) -> None:
        """Back to the real ranking, as it was left (or as it arrived meanwhile)."""
        self.pages.setCurrentIndex(0)
        self.replay_list.clear()

    def set_message(self, text: str) -> None:
        """A line above the grid: hints, 'searching...', or an error."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_stale(self, stale: bool) -> None:
        """Dim the grid (and refuse clicks) while it shows results of an earlier sketch."""
        self.stale = stale
        self.list.setEnabled(not stale)
        self._dim.setEnabled(stale)

    def set_results(
        self, result: RetrievalResult | None, seen: frozenset[str] | None = None, stale: bool = False
    ) -> None:
        """Show a ranking from the top, keeping the user's picked gallery item selected when it is
        still listed (without scrolling to it: a new ranking is read from its first tile); a
        selection the app made (#1 of the previous ranking) is dropped, so #1 is explained again.

        Args:
            result: the ranking, or None to empty the grid.
            seen: canonical names of the classes the model was trained on; other labels get a
                "zero-shot" badge (None = unknown).
            stale: the ranking belongs to an earlier sketch (see ``set_stale``).
        """
        prev = self.selected_item()
        self.result = result
        self.list.blockSignals(True)
        self.list.clear()
        self.top_k = len(result.items) if result is not None else 0
        reranked = result is not None and result.mode != "ret"
        keep_row = -1
        for row, item in enumerate(result.items if result is not None else ()):
            self.list.addItem(self._tile(item, reranked, seen))
            # the app's own selection stays only while its photo is still #1, or while a replay of
            # its drawing is on show (switching would end the replay the user is watching)
            follow = self.user_chose or row == 0 or self.replaying
            if prev is not None and item.index == prev.index and follow:
                keep_row = row
        if keep_row >= 0:
            self.list.setCurrentRow(keep_row)
        self.list.blockSignals(False)
        self.list.scrollToTop()  # setCurrentRow scrolled to the kept tile
        self.set_stale(stale)
        self._refresh_tooltip()

    def _tile(self, item: RankedItem, reranked: bool, seen: frozenset[str] | None) -> QListWidgetItem:
        w = QListWidgetItem()
        w.setData(ITEM_ROLE, item)
        w.setData(STAGE_ROLE, reranked)
        w.setData(UNSEEN_ROLE, bool(seen is not None and item.label and not class_seen(item.label, seen)))
        name = item.label or Path(item.path).name
        w.setToolTip(self._tooltip(item, reranked, seen))
        w.setData(Qt.ItemDataRole.AccessibleTextRole, f"rank {item.final_rank + 1}: {name}")
        return w

    def _refresh_tooltip(self) -> None:
        """A tooltip left open over the grid describes the tile now under the mouse, or closes."""
        if not QToolTip.isVisible():
            return
        pos = self.list.viewport().mapFromGlobal(QCursor.pos())
        under = self.list.itemAt(pos)
        if under is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(QCursor.pos(), under.toolTip(), self.list.viewport())

    def _tooltip(self, item: RankedItem, reranked: bool, seen: frozenset[str] | None) -> str:
        lines = [item.path, f"[Ret] cosine {item.ret_score:.4f} (stage-1 rank {item.stage1_rank + 1})"]
        if reranked and item.rn_score is not None:
            lines.append(f"relation score {item.rn_score:.4f} (final rank {item.final_rank + 1})")
        if seen is not None and item.label:
            lines.append(
                "class seen in training"
                if class_seen(item.label, seen)
                else "class NOT seen in training (zero-shot)"
            )
        return "\n".join(lines)

    def items(self) -> tuple[RankedItem, ...]:
        return self.result.items if self.result is not None else ()

    def selected_item(self) -> RankedItem | None:
        cur = self.list.currentItem()
        item: RankedItem | None = cur.data(ITEM_ROLE) if cur is not None else None
        return item

    def select_row(self, row: int, chosen: bool = True) -> None:
        """Select a result by row (emits ``result_selected``); ``chosen=False`` for the app's own
        choice (see ``user_chose``)."""
        self.list.setCurrentRow(row)
        self.user_chose = chosen

    def _on_list_current_changed(
        self, current: QListWidgetItem | None, previous: QListWidgetItem | None
    ) -> None:
        if current is not None:
            self.user_chose = True  # a click or the keyboard; select_row says whose choice it was
            self.result_selected.emit(current.data(ITEM_ROLE))

    def _on_list_item_clicked(self, _item: QListWidgetItem) -> None:
        self.user_chose = True  # a click on the tile the app had selected pins it too
