"""The ipywidgets user interface of the clinician explorer.

Every widget that a browser test looks for carries a CSS class (``add_class``): ``xai-banner``,
``xai-task``, ``xai-model``, ``xai-train``, ``xai-upload``, ``xai-error``, ``xai-status``,
``xai-results``, ``xai-prediction``, ``xai-map`` and ``xai-map-<method>``, ``xai-opacity``,
``xai-contrast``, ``xai-download``. The logic lives in :class:`~xai_lab.app.explorer.ExplorerApp`.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .explorer import (
    _CSS,
    BANNER,
    DISPLAY_SIZE,
    METHODS,
    SAMPLE_SOURCES,
    TASKS,
    UPLOAD_EXTENSIONS,
    Case,
    ExplorerApp,
    ExplorerError,
    map_overlay,
)

_PX = f"{DISPLAY_SIZE}px"


def _png(image: np.ndarray) -> bytes:
    from xai_lab.viz import to_png_bytes

    return to_png_bytes(image)


def _show(widget: Any, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


class ExplorerUI:
    """Widgets bound to an :class:`ExplorerApp`; ``root`` is the whole page."""

    def __init__(self, app: ExplorerApp) -> None:
        import ipywidgets as w

        self.app = app
        self._busy = False
        self._contrast_paused = False
        self.css = w.HTML(_CSS)
        self.banner = w.HTML(html.escape(BANNER)).add_class("xai-banner")
        self.title = w.HTML("<h2 style='margin:4px 0'>XAI Lab explorer</h2>"
                            "<div class='xai-note'>Choose a model, upload an image or pick a "
                            "sample, and see what the model predicts and which pixels drove it."
                            "</div>")
        self.task = w.Dropdown(
            options=[(spec["title"], key) for key, spec in TASKS.items()],
            description="Task", layout=w.Layout(width="360px"),
        ).add_class("xai-task")
        self.model_menu = w.Dropdown(
            options=[], description="Model", layout=w.Layout(width="560px")
        ).add_class("xai-model")
        self.model_info = w.HTML().add_class("xai-model-info")
        self.train_button = w.Button(
            description="Train the default model", button_style="primary",
            layout=w.Layout(width="260px"),
        ).add_class("xai-train")
        self.train_progress = w.IntProgress(
            value=0, min=0, max=1, description="Epochs", layout=w.Layout(width="360px")
        ).add_class("xai-train-progress")
        self.train_status = w.HTML().add_class("xai-train-status")
        self.train_box = w.VBox([
            w.HTML("<div class='xai-note'>No model for this task in the models folder yet. "
                   "Train the default recipe (a few minutes on a laptop):</div>"),
            w.HBox([self.train_button, self.train_progress]),
            self.train_status,
        ])
        self.upload = w.FileUpload(
            accept=",".join(UPLOAD_EXTENSIONS), multiple=False,
            description="Upload image", layout=w.Layout(width="180px"),
        ).add_class("xai-upload")
        self.sample_source = w.Dropdown(
            options=[(v, k) for k, v in SAMPLE_SOURCES.items()], layout=w.Layout(width="230px")
        ).add_class("xai-sample-source")
        self.sample_index = w.BoundedIntText(
            value=0, min=0, max=100_000, description="#", layout=w.Layout(width="130px")
        ).add_class("xai-sample-index")
        self.sample_button = w.Button(description="Show sample").add_class("xai-sample")
        self.inputs = w.HBox([
            self.upload, w.HTML("&nbsp;or&nbsp;"), self.sample_source, self.sample_index,
            self.sample_button,
        ]).add_class("xai-inputs")
        self.error = w.HTML().add_class("xai-error")
        self.status = w.HTML().add_class("xai-status")

        self.prediction = w.HTML(layout=w.Layout(width="640px")).add_class("xai-prediction")
        self.original = w.Image(format="png", layout=w.Layout(width=_PX, height=_PX))
        self.original.add_class("xai-original")
        self.map_images: dict[str, Any] = {}
        self.map_titles: dict[str, Any] = {}
        self.map_notes: dict[str, Any] = {}
        columns = [w.VBox([w.HTML("<div class='xai-map-title'>Image</div>"), self.original],
                          layout=w.Layout(width="236px"))]
        for method in app.methods:
            image = w.Image(format="png", layout=w.Layout(width=_PX, height=_PX))
            image.add_class("xai-map").add_class(f"xai-map-{method}")
            title = w.HTML(f"<div class='xai-map-title'>{html.escape(METHODS.get(method, method))}</div>",
                           layout=w.Layout(width=_PX))
            note = w.HTML(layout=w.Layout(width=_PX)).add_class(f"xai-map-note-{method}")
            self.map_images[method], self.map_titles[method] = image, title
            self.map_notes[method] = note
            columns.append(w.VBox([title, image, note], layout=w.Layout(width="236px")))
        self.maps = w.HBox(columns, layout=w.Layout(width=f"{236 * len(columns) + 8}px",
                                                    flex_flow="row wrap")).add_class("xai-maps")
        self.alpha = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Opacity",
            continuous_update=False, readout_format=".2f", layout=w.Layout(width="360px"),
        ).add_class("xai-opacity")
        self.contrast_a = w.Dropdown(description="Why", layout=w.Layout(width="300px"))
        self.contrast_b = w.Dropdown(description="rather than", layout=w.Layout(width="300px"))
        self.contrast_method = w.Dropdown(
            options=[(METHODS.get(m, m), m) for m in app.methods], description="using",
            layout=w.Layout(width="240px"),
        )
        self.contrast_image = w.Image(format="png", layout=w.Layout(width=_PX, height=_PX))
        self.contrast_image.add_class("xai-contrast-map")
        self.contrast_note = w.HTML(layout=w.Layout(width="420px"))
        self.contrast = w.VBox([
            w.HTML("<b>Contrast</b> — why this class rather than that one?"),
            w.HBox([self.contrast_a, self.contrast_b, self.contrast_method]),
            w.HBox([self.contrast_image, self.contrast_note]),
        ]).add_class("xai-contrast")
        self.download = w.HTML().add_class("xai-download")
        self.results = w.VBox([
            self.prediction, self.maps, self.alpha, self.contrast, self.download,
        ]).add_class("xai-results")
        _show(self.results, False)
        _show(self.error, False)
        _show(self.train_box, False)
        _show(self.train_progress, False)

        self.root = w.VBox([
            self.css, self.banner, self.title, w.HBox([self.task]), self.model_menu,
            self.model_info, self.train_box, self.inputs, self.error, self.status, self.results,
        ], layout=w.Layout(width="980px")).add_class("xai-app")

        self._start()
        self.task.observe(self._on_task, names="value")
        self.model_menu.observe(self._on_model, names="value")
        self.train_button.on_click(self._on_train)
        self.upload.observe(self._on_upload, names="value")
        self.sample_button.on_click(self._on_sample)
        self.alpha.observe(self._on_alpha, names="value")
        for widget in (self.contrast_a, self.contrast_b, self.contrast_method):
            widget.observe(self._on_contrast, names="value")

    # ------------------------------------------------------------------ messages
    def show_error(self, message: str) -> None:
        """Show a message in the page and hide the (now stale) results."""
        self.error.value = f"<b>Cannot show this image.</b> {html.escape(message)}"
        _show(self.error, True)
        _show(self.results, False)
        self.status.value = ""

    def clear_error(self) -> None:
        self.error.value = ""
        _show(self.error, False)

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.upload, self.sample_button, self.sample_source, self.sample_index):
            widget.disabled = not enabled

    # ------------------------------------------------------------------ models
    def _start(self) -> None:
        entries = self.app.find_models()
        known = [e.task for e in entries if e.task]
        if known:
            self.task.value = known[0]
        self._refresh_models()

    def _refresh_models(self) -> None:
        entries = self.app.find_models(self.task.value)
        self._entries = {str(e.path): e for e in entries}
        self.model_menu.options = [(e.label(), str(e.path)) for e in entries]
        _show(self.train_box, not entries)
        _show(self.model_menu, bool(entries))
        if entries:
            self.model_menu.value = str(entries[0].path)
            self._select(str(entries[0].path))
        else:
            self.app.entry, self.app.model, self.app.case = None, None, None
            self.model_info.value = (
                f"<div class='xai-note'>No model for {html.escape(TASKS[self.task.value]['title'])}"
                f" in {html.escape(str(self.app.models_dir))}.</div>"
            )
            self._set_inputs_enabled(False)
            _show(self.results, False)

    def _select(self, key: str | None) -> None:
        if key is None or key not in self._entries:
            return
        entry = self.app.entry
        if entry is None or str(entry.path) != key or self.app.model is None:
            self.status.value = "<span class='xai-note'>Loading the model…</span>"
            try:
                entry = self.app.select_model(self._entries[key])
            except ExplorerError as exc:
                self.show_error(str(exc))
                self._set_inputs_enabled(False)
                return
        self.status.value = ""
        self.clear_error()
        self.model_info.value = entry.summary_html()
        _show(self.results, False)
        self._set_inputs_enabled(True)

    def _on_task(self, change: dict[str, Any]) -> None:
        self.clear_error()
        self._refresh_models()

    def _on_model(self, change: dict[str, Any]) -> None:
        self._select(change["new"])

    def _on_train(self, _button: Any) -> None:
        task = self.task.value
        self.train_button.disabled = True
        self.task.disabled = True
        _show(self.train_progress, True)
        self.train_progress.value = 0
        self.train_progress.bar_style = "info"
        self.train_status.value = "<span class='xai-note'>Loading data and training…</span>"

        def on_epoch(epoch: int, total: int, logs: dict[str, Any]) -> None:
            self.train_progress.max = max(1, total)
            self.train_progress.value = min(epoch, total)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in logs.items()
                              if isinstance(v, (int, float)) and k in
                              ("loss", "accuracy", "val_loss", "val_accuracy", "val_auc"))
            self.train_status.value = (f"<span class='xai-note'>Epoch {epoch}/{total} "
                                       f"{html.escape(shown)}</span>")

        try:
            entry = self.app.train_default_model(task, on_epoch)
        except Exception as exc:  # noqa: BLE001 - any failure is shown, the page stays usable
            self.train_status.value = ""
            self.show_error(f"Training failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self.train_button.disabled = False
            self.task.disabled = False
        self.train_progress.bar_style = "success"
        self.train_status.value = f"<span class='xai-note'>Trained {html.escape(entry.name)}.</span>"
        self._refresh_models()
        if str(entry.path) in self._entries:
            self.model_menu.value = str(entry.path)

    # ------------------------------------------------------------------ inputs
    def _run(self, work: Any) -> None:
        """Run an analysis, showing its result or its error; the page stays usable."""
        if self._busy:
            return
        self._busy = True
        self._set_inputs_enabled(False)
        self.clear_error()
        _show(self.results, False)
        self.status.value = "<span class='xai-note'>Analysing…</span>"
        try:
            case = work()
            self.render(case)
            self.status.value = ""
        except ExplorerError as exc:
            self.show_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - unexpected failures too leave the app usable
            self.show_error(f"Unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self._busy = False
            self._set_inputs_enabled(self.app.model is not None)

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        name, content = str(item.get("name", "upload")), item.get("content", b"")
        try:
            self._run(lambda: self.app.handle_upload(name, content))
        finally:
            self.upload.value = ()  # so that the same file can be uploaded again

    def _on_sample(self, _button: Any) -> None:
        def work() -> Case:
            self.app._require_model()
            image, name, label = self.app.sample(self.sample_source.value, self.sample_index.value)
            return self.app.analyse(image, name, true_label=label)

        self._run(work)

    # ------------------------------------------------------------------ results
    def render(self, case: Case) -> None:
        from xai_lab.app.explorer import display_image

        self.prediction.value = self.app.prediction_html(case)
        self.original.value = _png(display_image(case))
        options = [(case.class_name(k), k) for k in range(len(case.probabilities))]
        ranked = case.ranked()
        runner_up = next(k for k in ranked if k != case.predicted) if len(ranked) > 1 else None
        self._contrast_paused = True
        try:
            self.contrast_a.options = options
            self.contrast_b.options = options
            self.contrast_a.value = case.predicted
            if runner_up is not None:
                self.contrast_b.value = runner_up
        finally:
            self._contrast_paused = False
        self._draw_maps(case)
        _show(self.results, True)

    def _draw_maps(self, case: Case) -> None:
        alpha = float(self.alpha.value)
        images = self.app.overlays(case, alpha)
        for method, widget in self.map_images.items():
            if method in images:
                widget.value = _png(images[method])
                _show(widget, True)
                e = case.explanations[method]
                self.map_notes[method].value = (
                    f"<div class='xai-note'>{html.escape(e.note(0, case.label_names))}</div>"
                    if e.flagged[0] else "")
            else:
                _show(widget, False)
                reason = case.failures.get(method, "not computed")
                self.map_notes[method].value = (
                    f"<div class='xai-note'>Unavailable: {html.escape(reason)}</div>")
        self._draw_contrast(case)

    def _contrast_choice(self, case: Case) -> tuple[int, int, str] | None:
        a, b, method = self.contrast_a.value, self.contrast_b.value, self.contrast_method.value
        if a is None or b is None or a == b or method not in case.explanations:
            return None
        return int(a), int(b), method

    def _draw_contrast(self, case: Case) -> None:
        choice = self._contrast_choice(case)
        alpha = float(self.alpha.value)
        if choice is None:
            _show(self.contrast_image, False)
            method = self.contrast_method.value
            why = (f"{METHODS.get(method, method)} is unavailable for this image."
                   if method not in case.explanations else "Choose two different classes.")
            self.contrast_note.value = f"<div class='xai-note'>{html.escape(why)}</div>"
        else:
            a, b, method = choice
            diff = self.app.contrast(case, a, b, method)
            self.contrast_image.value = _png(map_overlay(case, diff, alpha, cmap="RdBu_r"))
            _show(self.contrast_image, True)
            self.contrast_note.value = (
                f"<div class='xai-note'>{html.escape(METHODS.get(method, method))} map of "
                f"<b>{html.escape(case.class_name(a))}</b> minus that of "
                f"<b>{html.escape(case.class_name(b))}</b>. Red: regions that count more for "
                f"{html.escape(case.class_name(a))}; blue: more for "
                f"{html.escape(case.class_name(b))}.</div>"
            )
        self.download.value = self.app.report_link_html(case, alpha, choice)

    def _on_alpha(self, change: dict[str, Any]) -> None:
        if self.app.case is not None and self.results.layout.display != "none":
            self._draw_maps(self.app.case)

    def _on_contrast(self, change: dict[str, Any]) -> None:
        if self._contrast_paused or self.app.case is None:
            return
        try:
            self._draw_contrast(self.app.case)
        except ExplorerError as exc:
            self.contrast_note.value = f"<div class='xai-note'>{html.escape(str(exc))}</div>"
