// The mlengine web console: fills the server-rendered page shells by calling the server's REST
// API (the same calls as any client), so every rule and every refusal is the API's own.
//
// Safety: API data is only ever inserted as text nodes or attribute values (el() below); no
// innerHTML. Access: when a call answers 401 the page asks for the API token, keeps it in
// sessionStorage (this tab only) and sends it as "Authorization: Bearer <token>".
"use strict";

(() => {
  const API = "/v1/projects/local";
  const TOKEN_KEY = "mlengine.apiToken";
  const FINAL_JOB_STATES = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
  const BUSY_VERSION_STATES = new Set(["CREATING", "DELETING"]);
  const POLL_MS = 1000;
  const LOG_LINES = 200;

  // ------------------------------------------------------------------ DOM helpers

  const $ = (selector) => document.querySelector(selector);

  /** An element; attributes by name ("on<event>" adds a listener), children as text or nodes. */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : String(child)); // strings become text nodes
    }
    return node;
  }

  const enc = encodeURIComponent;
  /** "projects/p/models/m/versions/v" -> "v". */
  const baseName = (name) => String(name).split("/").pop();
  const dash = (value) => (value === undefined || value === null || value === "" ? "–" : value);

  /** An RFC 3339 time as "2026-11-01 12:34:56 UTC" in a <time> element. */
  function time(value) {
    if (!value) return "–";
    const shown = String(value).replace("T", " ").replace(/\.\d+/, "").replace(/Z$/, " UTC");
    return el("time", { datetime: value }, shown);
  }

  /** A value as Python's str() prints it (the CLI's table cells): lists as ['a', 0.5]. */
  function pyRepr(value) {
    if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
    if (typeof value === "string")
      return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
    if (value === null || value === undefined) return "None";
    if (typeof value === "boolean") return value ? "True" : "False";
    if (typeof value === "object") {
      return `{${Object.entries(value)
        .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
        .join(", ")}}`;
    }
    return String(value);
  }
  const pyStr = (value) => (typeof value === "string" ? value : pyRepr(value));

  // ------------------------------------------------------------------ messages

  function showError(error) {
    const box = $("#error");
    box.textContent = error instanceof Error ? error.message : String(error);
    box.hidden = false;
    $("#notice").textContent = "";
  }

  function notify(text) {
    clearError();
    $("#notice").textContent = text;
  }

  function clearError() {
    const box = $("#error");
    box.hidden = true;
    box.textContent = "";
  }

  /** Run an action from a button or form: errors are shown, never swallowed. */
  function guarded(action) {
    return async (event) => {
      if (event && event.type === "submit") event.preventDefault();
      try {
        await action(event);
      } catch (error) {
        showError(error);
      }
    };
  }

  // ------------------------------------------------------------------ API calls and the token

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  let tokenRequest = null;

  /** Show the token form; resolves once the person submitted a token. */
  function askForToken(message) {
    if (tokenRequest) return tokenRequest;
    tokenRequest = new Promise((resolve) => {
      const form = $("#token-form");
      const input = $("#token-input");
      $("#token-message").textContent = message;
      input.value = "";
      form.hidden = false;
      input.focus();
      form.onsubmit = (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        input.value = "";
        form.hidden = true;
        $("#forget-token").hidden = false;
        tokenRequest = null;
        resolve();
      };
    });
    return tokenRequest;
  }

  /** Call the REST API; answers the parsed JSON or throws ApiError with the API's message. */
  async function api(method, path, body) {
    for (;;) {
      const headers = { Accept: "application/json" };
      const token = sessionStorage.getItem(TOKEN_KEY);
      if (token) headers.Authorization = `Bearer ${token}`;
      const init = { method, headers };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const response = await fetch(path, init);
      let data = null;
      try {
        data = await response.json();
      } catch {
        data = null;
      }
      // Prediction routes answer {"error": "..."}, management routes Google's
      // {"error": {"code", "message", "status"}}.
      const error = data ? data.error : null;
      const message =
        typeof error === "string" ? error : error && typeof error.message === "string" ? error.message : null;
      if (response.status === 401) {
        await askForToken(message || "This server needs an API token.");
        continue;
      }
      if (!response.ok) {
        throw new ApiError(message || `${response.status} ${response.statusText}`, response.status);
      }
      return data || {};
    }
  }

  /** Call fn now and every POLL_MS while it answers true; errors stop the polling. */
  function poll(fn, interval = POLL_MS) {
    let stopped = false;
    const tick = async () => {
      if (stopped) return;
      let again = false;
      try {
        again = await fn();
      } catch (error) {
        showError(error);
      }
      if (again && !stopped) setTimeout(tick, interval);
    };
    tick();
    return () => {
      stopped = true;
    };
  }

  const modelPath = (model) => `${API}/models/${enc(model)}`;
  const versionPath = (model, version) => `${modelPath(model)}/versions/${enc(version)}`;


  // ------------------------------------------------------------------ tables that fit a phone

  /** Give each body cell its column's header as data-label: on a narrow screen the stylesheet
   * shows a table of class "stack" as one card per row, each cell labelled. */
  function labelCells(table) {
    const heads = [...table.tHead.rows[0].cells].map((cell) => cell.textContent);
    for (const row of table.tBodies[0].rows) {
      [...row.cells].forEach((cell, i) => {
        if (heads[i]) cell.setAttribute("data-label", heads[i]);
      });
    }
  }

  /** Replace a table's body rows, then label its cells. */
  function fillBody(table, rows) {
    table.tBodies[0].replaceChildren(...rows);
    labelCells(table);
  }

  // ------------------------------------------------------------------ charts (SVG, by hand)
  //
  // Every chart is an SVG drawn here: no library, nothing from outside, no inline style (the
  // CSP forbids it; colours come from classes in console.css). Each drawn series keeps the
  // numbers it shows as data-x / data-y (space-separated), each bar as data-name / data-value,
  // so what a chart shows can be read back from the page.

  const SVG_NS = "http://www.w3.org/2000/svg";
  const WIDTH = 360;
  const HEIGHT = 250;
  const MARGIN = { left: 50, right: 14, top: 12, bottom: 42 };
  const MAX_MARKERS = 40;

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child !== undefined && child !== null)
        node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  /** A number as a tick or a legend shows it: at most 4 significant digits. */
  function short(value) {
    if (!Number.isFinite(value)) return String(value);
    if (value !== 0 && (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3))
      return value.toExponential(2);
    return String(Number(value.toPrecision(4)));
  }

  /** About `count` round tick values covering [lo, hi]. */
  function ticks(lo, hi, count = 5) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / count;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
      out.push(Number(v.toPrecision(12)));
    return out;
  }

  /** [lo, hi] of the values, widened a little (or around a single value). */
  function extent(values, pad = 0.05) {
    const finite = values.filter(Number.isFinite);
    if (!finite.length) return [0, 1];
    let lo = Math.min(...finite);
    let hi = Math.max(...finite);
    if (lo === hi) {
      const d = Math.abs(lo) * 0.1 || 1;
      return [lo - d, hi + d];
    }
    const d = (hi - lo) * pad;
    return [lo - d, hi + d];
  }

  function figure(key, title, caption, chart, legendItems) {
    const legend = legendItems.length
      ? el(
          "ul",
          { class: "legend" },
          legendItems.map(({ name, colour, dashed }) =>
            el(
              "li",
              {},
              el("span", { class: `swatch swatch-${colour % 6}${dashed ? " dashed" : ""}`, "aria-hidden": "true" }),
              name,
            ),
          ),
        )
      : null;
    return el(
      "figure",
      { class: "chart", "data-chart": key },
      el("figcaption", {}, el("strong", {}, title), caption ? [" ", caption] : []),
      chart,
      legend,
    );
  }

  /** Axes, ticks and labels into `root`; answers the x and y scales. */
  function axes(root, xDomain, yDomain, xLabel, yLabel, xCategories) {
    const [x0, x1] = xDomain;
    const [y0, y1] = yDomain;
    const left = MARGIN.left;
    const right = WIDTH - MARGIN.right;
    const top = MARGIN.top;
    const bottom = HEIGHT - MARGIN.bottom;
    const sx = (v) => left + ((v - x0) / (x1 - x0 || 1)) * (right - left);
    const sy = (v) => bottom - ((v - y0) / (y1 - y0 || 1)) * (bottom - top);
    const xTicks = xCategories ? xCategories.map((_, i) => i) : ticks(x0, x1);
    for (const v of ticks(y0, y1)) {
      root.append(
        svg("line", { class: "grid", x1: left, x2: right, y1: sy(v), y2: sy(v) }),
        svg("text", { class: "tick", x: left - 5, y: sy(v) + 3.5, "text-anchor": "end" }, short(v)),
      );
    }
    for (const v of xTicks) {
      root.append(
        svg("line", { class: "grid", x1: sx(v), x2: sx(v), y1: top, y2: bottom }),
        svg(
          "text",
          { class: "tick", x: sx(v), y: bottom + 14, "text-anchor": "middle" },
          xCategories ? String(xCategories[v]).slice(0, 10) : short(v),
        ),
      );
    }
    root.append(
      svg("rect", { class: "frame", x: left, y: top, width: right - left, height: bottom - top }),
      svg("text", { class: "axis-label", x: (left + right) / 2, y: HEIGHT - 6, "text-anchor": "middle" }, xLabel),
      svg(
        "text",
        {
          class: "axis-label",
          x: 0,
          y: 0,
          "text-anchor": "middle",
          transform: `translate(12 ${(top + bottom) / 2}) rotate(-90)`,
        },
        yLabel,
      ),
    );
    return [sx, sy];
  }

  /**
   * A line (or scatter) chart as a <figure>.
   * series: [{name, x: [...], y: [...], markers?: bool, line?: bool}]; options: key, title,
   * caption, xLabel, yLabel, xDomain, yDomain, diagonal (the y = x line), xCategories.
   */
  function lineChart(options) {
    const { key, title, caption, xLabel, yLabel, series } = options;
    const xs = series.flatMap((s) => s.x);
    const ys = series.flatMap((s) => s.y);
    const xDomain = options.xDomain || (options.xCategories ? [-0.5, options.xCategories.length - 0.5] : extent(xs));
    const yDomain = options.yDomain || extent(ys);
    const root = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `${title}: ${yLabel} by ${xLabel}`,
    });
    const [sx, sy] = axes(root, xDomain, yDomain, xLabel, yLabel, options.xCategories);
    if (options.diagonal) {
      const lo = Math.max(xDomain[0], yDomain[0]);
      const hi = Math.min(xDomain[1], yDomain[1]);
      root.append(svg("line", { class: "diagonal", x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi) }));
    }
    series.forEach((s, i) => {
      const group = svg("g", {
        class: `series series-${(s.colour ?? i) % 6}${s.dashed ? " dashed" : ""}`,
        "data-series": s.name,
        "data-x": s.x.join(" "),
        "data-y": s.y.join(" "),
      });
      const points = s.x.map((x, j) => [x, s.y[j]]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      if (s.line !== false && points.length > 1) {
        group.append(
          svg("polyline", {
            points: points.map(([x, y]) => `${sx(x).toFixed(2)},${sy(y).toFixed(2)}`).join(" "),
          }),
        );
      }
      if (s.markers || s.line === false || points.length <= 1) {
        const shown = points.length > MAX_MARKERS && s.line !== false ? [] : points;
        for (const [x, y] of shown) {
          group.append(
            svg(
              "circle",
              { cx: sx(x).toFixed(2), cy: sy(y).toFixed(2), r: 3.2, "data-x": x, "data-y": y },
              svg("title", {}, `${s.name}: ${short(x)}, ${short(y)}`),
            ),
          );
        }
      }
      root.append(group);
    });
    const legend = series.map((s, i) => ({ name: s.name, colour: s.colour ?? i, dashed: s.dashed }));
    return figure(key, title, caption, root, series.length > 1 || options.legend ? legend : []);
  }

  /** Horizontal bars (negative values to the left of zero), largest magnitude first. */
  function barChart({ key, title, caption, bars, unit }) {
    const row = 22;
    const labelWidth = Math.min(130, 14 + 6.2 * Math.max(...bars.map((b) => String(b.name).length), 4));
    const height = 16 + row * bars.length;
    const values = bars.map((b) => b.value);
    const lo = Math.min(0, ...values);
    const hi = Math.max(0, ...values);
    // Room for the values: a negative bar's left of it, between the names and the bar.
    const left = labelWidth + (lo < 0 ? 60 : 0);
    const right = WIDTH - 60;
    const scale = (v) => left + ((v - lo) / (hi - lo || 1)) * (right - left);
    const root = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${height}`,
      role: "img",
      "aria-label": `${title}${unit ? ` (${unit})` : ""}`,
    });
    root.append(svg("line", { class: "zero", x1: scale(0), x2: scale(0), y1: 4, y2: height - 4 }));
    bars.forEach((bar, i) => {
      const y = 8 + i * row;
      const a = scale(Math.min(0, bar.value));
      const b = scale(Math.max(0, bar.value));
      root.append(
        svg(
          "text",
          { class: "bar-label", x: labelWidth - 6, y: y + 12, "text-anchor": "end" },
          String(bar.name).length > 20 ? `${String(bar.name).slice(0, 19)}…` : bar.name,
        ),
        svg(
          "rect",
          {
            class: bar.value < 0 ? "bar negative" : "bar",
            x: a.toFixed(2),
            y,
            width: Math.max(b - a, 0.5).toFixed(2),
            height: row - 7,
            "data-name": bar.name,
            "data-value": bar.value,
          },
          svg("title", {}, `${bar.name}: ${bar.value}`),
        ),
        svg(
          "text",
          { class: "bar-value", x: (bar.value < 0 ? a - 4 : b + 4).toFixed(2), y: y + 12, "text-anchor": bar.value < 0 ? "end" : "start" },
          short(bar.value),
        ),
      );
    });
    return figure(key, title, caption, root, []);
  }

  const numbers = (values) => (values || []).map(Number);

  /**
   * The charts of one or two versions' evidence, drawn over the same axes:
   * entries [{label, evidence}] (label: the version's name, or "" for a single version).
   */
  function evidenceCharts(entries) {
    const figures = [];
    const name = (label, what) => (label ? `${label}${what ? ` ${what}` : ""}` : what);
    const curves = (e) => e.evidence.curves || {};
    const withRoc = entries.filter((e) => curves(e).roc);
    if (withRoc.length) {
      const aucs = withRoc.map((e) => Number(curves(e).roc.auc));
      figures.push(
        lineChart({
          key: "roc",
          title: "ROC curve",
          caption: el(
            "span",
            { class: "auc", "data-auc": aucs.join(" ") },
            withRoc.map((e, i) => `${name(e.label, "")}${e.label ? " " : ""}AUC ${aucs[i].toFixed(4)}`).join(", "),
          ),
          xLabel: "false positive rate",
          yLabel: "true positive rate",
          xDomain: [0, 1],
          yDomain: [0, 1],
          diagonal: true,
          legend: entries.length > 1,
          series: withRoc.map((e) => ({
            name: name(e.label, `AUC ${Number(curves(e).roc.auc).toFixed(4)}`),
            x: numbers(curves(e).roc.fpr),
            y: numbers(curves(e).roc.tpr),
          })),
        }),
      );
    }
    const withPr = entries.filter((e) => curves(e).pr);
    if (withPr.length) {
      figures.push(
        lineChart({
          key: "pr",
          title: "Precision–recall",
          xLabel: "recall",
          yLabel: "precision",
          xDomain: [0, 1],
          yDomain: [0, 1],
          legend: entries.length > 1,
          series: withPr.map((e) => ({
            name: name(e.label, "") || "precision",
            x: numbers(curves(e).pr.recall),
            y: numbers(curves(e).pr.precision),
          })),
        }),
      );
    }
    const withCalibration = entries.filter((e) => (curves(e).calibration || []).length);
    if (withCalibration.length) {
      figures.push(
        lineChart({
          key: "calibration",
          title: "Calibration",
          caption: el("span", { class: "hint" }, "a calibrated model lies on the diagonal"),
          xLabel: "mean predicted probability",
          yLabel: "fraction positive",
          xDomain: [0, 1],
          yDomain: [0, 1],
          diagonal: true,
          legend: entries.length > 1,
          series: withCalibration.map((e) => {
            const bins = curves(e).calibration.filter((b) => Number(b.count) > 0);
            return {
              name: name(e.label, "") || "calibration",
              x: bins.map((b) => Number(b.mean_predicted)),
              y: bins.map((b) => Number(b.fraction_positive)),
              markers: true,
            };
          }),
        }),
      );
    }
    const withResiduals = entries.filter((e) => (curves(e).residuals || []).length);
    if (withResiduals.length) {
      figures.push(
        lineChart({
          key: "residuals",
          title: "Residuals by decile of the prediction",
          xLabel: "decile",
          yLabel: "mean residual (label − prediction)",
          legend: entries.length > 1,
          series: withResiduals.map((e) => ({
            name: name(e.label, "") || "mean residual",
            x: curves(e).residuals.map((r) => Number(r.decile)),
            y: curves(e).residuals.map((r) => Number(r.mean_residual)),
            markers: true,
          })),
        }),
      );
    }
    const history = (e, split) => (e.evidence.history && e.evidence.history[split]) || {};
    const tags = [
      ...new Set(entries.flatMap((e) => [...Object.keys(history(e, "train")), ...Object.keys(history(e, "eval"))])),
    ].sort((a, b) => (a === "loss" ? -1 : b === "loss" ? 1 : a.localeCompare(b)));
    for (const tag of tags) {
      // A tag measured once per run (most eval metrics: one evaluation) is a number, which the
      // metrics table shows; a chart needs a series of two points or more.
      const longest = Math.max(
        ...entries.flatMap((e) => ["train", "eval"].map((split) => (history(e, split)[tag] || []).length)),
      );
      if (longest < 2) continue;
      const series = [];
      for (const [index, e] of entries.entries()) {
        for (const split of ["train", "eval"]) {
          const points = history(e, split)[tag];
          if (!points || !points.length) continue;
          // One colour per version; a version's evaluations are dashed, with markers.
          series.push({
            name: name(e.label, split),
            x: points.map((p) => Number(p[0])),
            y: points.map((p) => Number(p[1])),
            markers: split === "eval",
            dashed: split === "eval",
            colour: entries.length > 1 ? index : split === "eval" ? 1 : 0,
          });
        }
      }
      figures.push(
        lineChart({
          key: `history-${tag}`,
          title: `Training history: ${tag}`,
          xLabel: "global step",
          yLabel: tag,
          legend: true,
          series,
        }),
      );
    }
    return figures;
  }

  /** Where TensorBoard would show a run: the command that serves it (`mlengine tensorboard`
   * finds the folder) and, when the server names a running TensorBoard, a link to it. */
  function tensorboardLink(logdir, command) {
    const base = document.body.dataset.tensorboard;
    const holder = $("#tensorboard");
    if (!logdir || !holder) return;
    const href = base && (base.includes("{logdir}") ? base.replaceAll("{logdir}", enc(logdir)) : base);
    holder.replaceChildren(
      href ? el("a", { href, class: "button secondary", rel: "noopener" }, "Open TensorBoard") : "",
      href ? " " : "",
      el("span", { class: "hint" }, "TensorBoard: "),
      el("code", {}, command),
      el("span", { class: "hint" }, ` (logdir ${logdir})`),
    );
    holder.hidden = false;
  }

  /** Show the not-found page in place of the content (the server could not say: a token). */
  function showMissing(text, back, backText) {
    const content = $("#content");
    content.hidden = true;
    content.before(
      el(
        "section",
        { id: "missing", class: "panel not-found" },
        el("h1", {}, "Not found"),
        el("p", { id: "missing-text" }, text),
        el("p", {}, el("a", { href: back }, backText)),
      ),
    );
    document.title = "Not found · mlengine";
  }

  const isMissing = (error) => error instanceof ApiError && error.status === 404;

  // ------------------------------------------------------------------ Models page

  function modelsPage() {
    const tbody = $("#models tbody");

    async function refresh() {
      const models = (await api("GET", `${API}/models`)).models || [];
      const counts = await Promise.all(
        models.map(async (model) => {
          const data = await api("GET", `${modelPath(baseName(model.name))}/versions`);
          return (data.versions || []).length;
        }),
      );
      fillBody(
        $("#models"),
        models.map((model, i) => {
          const name = baseName(model.name);
          const latest = model.defaultVersion ? baseName(model.defaultVersion.name) : null;
          return el(
            "tr",
            {},
            el("td", {}, el("a", { href: `/models/${enc(name)}` }, name)),
            el(
              "td",
              {},
              latest
                ? el("a", { href: `/models/${enc(name)}/versions/${enc(latest)}` }, latest)
                : "–",
            ),
            el("td", {}, dash(model.description)),
            el("td", { class: "number" }, counts[i]),
            el(
              "td",
              {},
              el(
                "button",
                {
                  type: "button",
                  class: "danger",
                  "aria-label": `Delete model ${name}`,
                  onclick: guarded(() => remove(name)),
                },
                "Delete",
              ),
            ),
          );
        }),
      );
      $("#models-empty").hidden = models.length > 0;
    }

    async function remove(name) {
      if (!window.confirm(`Delete model ${name}? This cannot be undone.`)) return;
      await api("DELETE", modelPath(name));
      notify(`Model ${name} deleted.`);
      await refresh();
    }

    const form = $("#create-model");
    form.addEventListener(
      "submit",
      guarded(async () => {
        const name = form.elements.name.value.trim();
        const description = form.elements.description.value.trim();
        const body = { name };
        if (description) body.description = description;
        await api("POST", `${API}/models`, body);
        form.reset();
        notify(`Model ${name} created.`);
        await refresh();
      }),
    );
    guarded(refresh)();
  }

  // ------------------------------------------------------------------ a model's page

  function modelPage(model) {
    async function refresh() {
      let info;
      let data;
      try {
        [info, data] = await Promise.all([
          api("GET", modelPath(model)),
          api("GET", `${modelPath(model)}/versions`),
        ]);
      } catch (error) {
        if (!isMissing(error)) throw error;
        showMissing(`Model ${model} does not exist.`, "/", "All models");
        return false;
      }
      const versions = data.versions || [];
      $("#model-description").textContent = dash(info.description);
      const defaultName = info.defaultVersion ? baseName(info.defaultVersion.name) : null;
      $("#model-default").replaceChildren(
        defaultName
          ? el("a", { href: `/models/${enc(model)}/versions/${enc(defaultName)}` }, defaultName)
          : "–",
      );
      $("#model-created").replaceChildren(time(info.createTime));
      fillBody($("#versions"), versions.map(versionRow));
      $("#versions-empty").hidden = versions.length > 0;
      const ready = versions.filter((v) => v.state === "READY").sort((a, b) => b.number - a.number);
      const compare = $("#compare-link");
      compare.hidden = ready.length < 2;
      if (ready.length >= 2) {
        const [b, a] = ready.map((v) => baseName(v.name));
        compare.href = `/models/${enc(model)}/compare?a=${enc(a)}&b=${enc(b)}`;
      }
      showMetrics(versions);
      return versions.some((v) => BUSY_VERSION_STATES.has(v.state));
    }

    function versionRow(version) {
      const name = baseName(version.name);
      const actions = [];
      if (!version.isDefault && version.state === "READY") {
        actions.push(
          el(
            "button",
            {
              type: "button",
              "aria-label": `Set as default: version ${name}`,
              onclick: guarded(() => setDefault(name)),
            },
            "Set as default",
          ),
        );
      }
      actions.push(
        el(
          "button",
          {
            type: "button",
            class: "danger",
            "aria-label": `Delete version ${name}`,
            onclick: guarded(() => remove(name)),
          },
          "Delete",
        ),
      );
      return el(
        "tr",
        { "data-version": name },
        el("td", {}, el("a", { href: `/models/${enc(model)}/versions/${enc(name)}` }, name)),
        el("td", { class: "number" }, version.number),
        el(
          "td",
          {},
          el(
            "span",
            {
              class: `state state-${String(version.state).toLowerCase()}`,
              title: version.errorMessage,
            },
            version.state,
          ),
        ),
        el("td", {}, time(version.createTime)),
        el("td", {}, time(version.lastUseTime)),
        el("td", {}, version.isDefault ? el("strong", { class: "default-marker" }, "Default") : ""),
        el("td", { class: "actions" }, actions),
      );
    }

    function showMetrics(versions) {
      const withMetrics = versions.filter((v) => v.metrics && Object.keys(v.metrics).length);
      const table = $("#metrics");
      table.hidden = withMetrics.length === 0;
      $("#metrics-empty").hidden = withMetrics.length > 0;
      const names = [...new Set(withMetrics.flatMap((v) => Object.keys(v.metrics)))].sort();
      table.tHead.rows[0].replaceChildren(
        el("th", { scope: "col" }, "Metric"),
        ...withMetrics.map((v) => el("th", { scope: "col" }, baseName(v.name))),
      );
      fillBody(
        table,
        names.map((metric) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, metric),
            ...withMetrics.map((v) =>
              el("td", { class: "number" }, formatMetric(v.metrics[metric])),
            ),
          ),
        ),
      );
    }

    let stop = () => {};
    const watch = () => {
      stop();
      stop = poll(refresh);
    };

    async function setDefault(name) {
      await api("POST", `${versionPath(model, name)}:setDefault`, {});
      notify(`Version ${name} is now the default of ${model}.`);
      watch();
    }

    async function remove(name) {
      if (!window.confirm(`Delete version ${name} of ${model}? This cannot be undone.`)) return;
      await api("DELETE", versionPath(model, name));
      notify(`Version ${name} deleted.`);
      watch();
    }

    watch();
  }

  const metricCell = (value) => (value === undefined ? "–" : formatMetric(value));

  function formatMetric(value) {
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(4);
    return pyStr(value);
  }

  // ------------------------------------------------------------------ Create version

  function newVersionPage(model) {
    const form = $("#create-version");
    const button = form.querySelector("button[type=submit]");
    form.addEventListener(
      "submit",
      guarded(async () => {
        clearError();
        const name = form.elements.name.value.trim();
        const body = { name, deploymentUri: form.elements.origin.value.trim() };
        const description = form.elements.description.value.trim();
        if (description) body.description = description;
        button.disabled = true;
        try {
          const operation = await api("POST", `${modelPath(model)}/versions`, body);
          track(name, operation);
        } catch (error) {
          button.disabled = false;
          throw error;
        }
      }),
    );

    /** Follow the creation's long-running Operation until it is done. */
    function track(name, operation) {
      $("#progress").hidden = false;
      $("#progress-links").hidden = true;
      const text = $("#progress-text");
      const bar = $("#progress-bar");
      bar.hidden = false;
      let current = operation;
      poll(async () => {
        if (!current) current = await api("GET", `/v1/${operation.name}`);
        const done = current.done;
        const error = current.error;
        current = null;
        if (done && !error) {
          text.textContent = `Version ${name} is READY.`;
          finish(name);
          return false;
        }
        if (done) {
          text.textContent = `Version ${name} FAILED.`;
          showError(`Version ${name} FAILED: ${error.message || "no reason given"}`);
          finish(null);
          return false;
        }
        text.textContent = `Version ${name} is CREATING…`;
        return true;
      });
    }

    function finish(name) {
      $("#progress-bar").hidden = true;
      button.disabled = false;
      const links = $("#progress-links");
      links.replaceChildren(
        name
          ? el("a", { href: `/models/${enc(model)}/versions/${enc(name)}` }, `Open version ${name}`)
          : "",
        name ? " · " : "",
        el("a", { href: `/models/${enc(model)}` }, `Back to model ${model}`),
      );
      links.hidden = false;
      if (name) form.reset();
    }
  }

  // ------------------------------------------------------------------ a version's page

  function versionPage(model, version) {
    const details = $("#version-details");
    let prefilled = false;
    let evidenceShown = false;

    async function refresh() {
      let info;
      try {
        info = await api("GET", versionPath(model, version));
      } catch (error) {
        if (!isMissing(error)) throw error;
        showMissing(
          `Version ${version} of model ${model} does not exist.`,
          `/models/${enc(model)}`,
          `Model ${model}`,
        );
        return false;
      }
      const rows = [
        ["Number", info.number],
        ["State", info.state],
        ["Default", info.isDefault ? "yes" : "no"],
        ["Origin", dash(info.deploymentUri)],
        ["Description", dash(info.description)],
        ["Created", time(info.createTime)],
        ["Last used", time(info.lastUseTime)],
      ];
      if (info.errorMessage) rows.push(["Error", info.errorMessage]);
      details.replaceChildren(
        ...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
      );
      const metrics = info.metrics || {};
      const names = Object.keys(metrics).sort();
      $("#metrics").hidden = names.length === 0;
      $("#metrics-empty").hidden = names.length > 0;
      fillBody(
        $("#metrics"),
        names.map((name) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, name),
            el("td", { class: "number" }, formatMetric(metrics[name])),
          ),
        ),
      );
      let evidence = {};
      if (!evidenceShown && info.state === "READY") {
        evidenceShown = true;
        try {
          evidence = await api("GET", `${versionPath(model, version)}/evidence`);
        } catch (error) {
          // A damaged evidence file: the page says why, and the version still predicts.
          $("#evaluation").textContent = `The export's evidence cannot be shown: ${error.message}`;
        }
        showEvidence(evidence);
      }
      if (!prefilled && (info.signature || (evidence.instances || []).length)) {
        const real = (evidence.instances || [])[0];
        $("#instances").value = JSON.stringify([real || example(info.signature)], null, 2);
        $("#instance-source").textContent = real
          ? "Prefilled with a real instance from the evaluation data (the export's evidence)."
          : "Prefilled from the export's signature (its evidence holds no real instance).";
        prefilled = true;
      }
      return BUSY_VERSION_STATES.has(info.state);
    }

    /** The export's evidence: evaluation, curves, history, confusion matrix, importances. */
    function showEvidence(evidence) {
      const said = $("#evaluation");
      if (evidence.evaluated === false) {
        said.textContent = `Never evaluated${evidence.reason ? `: ${evidence.reason}` : "."}`;
      } else if (evidence.evaluation) {
        said.textContent = `Evaluated at global step ${evidence.evaluation.global_step}.`;
      }
      tensorboardLink(evidence.model_dir, `mlengine tensorboard --model ${model} --version ${version}`);
      const figures = evidenceCharts([{ label: "", evidence }]);
      $("#charts").replaceChildren(...figures);
      const confusion = (evidence.curves || {}).confusion;
      const table = $("#confusion");
      if (confusion) {
        const labels = confusion.labels || [];
        table.caption.textContent = `Confusion matrix at threshold ${confusion.threshold} (rows: label, columns: predicted)`;
        table.tHead.rows[0].replaceChildren(
          el("th", { scope: "col" }, "label \\ predicted"),
          ...labels.map((label) => el("th", { scope: "col" }, label)),
        );
        table.tBodies[0].replaceChildren(
          ...(confusion.matrix || []).map((row, i) =>
            el(
              "tr",
              {},
              el("th", { scope: "row" }, labels[i]),
              ...row.map((count) => el("td", { class: "number" }, count)),
            ),
          ),
        );
        table.hidden = false;
      }
      $("#curves-section").hidden = figures.length === 0 && !confusion;
      const importances = evidence.importances;
      if (importances && (importances.features || []).length) {
        const bars = [...importances.features]
          .map((f) => ({ name: f.name, value: Number(f.importance) }))
          .sort((a, b) => Math.abs(b.value) - Math.abs(a.value))
          .slice(0, 25);
        $("#importances-method").textContent = `Method: ${importances.method}.`;
        $("#importances").replaceChildren(
          barChart({ key: "importances", title: "Global feature importances", bars }),
        );
        $("#importances-section").hidden = false;
      }
    }

    /** One instance from the signature: each input's default, else 0 or "". */
    function example(signature) {
      const instance = {};
      for (const input of (signature && signature.inputs) || []) {
        if (input.default !== null && input.default !== undefined)
          instance[input.name] = input.default;
        else instance[input.name] = String(input.dtype).startsWith("string") ? "" : 0;
      }
      return instance;
    }

    const form = $("#predict");
    form.addEventListener(
      "submit",
      guarded(async () => {
        clearError();
        let parsed;
        try {
          parsed = JSON.parse(form.elements.instances.value);
        } catch (error) {
          throw new Error(`The instances are not valid JSON: ${error.message}`);
        }
        const instances = Array.isArray(parsed) ? parsed : parsed && parsed.instances;
        if (!Array.isArray(instances))
          throw new Error('Give a JSON list of instances, or {"instances": [...]}.');
        const table = $("#predictions");
        table.hidden = true;
        $("#attributions-section").hidden = true;
        const answer = await api("POST", `${versionPath(model, version)}:predict`, { instances });
        showPredictions(answer.predictions || []);
        notify(
          `${instances.length} prediction${instances.length === 1 ? "" : "s"} from version ${version}.`,
        );
        guarded(refresh)(); // the last-use time
        if (instances.length) await explain(instances[0]);
      }),
    );

    /** The first instance's attributions (the server's :explain: TreeSHAP or sampled Shapley). */
    async function explain(instance) {
      const section = $("#attributions-section");
      const note = $("#attributions-note");
      let answer;
      try {
        answer = await api("POST", `${versionPath(model, version)}:explain`, {
          instances: [instance],
        });
      } catch (error) {
        note.textContent = `This model does not explain this prediction: ${error.message}`;
        $("#attributions").replaceChildren();
        section.hidden = false;
        return;
      }
      const found = ((answer.explanations || [])[0] || {}).attributions_by_label || [];
      const first = found[0];
      if (!first) return;
      const bars = Object.entries(first.attributions || {})
        .map(([name, value]) => ({ name, value: Number(value) }))
        .sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
      const label = first.label_name !== undefined ? ` of class ${first.label_name}` : "";
      note.textContent =
        first.method === "tree_shap"
          ? `TreeSHAP over the raw features: the ${first.output_name}${label} goes from ` +
            `${short(first.baseline_score)} (baseline: the trees' expected value over their ` +
            `training data) to ${short(first.example_score)} for this instance; the bars add up ` +
            `to the difference (exact).`
          : `Sampled Shapley values over the raw features: the score${label} goes from ` +
            `${short(first.baseline_score)} (baseline: nothing known) to ` +
            `${short(first.example_score)} for this instance; the bars add up to the ` +
            `difference (error ±${short(first.approx_error)}).`;
      $("#attributions").replaceChildren(
        barChart({ key: "attributions", title: `Attributions (${first.output_name})`, bars }),
      );
      section.hidden = false;
    }

    /** The CLI's table: one column per key, sorted and upper-cased, one row per instance. */
    function showPredictions(predictions) {
      const table = $("#predictions");
      const first = predictions[0];
      const keys =
        first && typeof first === "object" && !Array.isArray(first)
          ? Object.keys(first).sort()
          : null;
      table.tHead.rows[0].replaceChildren(
        ...(keys
          ? keys.map((key) => el("th", { scope: "col" }, key.toUpperCase()))
          : [el("th", { scope: "col" }, "PREDICTION")]),
      );
      fillBody(
        table,
        predictions.map((p) =>
          el(
            "tr",
            {},
            ...(keys ? keys.map((key) => el("td", {}, pyStr(p[key]))) : [el("td", {}, pyStr(p))]),
          ),
        ),
      );
      table.hidden = false;
    }

    poll(refresh);
  }

  // ------------------------------------------------------------------ two versions compared

  function comparePage(model) {
    const params = new URLSearchParams(window.location.search);

    async function load() {
      let data;
      try {
        data = await api("GET", `${modelPath(model)}/versions`);
      } catch (error) {
        if (!isMissing(error)) throw error;
        showMissing(`Model ${model} does not exist.`, "/", "All models");
        return;
      }
      const ready = (data.versions || [])
        .filter((v) => v.state === "READY")
        .sort((x, y) => y.number - x.number)
        .map((v) => baseName(v.name));
      const known = new Set((data.versions || []).map((v) => baseName(v.name)));
      const unknown = ["a", "b"].map((key) => params.get(key)).find((n) => n && !known.has(n));
      if (unknown) {
        showMissing(`Version ${unknown} of model ${model} does not exist.`, `/models/${enc(model)}`, `Model ${model}`);
        return;
      }
      const a = params.get("a") || ready[1] || ready[0];
      const b = params.get("b") || ready[0];
      for (const [select, chosen] of [
        [$("#compare-a"), a],
        [$("#compare-b"), b],
      ]) {
        select.replaceChildren(
          ...ready.map((name) => el("option", { value: name, selected: name === chosen }, name)),
        );
      }
      const empty = $("#compare-empty");
      if (!a || !b) {
        empty.textContent = "The model needs READY versions to compare.";
        empty.hidden = false;
        return;
      }
      const chosen = [...new Set([a, b])];
      const entries = await Promise.all(
        chosen.map(async (name) => ({
          label: name,
          info: await api("GET", versionPath(model, name)),
          evidence: await api("GET", `${versionPath(model, name)}/evidence`),
        })),
      );
      const figures = evidenceCharts(entries);
      $("#charts").replaceChildren(...figures);
      if (!figures.length) {
        empty.textContent = "Neither export carries curves or a training history.";
        empty.hidden = false;
      }
      const table = $("#compare-metrics");
      const metricsOf = (e) => e.info.metrics || {};
      const names = [...new Set(entries.flatMap((e) => Object.keys(metricsOf(e))))].sort();
      table.tHead.rows[0].replaceChildren(
        el("th", { scope: "col" }, "Metric"),
        ...entries.map((e) =>
          el("th", { scope: "col" }, el("a", { href: `/models/${enc(model)}/versions/${enc(e.label)}` }, e.label)),
        ),
      );
      fillBody(
        table,
        names.map((metric) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, metric),
            ...entries.map((e) => el("td", { class: "number" }, metricCell(metricsOf(e)[metric]))),
          ),
        ),
      );
      table.hidden = names.length === 0;
    }

    guarded(load)();
  }

  // ------------------------------------------------------------------ Jobs page

  function jobsPage() {
    let shownLog = null;
    let stopLog = () => {};

    let shown = null;

    async function refresh() {
      const jobs = (await api("GET", `${API}/jobs`)).jobs || [];
      const seen = JSON.stringify(jobs);
      if (seen !== shown) {
        // Re-rendered only when something changed, so a button is not replaced under a click.
        shown = seen;
        fillBody($("#jobs"), jobs.map(jobRow));
        $("#jobs-empty").hidden = jobs.length > 0;
      }
      return true; // keep the list live: jobs change state on their own
    }

    function jobRow(job) {
      const id = job.jobId;
      let kind = job.trainingInput ? "Training" : "Prediction";
      const tuning = job.trainingInput && job.trainingInput.hyperparameters;
      if (tuning) {
        // A tuning job: its finished trials of maxTrials (trainingOutput.completedTrialCount).
        const done = Number((job.trainingOutput || {}).completedTrialCount || 0);
        kind = `Tuning: ${done} of ${tuning.maxTrials} trials`;
      }
      const actions = [
        el(
          "button",
          { type: "button", "aria-label": `Log of job ${id}`, onclick: guarded(() => showLog(id)) },
          "Log",
        ),
      ];
      if (!FINAL_JOB_STATES.has(job.state) && job.state !== "CANCELLING") {
        actions.push(
          el(
            "button",
            {
              type: "button",
              class: "danger",
              "aria-label": `Cancel job ${id}`,
              onclick: guarded(() => cancel(id)),
            },
            "Cancel",
          ),
        );
      }
      return el(
        "tr",
        { "data-job": id },
        el("td", {}, el("a", { href: `/jobs/${enc(id)}` }, id)),
        el("td", {}, kind),
        el(
          "td",
          {},
          el(
            "span",
            { class: `state state-${String(job.state).toLowerCase()}`, title: job.errorMessage },
            job.state,
          ),
        ),
        el("td", {}, time(job.startTime)),
        el("td", {}, time(job.endTime)),
        el("td", { class: "actions" }, actions),
      );
    }

    async function cancel(id) {
      if (!window.confirm(`Cancel job ${id}? Its processes are stopped.`)) return;
      await api("POST", `${API}/jobs/${enc(id)}:cancel`, {});
      notify(`Job ${id} is being cancelled.`);
      await refresh();
    }

    function showLog(id) {
      stopLog();
      shownLog = id;
      $("#log").hidden = false;
      $("#log-title").textContent = `Log of job ${id} (last ${LOG_LINES} lines)`;
      const pre = $("#log-text");
      pre.textContent = "";
      stopLog = poll(async () => {
        const [job, logs] = await Promise.all([
          api("GET", `${API}/jobs/${enc(id)}`),
          api("GET", `${API}/jobs/${enc(id)}/logs?tail=${LOG_LINES}`),
        ]);
        if (shownLog !== id) return false;
        const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.textContent = logs.logs || "";
        if (atBottom) pre.scrollTop = pre.scrollHeight;
        const live = !FINAL_JOB_STATES.has(job.state);
        $("#log-state").textContent = live
          ? `${job.state}: following the log…`
          : `${job.state}: the job is over.`;
        return live;
      });
    }

    poll(refresh, 2 * POLL_MS);
  }


  // ------------------------------------------------------------------ a job's page

  function jobPage(id) {
    const path = `${API}/jobs/${enc(id)}`;
    const pre = $("#log-text");
    let trialsShown = null;

    async function refresh() {
      let job;
      let logs;
      try {
        [job, logs] = await Promise.all([
          api("GET", path),
          api("GET", `${path}/logs?tail=${LOG_LINES}`),
        ]);
      } catch (error) {
        if (!isMissing(error)) throw error;
        showMissing(`Job ${id} does not exist.`, "/jobs", "All jobs");
        return false;
      }
      const live = !FINAL_JOB_STATES.has(job.state);
      const failure = $("#job-failure");
      failure.textContent = job.errorMessage ? `${job.state}: ${job.errorMessage}` : "";
      failure.hidden = !job.errorMessage;
      const input = job.trainingInput || job.predictionInput || {};
      const rows = [
        ["State", el("span", { class: `state state-${String(job.state).toLowerCase()}` }, job.state)],
        ["Type", job.trainingInput ? (isTuning(job) ? "Training (hyperparameter tuning)" : "Training") : "Prediction"],
        ["Created", time(job.createTime)],
        ["Started", time(job.startTime)],
        ["Ended", time(job.endTime)],
        ["Duration", duration(job.startTime, job.endTime)],
      ];
      const output = job.predictionOutput || {};
      if (output.predictionCount !== undefined) rows.push(["Predictions", output.predictionCount]);
      if (output.errorCount !== undefined) rows.push(["Errors", output.errorCount]);
      if (output.outputPath) rows.push(["Output", output.outputPath]);
      $("#job-details").replaceChildren(
        ...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
      );
      $("#job-arguments").replaceChildren(
        ...Object.entries(input).flatMap(([key, value]) => [
          el("dt", {}, key),
          el("dd", { class: "code" }, argument(input, key, value)),
        ]),
      );
      $("#job-actions").replaceChildren(
        live && job.state !== "CANCELLING"
          ? el(
              "button",
              {
                type: "button",
                class: "danger",
                "aria-label": `Cancel job ${id}`,
                onclick: guarded(cancel),
              },
              "Cancel",
            )
          : "",
      );
      if (job.trainingInput) tensorboardLink(job.trainingInput.jobDir, `mlengine tensorboard --job ${id}`);
      const trials = (job.trainingOutput || {}).trials || [];
      const seen = JSON.stringify(trials);
      if (trials.length && seen !== trialsShown) {
        trialsShown = seen;
        showTrials(job, trials);
      }
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = logs.logs || "";
      if (atBottom) pre.scrollTop = pre.scrollHeight;
      $("#log-title").textContent = `Log (last ${LOG_LINES} lines)`;
      $("#log-state").textContent = live
        ? `${job.state}: following the log…`
        : `${job.state}: the job is over.`;
      return live;
    }

    async function cancel() {
      if (!window.confirm(`Cancel job ${id}? Its processes are stopped.`)) return;
      await api("POST", `${path}:cancel`, {});
      notify(`Job ${id} is being cancelled.`);
      stop();
      stop = poll(refresh);
    }

    let stop = poll(refresh);
  }

  /** A job argument as text; a prediction job's model and version link to their pages. */
  function argument(input, key, value) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    const model = input.modelName ? baseName(input.modelName) : null;
    if (key === "modelName" && model) return el("a", { href: `/models/${enc(model)}` }, text);
    if (key === "versionName" && model) {
      const href = `/models/${enc(model)}/versions/${enc(baseName(value))}`;
      return el("a", { href }, text);
    }
    return text;
  }

  const isTuning = (job) => Boolean((job.trainingOutput || {}).isHyperparameterTuningJob);

  function duration(start, end) {
    if (!start) return "–";
    const seconds = Math.max(0, ((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000);
    const shown =
      seconds < 120 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
    return end ? shown : `${shown} so far`;
  }

  /** A tuning job's trials: the objective by trial and by each hyperparameter, and a table. */
  function showTrials(job, trials) {
    const spec = (job.trainingInput || {}).hyperparameters || {};
    const output = job.trainingOutput || {};
    const metric = spec.hyperparameterMetricTag || output.hyperparameterMetricTag || "objective";
    const goal = String(spec.goal || "MAXIMIZE").toUpperCase();
    const objective = (t) => Number((t.finalMetric || {}).objectiveValue);
    // The charts go by trial number (trainingOutput lists the trials best first, as ML Engine).
    const done = trials
      .filter((t) => Number.isFinite(objective(t)))
      .sort((a, b) => Number(a.trialId) - Number(b.trialId));
    const params = [...new Set(trials.flatMap((t) => Object.keys(t.hyperparameters || {})))].sort();
    const figures = [];
    if (done.length) {
      const ids = done.map((t) => Number(t.trialId));
      const best = [];
      let bestSoFar = null;
      for (const t of done) {
        const v = objective(t);
        if (bestSoFar === null || (goal === "MINIMIZE" ? v < bestSoFar : v > bestSoFar)) bestSoFar = v;
        best.push(bestSoFar);
      }
      figures.push(
        lineChart({
          key: "trials",
          title: `${metric} by trial`,
          xLabel: "trial",
          yLabel: metric,
          legend: true,
          series: [
            { name: metric, x: ids, y: done.map(objective), line: false },
            { name: `best so far (${goal.toLowerCase()})`, x: ids, y: best },
          ],
        }),
      );
      for (const param of params) {
        const values = done.map((t) => (t.hyperparameters || {})[param]);
        const numeric = values.every((v) => v !== "" && Number.isFinite(Number(v)));
        const categories = numeric ? null : [...new Set(values.map(String))].sort();
        figures.push(
          lineChart({
            key: `trials-${param}`,
            title: `${metric} by ${param}`,
            xLabel: param,
            yLabel: metric,
            xCategories: categories,
            series: [
              {
                name: metric,
                x: numeric ? values.map(Number) : values.map((v) => categories.indexOf(String(v))),
                y: done.map(objective),
                line: false,
              },
            ],
          }),
        );
      }
    }
    $("#charts").replaceChildren(...figures);
    const bestTrial = done.length
      ? done.reduce((a, b) => ((goal === "MINIMIZE" ? objective(b) < objective(a) : objective(b) > objective(a)) ? b : a))
      : null;
    const count = output.completedTrialCount;
    $("#trials-summary").textContent =
      `${count !== undefined ? count : done.length} trials completed` +
      (bestTrial ? `; the best ${metric} is ${short(objective(bestTrial))} (trial ${bestTrial.trialId}, ${goal.toLowerCase()}).` : ".");
    const table = $("#trials");
    table.tHead.rows[0].replaceChildren(
      ...["Trial", "State", ...params, metric, "Step"].map((h) => el("th", { scope: "col" }, h)),
    );
    fillBody(
      table,
      trials.map((t) =>
        el(
          "tr",
          { "data-trial": t.trialId },
          el("td", {}, t.trialId),
          el("td", {}, dash(t.state)),
          ...params.map((param) => el("td", { class: "number" }, dash((t.hyperparameters || {})[param]))),
          el("td", { class: "number" }, Number.isFinite(objective(t)) ? short(objective(t)) : "–"),
          el("td", { class: "number" }, dash((t.finalMetric || {}).trainingStep)),
        ),
      ),
    );
    $("#trials-section").hidden = false;
  }

  // ------------------------------------------------------------------ start

  function start() {
    const forget = $("#forget-token");
    forget.hidden = !sessionStorage.getItem(TOKEN_KEY);
    forget.addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      forget.hidden = true;
      notify("The API token is forgotten in this tab.");
    });
    const { page, model, version } = document.body.dataset;
    if (page === "models") modelsPage();
    else if (page === "model") modelPage(model);
    else if (page === "new-version") newVersionPage(model);
    else if (page === "version") versionPage(model, version);
    else if (page === "compare") comparePage(model);
    else if (page === "jobs") jobsPage();
    else if (page === "job") jobPage(document.body.dataset.job);
  }

  start();
})();
