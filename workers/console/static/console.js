"use strict";
// The operator console. Every figure comes from the operator API with the key or token
// the operator typed; it lives in this tab's sessionStorage only. Text from the API is
// always set as textContent, never parsed as HTML. Buttons the operator's role may not
// use are not drawn; the API would refuse them anyway (403), so hiding is courtesy, not
// protection.

(() => {
  const TOKEN_KEY = "syncline.operatorToken";
  const REFRESH_MS = 15000;
  const DEAL_STATUS = {
    received: "Received", validating: "Validating", pending_approval: "Pending ERP approval",
    order_accepted: "Order accepted",
    invoiced: "Invoiced", paid: "Paid", needs_attention: "Needs attention", cancelled: "Cancelled",
  };
  const EXCEPTION_STATUS = {
    open: "Waiting for a fix", retry_requested: "Retry requested", resolved: "Resolved",
  };
  const PROCESS = {
    deal: "Deal", customer_mirror: "Customer mirror", item_mirror: "Catalog mirror",
    renewal: "Renewal", feed: "ERP change feed", reconciliation: "Reconciliation",
  };
  const DELIVERY_SERIES = [
    { key: "accepted", label: "accepted", color: "#1a7f37" },
    { key: "ignored", label: "ignored", color: "#6e7781" },
    { key: "rejected", label: "rejected", color: "#cf222e" },
    { key: "failed", label: "failed", color: "#9a6700" },
    { key: "received", label: "received", color: "#0969da" },
  ];
  const AGE_COLORS = ["#0969da", "#9a6700", "#bc4c00", "#cf222e"];
  const SYSTEMS = [["crm", "CRM"], ["syncline", "Syncline"], ["erp", "ERP"]];
  const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
  const ACTIONS = {
    "exception.retry": "Retry", "reconciliation.run": "Reconciliation run",
    "export.findings_csv": "Findings export", "export.ledger": "Ledger export",
    "operator.add": "Key added", "operator.revoke": "Key revoked",
  };

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let summary = null;
  let me = null; // who signed in: { name, role, sign_in }

  // Whether the signed-in operator's role reaches ``role``.
  const may = (role) => me !== null && ROLE_RANK[me.role] >= ROLE_RANK[role];
  const actionWords = (action) => ACTIONS[action] || action;

  // -- small helpers ---------------------------------------------------------------

  function el(name, attributes = {}, ...children) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function utc(iso) {
    if (!iso) return "—";
    return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function utcSeconds(iso) {
    return new Date(iso).toISOString().slice(0, 19).replace("T", " ");
  }

  function ago(iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
    return `${Math.round(seconds / 86400)} days ago`;
  }

  function seconds(value) {
    if (value === null || value === undefined) return "—";
    return value < 10 ? `${value.toFixed(2)} s` : `${Math.round(value)} s`;
  }

  const plural = (n, word, many = `${word}s`) => `${n} ${n === 1 ? word : many}`;

  class SignedOut extends Error {}

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) throw new SignedOut();
    const response = await fetch(path, {
      ...options,
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json",
        ...(options.body ? { "Content-Type": "application/json" } : {}) },
      cache: "no-store",
    });
    if (response.status === 401) {
      const problem = await response.json().catch(() => ({}));
      const why = typeof problem.detail === "string" ? `: ${problem.detail}` : "";
      signOut(`Your key or token was not accepted${why}. Sign in again.`);
      throw new SignedOut();
    }
    return response;
  }

  async function json(path, options) {
    const response = await api(path, options);
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return response.json();
  }

  // -- signing in and out ----------------------------------------------------------

  function showConsole(visible) {
    $("sign-in").hidden = visible;
    $("console").hidden = !visible;
    $("session-actions").hidden = !visible;
  }

  function signOut(message = "") {
    sessionStorage.removeItem(TOKEN_KEY);
    clearTimeout(timer);
    summary = null;
    me = null;
    for (const id of ["health", "exceptions", "recent-deals", "deal", "reconciliation", "charts", "audit"]) {
      $(id).replaceChildren();
    }
    $("audit-section").hidden = true;
    $("updated").textContent = "";
    $("who").textContent = "";
    $("sign-in-error").textContent = message;
    showConsole(false);
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (!token) {
      $("sign-in-error").textContent = "Enter your personal key or identity provider token.";
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    $("sign-in-error").textContent = "";
    try {
      await refresh();
      showConsole(true);
    } catch (error) {
      if (!(error instanceof SignedOut)) throw error;
    }
  }

  // -- loading ---------------------------------------------------------------------

  async function refresh() {
    clearTimeout(timer);
    $("console").setAttribute("aria-busy", "true");
    try {
      // Who first, alone: a credential refused here is refused once, not once per call
      // below (each refusal is audited, and counts towards the address's lock-out).
      me = await json("/api/me");
      const [next, exceptions, runs, feed, health, streams] = await Promise.all([
        json("/api/console/summary"),
        json("/api/exceptions"),
        json("/api/reconciliations?limit=1"),
        api("/api/erp-feed").then((r) => (r.ok ? r.json() : null)),
        fetch("/healthz", { cache: "no-store" }).then((r) => r.json()).catch(() => null),
        api("/api/crm-stream").then((r) => (r.ok ? r.json() : [])),
      ]);
      summary = next;
      $("who").textContent = `Signed in as ${me.name} (${me.role})`;
      renderHealth(health, feed, exceptions, runs[0], streams);
      renderExceptions(exceptions);
      renderRecentDeals();
      renderReconciliation(runs[0]);
      renderCharts(feed);
      $("audit-section").hidden = !may("admin");
      if (may("admin")) renderAudit((await json("/api/audit?limit=20")).entries);
      $("updated").textContent = `Updated ${utc(summary.generated_at)}`;
    } finally {
      $("console").setAttribute("aria-busy", "false");
    }
    timer = setTimeout(() => refresh().catch(reportFailure), REFRESH_MS);
  }

  function reportFailure(error) {
    if (error instanceof SignedOut) return;
    $("updated").textContent = `Could not refresh: ${error.message}. Retrying shortly.`;
    timer = setTimeout(() => refresh().catch(reportFailure), REFRESH_MS);
  }

  // -- flow health -----------------------------------------------------------------

  function tile(title, value, detail, tone) {
    return el("li", { className: `tile ${tone}` },
      el("h3", {}, title), el("p", { className: "value" }, value), el("p", { className: "detail" }, detail));
  }

  // The CRM change stream: the slowest channel's lag (CRM commit to workflows signalled).
  function streamTile(streams) {
    if (!streams.length) return tile("CRM change stream", "Off", "webhooks only", "neutral");
    const worst = (key) => {
      const lags = streams.map((s) => s[key]).filter((v) => v !== null && v !== undefined);
      return lags.length ? Math.max(...lags) : null;
    };
    const waiting = streams.some((s) => s.open_exception);
    const events = streams.reduce((n, s) => n + s.events, 0);
    const read = streams.every((s) => s.replay_id);
    return tile("CRM change stream", waiting ? "Needs attention" : read ? "Reading" : "Starting",
      `lag p50 ${seconds(worst("lag_p50_seconds"))}, p95 ${seconds(worst("lag_p95_seconds"))}; ${plural(events, "change")} read`,
      waiting ? "warn" : read ? "good" : "neutral");
  }

  function renderHealth(health, feed, exceptions, lastRun, streams) {
    const polling = health && health.status === "ok";
    const waiting = exceptions.filter((x) => x.status !== "resolved");
    const deals = summary.deals_by_status;
    const dealTotal = deals ? Object.values(deals).reduce((a, b) => a + b, 0) : null;
    const dealDetail = deals
      ? Object.entries(deals).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${DEAL_STATUS[s].toLowerCase()}`).join(", ") || "none yet"
      : "Temporal could not be asked";
    let recon = tile("Last reconciliation", "Not run yet", "Nightly at 02:00, or run one below", "neutral");
    if (lastRun) {
      const clean = lastRun.unexplained === 0;
      recon = tile("Last reconciliation",
        lastRun.status === "running" ? "Running" : clean ? "Nothing unexplained" : `${plural(lastRun.unexplained, "open difference")}`,
        `${lastRun.status}, started ${ago(lastRun.started_at)}`,
        lastRun.status === "failed" || !clean ? "bad" : "good");
    }
    $("health").replaceChildren(
      tile("Workers", polling ? "Polling" : "Not polling",
        polling ? `${plural(health.pollers, "poller")} on the task queue` : (health ? health.status : "API unreachable"),
        polling ? "good" : "bad"),
      tile("ERP change feed", feed ? (feed.last_poll_at ? `Polled ${ago(feed.last_poll_at)}` : "Starting") : "Not running",
        feed ? `lag p50 ${seconds(feed.lag_p50_seconds)}, p95 ${seconds(feed.lag_p95_seconds)}; ${feed.delivered} changes delivered` : "the feed workflow has not started",
        feed && feed.last_poll_at ? "good" : "bad"),
      streamTile(streams),
      tile("Deals", dealTotal === null ? "Unknown" : plural(dealTotal, "deal"), dealDetail,
        deals && deals.needs_attention > 0 ? "warn" : "neutral"),
      tile("Open exceptions", String(waiting.length),
        waiting.length ? `oldest opened ${ago(waiting[waiting.length - 1].opened_at)}` : "nothing is waiting for a person",
        waiting.length ? "warn" : "good"),
      recon,
    );
  }

  // -- exceptions queue ------------------------------------------------------------

  function explanationOf(exception) {
    const set = exception.process === "reconciliation"
      ? summary.explanations.reconciliation : summary.explanations.parked;
    return set[exception.reason] || {
      title: exception.reason.replaceAll("_", " "),
      what_happened: "Syncline stopped here and needs a person.",
      what_to_do: "Read the message below, fix the data, then press Retry.",
    };
  }

  function exceptionItem(x) {
    const words = explanationOf(x);
    const headingId = `exception-${x.id.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    const actions = el("div", { className: "buttons" });
    if (x.status !== "resolved" && may("operator")) {
      actions.append(el("button", {
        type: "button", "aria-describedby": headingId, "data-key": `${x.id}:retry`,
        onclick: (e) => retry(x, e.currentTarget).catch(reportFailure),
      }, "Retry"));
    }
    if (x.crm_opportunity_id) {
      actions.append(el("button", {
        type: "button", className: "secondary", "aria-describedby": headingId,
        "data-key": `${x.id}:timeline`, onclick: () => showDeal(x.crm_opportunity_id).catch(reportFailure),
      }, "Open timeline"));
    }
    actions.append(el("a", {
      href: summary.temporal_workflows_url + encodeURIComponent(x.workflow_id),
      target: "_blank", rel: "noopener noreferrer",
    }, "Temporal Web UI"));
    return el("li", { className: `exception ${x.status}`, "data-key": x.id },
      el("h3", { id: headingId }, words.title),
      el("p", { className: "subject" },
        `${PROCESS[x.process] || x.process} ${x.subject_id} · ${EXCEPTION_STATUS[x.status] || x.status}`
        + ` · opened ${ago(x.opened_at)}` + (x.retry_count ? ` · ${plural(x.retry_count, "retry", "retries")}` : "")),
      el("p", {}, el("strong", {}, "What happened: "), words.what_happened),
      el("p", {}, el("strong", {}, "What to do: "), words.what_to_do),
      x.history.length ? el("ul", { className: "history", "aria-label": "What operators did" },
        x.history.map((h) => el("li", {}, historyLine(h)))) : null,
      el("details", { "data-key": `${x.id}:details` }, el("summary", {}, "Details from Syncline"),
        el("p", { className: "message" }, x.message),
        el("p", { className: "muted" }, `Reason ${x.reason} at step ${x.step}; exception ${x.id}`)),
      actions);
  }

  function historyLine(h) {
    const who = h.role ? `${h.actor} (${h.role})` : h.actor || "someone unknown";
    const what = h.outcome === "done"
      ? `${actionWords(h.action)} requested by ${who}`
      : `${actionWords(h.action)} by ${who} ${h.outcome}`;
    return `${what}, ${ago(h.at)}`;
  }

  function lastActor(exception) {
    const done = exception.history.filter((h) => h.outcome === "done");
    return done.length ? done[done.length - 1].actor : null;
  }

  function renderExceptions(exceptions) {
    const waiting = exceptions.filter((x) => x.status !== "resolved");
    const dayAgo = Date.now() - 86400000;
    const resolved = exceptions.filter((x) => x.status === "resolved" && new Date(x.resolved_at).getTime() > dayAgo);
    const list = $("exceptions");
    list.setAttribute("aria-label", "Waiting exceptions");
    // A refresh must not close what the operator opened or move their focus.
    const opened = [...list.querySelectorAll("details[open]")].map((d) => d.dataset.key);
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    if (!waiting.length) {
      list.replaceChildren(el("li", { className: "empty" }, "No open exceptions. Nothing is waiting for a person."));
    } else {
      list.replaceChildren(...waiting.map(exceptionItem));
    }
    for (const node of list.querySelectorAll("[data-key]")) {
      if (opened.includes(node.dataset.key)) node.open = true;
      if (focused && node.dataset.key === focused) node.focus();
    }
    const old = $("resolved");
    if (old) old.remove();
    if (resolved.length) {
      list.after(el("details", { id: "resolved" },
        el("summary", {}, `Resolved in the last 24 hours (${resolved.length})`),
        el("ul", { className: "resolved-list", "aria-label": "Resolved exceptions" },
          resolved.slice(0, 10).map((x) => el("li", {},
            `${explanationOf(x).title}: ${x.subject_id}, resolved ${ago(x.resolved_at)}`
            + ` after ${plural(x.retry_count, "retry", "retries")}`
            + (lastActor(x) ? `, the last requested by ${lastActor(x)}` : ""))))));
    }
  }

  async function retry(exception, button) {
    button.disabled = true;
    const status = $("retry-status");
    status.textContent = `Retrying ${exception.subject_id}…`;
    const response = await api(`/api/exceptions/${encodeURIComponent(exception.id)}/retry`, { method: "POST" });
    if (response.status === 202) {
      status.textContent = `Retry requested for ${exception.subject_id}. The run resumes at step ${exception.step}.`;
    } else {
      const problem = await response.json().catch(() => ({}));
      status.textContent = `Retry refused: ${problem.detail || response.status}`;
    }
    // The run answers within seconds: look again soon rather than at the next tick.
    for (const delay of [1000, 2500, 5000]) {
      setTimeout(() => refresh().catch(reportFailure), delay);
    }
  }

  // -- a deal's timeline -----------------------------------------------------------

  function renderRecentDeals() {
    const deals = summary.recent_deals;
    if (!deals.length) {
      $("recent-deals").replaceChildren(el("p", { className: "muted" }, "No deal has reached Syncline yet."));
      return;
    }
    $("recent-deals").replaceChildren(
      el("h3", {}, "Recent deals"),
      el("ul", { className: "recent" }, deals.map((d) => el("li", {},
        el("button", { type: "button", className: "link", onclick: () => showDeal(d.crm_opportunity_id).catch(reportFailure) },
          d.crm_opportunity_id),
        ` ${DEAL_STATUS[d.status] || d.status || "starting"}, ${ago(d.started_at)}`))));
  }

  async function showDeal(opportunityId) {
    $("deal-id").value = opportunityId;
    const target = $("deal");
    target.replaceChildren(el("p", { className: "muted" }, `Loading ${opportunityId}…`));
    const response = await api(`/api/deals/${encodeURIComponent(opportunityId)}`);
    if (response.status === 404) {
      target.replaceChildren(el("p", { className: "error" }, `No deal ${opportunityId} has reached Syncline.`));
      return;
    }
    if (!response.ok) {
      target.replaceChildren(el("p", { className: "error" }, `The deal could not be read (${response.status}).`));
      return;
    }
    const deal = await response.json();
    const facts = [
      ["Status", DEAL_STATUS[deal.status] || deal.status],
      ["ERP order", deal.erp_order_number || deal.erp_order_id || "none yet"],
      ["Billing", !deal.billing || deal.billing.status === "not_invoiced" ? "not invoiced yet"
        : `${deal.billing.status.replaceAll("_", " ")}: ${deal.billing.paid_amount} of ${deal.billing.invoiced_amount} ${deal.billing.currency} paid`],
      ["Webhook deliveries", `${deal.deliveries} (${deal.duplicate_deliveries} duplicates ignored)`],
      ["Correlation id", deal.correlation_id],
    ];
    if (deal.detail) facts.splice(1, 0, ["Detail", deal.detail]);
    const rows = deal.timeline.map((entry) => el("tr", {},
      el("th", { scope: "row" }, utcSeconds(entry.at)),
      SYSTEMS.map(([system]) => el("td", { className: system === entry.system ? `lane ${system}` : "" },
        system === entry.system ? entry.summary : ""))));
    target.replaceChildren(el("article", { "aria-labelledby": "deal-heading" },
      el("h3", { id: "deal-heading" }, `Opportunity ${deal.crm_opportunity_id}`),
      el("dl", { className: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("p", {}, el("a", { href: deal.temporal_ui_url, target: "_blank", rel: "noopener noreferrer" },
        "Open the workflow in the Temporal Web UI")),
      el("table", { className: "timeline" },
        el("caption", {}, "Timeline across CRM, Syncline and ERP, oldest first"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", className: "time" }, "Time (UTC)"),
          SYSTEMS.map(([, label]) => el("th", { scope: "col" }, label)))),
        el("tbody", {}, rows))));
  }

  // -- reconciliation --------------------------------------------------------------

  async function reconcileNow(button) {
    button.disabled = true;
    const started = await json("/api/reconciliations", { method: "POST", body: "{}" });
    $("reconciliation").prepend(el("p", { role: "status" }, `Reconciliation ${started.id} started.`));
    for (const delay of [2000, 5000, 10000]) setTimeout(() => refresh().catch(reportFailure), delay);
  }

  function renderReconciliation(run) {
    const start = may("operator") ? el("button", {
      type: "button", onclick: (e) => reconcileNow(e.currentTarget).catch(reportFailure),
    }, "Run reconciliation now") : null;
    if (!run) {
      $("reconciliation").replaceChildren(
        el("p", {}, "No reconciliation has run yet. The nightly schedule compares CRM, ERP and the ledger at 02:00"
          + (start ? "; you can run one now." : ".")),
        start);
      return;
    }
    const verdict = run.status === "running" ? "Still running."
      : run.unexplained === 0 ? "CRM, ERP and the ledger agree: nothing is unexplained."
        : `${plural(run.unexplained, "difference")} ${run.unexplained === 1 ? "needs" : "need"} a person (see the exceptions queue).`;
    const domains = el("table", {},
      el("caption", {}, "Per domain"),
      el("thead", {}, el("tr", {}, ["Domain", "Compared", "Differences", "Repaired", "Open"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, run.domains.map((d) => el("tr", {},
        el("th", { scope: "row" }, d.domain), el("td", {}, d.compared),
        el("td", {}, Object.entries(d.by_class).map(([k, n]) => `${n} ${k.replaceAll("_", " ")}`).join(", ") || "none"),
        el("td", {}, d.repaired), el("td", {}, d.open)))));
    const metrics = el("table", {},
      el("caption", {}, "Money per metric"),
      el("thead", {}, el("tr", {}, ["Metric", "Currency", "CRM", "ERP", "Ledger", "Ledger short of ERP"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, run.metrics.length ? run.metrics.map((m) => el("tr", {},
        el("th", { scope: "row" }, m.metric), el("td", {}, m.currency), el("td", {}, m.crm ?? "—"),
        el("td", {}, m.erp), el("td", {}, m.ledger), el("td", {}, m.variance)))
        : el("tr", {}, el("td", { colspan: "6" }, "No money compared."))));
    $("reconciliation").replaceChildren(
      el("p", { className: "verdict" }, verdict),
      el("p", { className: "muted" },
        `Run ${run.id} (${run.trigger}${run.requested_by ? `, by ${run.requested_by}` : ""}), started ${utc(run.started_at)}`
        + (run.finished_at ? `, took ${seconds(run.duration_seconds)}` : "") + ". ",
        el("a", { href: summary.temporal_workflows_url + encodeURIComponent(run.id), target: "_blank", rel: "noopener noreferrer" },
          "Temporal Web UI")),
      el("div", { className: "tables" }, domains, metrics),
      start);
  }

  // -- the audit trail (admins) ------------------------------------------------------

  function renderAudit(entries) {
    if (!entries.length) {
      $("audit").replaceChildren(el("p", { className: "muted" }, "Nothing recorded yet."));
      return;
    }
    $("audit").replaceChildren(el("table", {},
      el("caption", {}, "Latest operator actions and refused attempts"),
      el("thead", {}, el("tr", {}, ["Time (UTC)", "Who", "Role", "Action", "On", "Outcome", "From"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, entries.map((e) => el("tr", {},
        el("th", { scope: "row" }, utcSeconds(e.at)),
        el("td", {}, e.actor || "unknown"), el("td", {}, e.role || "—"),
        el("td", {}, actionWords(e.action)), el("td", {}, e.target || "—"),
        el("td", {}, e.outcome + (e.status ? ` (${e.status})` : "") + (e.reason ? `: ${e.reason}` : "")),
        el("td", {}, e.address || "—"))))));
  }

  // -- charts ----------------------------------------------------------------------

  function renderCharts(feed) {
    const charts = window.SynclineCharts;
    const hours = summary.deliveries_per_hour;
    const deliveries = charts.columns({
      title: "Webhook deliveries per hour, last 24 hours (UTC)",
      rows: hours.map((h, i) => ({
        label: utc(h.hour), values: h.by_status,
        tick: i % 6 === 0 || i === hours.length - 1 ? new Date(h.hour).toISOString().slice(11, 13) + ":00" : "",
      })),
      series: DELIVERY_SERIES,
      describe: (rows, totals) => {
        const sum = totals.reduce((a, b) => a + b, 0);
        const byStatus = DELIVERY_SERIES.map((s) => [s.label, rows.reduce((a, r) => a + (r.values[s.key] || 0), 0)])
          .filter(([, n]) => n).map(([l, n]) => `${n} ${l}`).join(", ");
        return `${plural(sum, "delivery", "deliveries")} in the last 24 hours: ${byStatus}`;
      },
      emptyText: "No webhook deliveries in the last 24 hours.",
    });
    const bands = summary.age_bands.map((label, i) => ({ key: label, label, color: AGE_COLORS[i] }));
    const backlog = charts.bars({
      title: "Exception backlog by reason and age",
      rows: summary.exception_backlog.map((b) => ({
        label: (b.process === "reconciliation" ? summary.explanations.reconciliation : summary.explanations.parked)[b.reason]?.title || b.reason,
        values: b.by_age,
      })),
      series: bands,
      describe: (rows, sums) => rows.map((r, i) => `${r.label}: ${sums[i]} waiting`).join("; "),
      emptyText: "No exceptions waiting.",
    });
    const deals = summary.deals_by_status || {};
    const dealChart = charts.bars({
      title: "Deals by lifecycle state",
      rows: Object.entries(deals).filter(([, n]) => n > 0).map(([s, n]) => ({ label: DEAL_STATUS[s], values: { n } })),
      series: [{ key: "n", label: "deals", color: "#0969da" }],
      describe: (rows, sums) => rows.map((r, i) => `${r.label}: ${sums[i]}`).join("; "),
      emptyText: "No deals yet.",
    });
    const lag = charts.bars({
      title: "ERP change feed lag (ERP change to ledger), seconds",
      rows: feed && feed.lag_p50_seconds !== null ? [
        { label: "median (p50)", values: { s: feed.lag_p50_seconds } },
        { label: "95th percentile", values: { s: feed.lag_p95_seconds } },
      ] : [],
      series: [{ key: "s", label: "seconds", color: "#8250df" }],
      format: (v) => `${v.toFixed(2)} s`,
      describe: (rows, sums) => rows.map((r, i) => `${r.label} ${sums[i].toFixed(2)} seconds`).join("; "),
      emptyText: feed ? "No lag measured yet." : "The ERP change feed is not running.",
    });
    $("charts").replaceChildren(deliveries, backlog, dealChart, lag, varianceFigure(charts));
  }

  function varianceFigure(charts) {
    const byMetric = new Map();
    for (const point of summary.reconciliation_variance) {
      const key = `${point.metric} ${point.currency}`;
      if (!byMetric.has(key)) byMetric.set(key, []);
      byMetric.get(key).push({ value: Number(point.variance), text: point.variance });
    }
    const root = el("figure", { className: "chart" },
      el("figcaption", {}, "Reconciliation variance per metric (ERP minus ledger), last runs"));
    if (!byMetric.size) {
      root.append(el("p", { className: "empty" }, "No finished reconciliation yet."));
      return root;
    }
    root.append(el("ul", { className: "sparklines" }, [...byMetric].map(([key, points]) => el("li", {},
      el("span", { className: "spark-label" }, key),
      charts.sparkline({ label: `${key} variance`, points }),
      el("span", { className: "spark-value" }, `now ${points[points.length - 1].text}`)))));
    return root;
  }

  // -- wiring ----------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (event) => signIn(event).catch(reportFailure));
    $("sign-out").addEventListener("click", () => signOut());
    $("refresh").addEventListener("click", () => refresh().catch(reportFailure));
    $("deal-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("deal-id").value.trim();
      if (id) showDeal(id).catch(reportFailure);
    });
    if (sessionStorage.getItem(TOKEN_KEY)) {
      refresh().then(() => showConsole(true)).catch(reportFailure);
    } else {
      showConsole(false);
    }
  });
})();
