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
      tbody.replaceChildren(
        ...models.map((model, i) => {
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
    const tbody = $("#versions tbody");

    async function refresh() {
      const [info, data] = await Promise.all([
        api("GET", modelPath(model)),
        api("GET", `${modelPath(model)}/versions`),
      ]);
      const versions = data.versions || [];
      $("#model-description").textContent = dash(info.description);
      const defaultName = info.defaultVersion ? baseName(info.defaultVersion.name) : null;
      $("#model-default").replaceChildren(
        defaultName
          ? el("a", { href: `/models/${enc(model)}/versions/${enc(defaultName)}` }, defaultName)
          : "–",
      );
      $("#model-created").replaceChildren(time(info.createTime));
      tbody.replaceChildren(...versions.map(versionRow));
      $("#versions-empty").hidden = versions.length > 0;
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
      table.tBodies[0].replaceChildren(
        ...names.map((metric) =>
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

    async function refresh() {
      const info = await api("GET", versionPath(model, version));
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
      $("#metrics tbody").replaceChildren(
        ...names.map((name) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, name),
            el("td", { class: "number" }, formatMetric(metrics[name])),
          ),
        ),
      );
      if (!prefilled && info.signature) {
        $("#instances").value = JSON.stringify([example(info.signature)], null, 2);
        prefilled = true;
      }
      return BUSY_VERSION_STATES.has(info.state);
    }

    /** One instance from the signature: each input's default, else 0 or "". */
    function example(signature) {
      const instance = {};
      for (const input of signature.inputs || []) {
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
        const answer = await api("POST", `${versionPath(model, version)}:predict`, { instances });
        showPredictions(answer.predictions || []);
        notify(
          `${instances.length} prediction${instances.length === 1 ? "" : "s"} from version ${version}.`,
        );
        guarded(refresh)(); // the last-use time
      }),
    );

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
      table.tBodies[0].replaceChildren(
        ...predictions.map((p) =>
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

  // ------------------------------------------------------------------ Jobs page

  function jobsPage() {
    const tbody = $("#jobs tbody");
    let shownLog = null;
    let stopLog = () => {};

    let shown = null;

    async function refresh() {
      const jobs = (await api("GET", `${API}/jobs`)).jobs || [];
      const seen = JSON.stringify(jobs);
      if (seen !== shown) {
        // Re-rendered only when something changed, so a button is not replaced under a click.
        shown = seen;
        tbody.replaceChildren(...jobs.map(jobRow));
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
        el("td", {}, id),
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
    else if (page === "jobs") jobsPage();
  }

  start();
})();
