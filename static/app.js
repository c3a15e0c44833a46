// sift's search page: a reference for wiring a type-ahead box to sift.
//
// * One request per keystroke, lightly debounced; each new request aborts the one
//   before (AbortController), and a response is drawn only if it answers the latest
//   request (sequence numbers), so a late answer never overwrites a newer one.
// * The results list is an ARIA combobox listbox: ↑/↓ move, Enter opens the document,
//   Esc closes the panel (or clears the selection).
// * Highlights arrive HTML-escaped from the server with <mark> tags, so they are the
//   only server text put in as HTML; everything else is set as text.
"use strict";

const DEBOUNCE_MS = 60;
const ENGINES = ["index", "ilike", "fts"];

const $ = (id) => document.getElementById(id);
const input = $("q");
const picker = $("collection");
const results = $("results");
const statusLine = $("status");
const facetsBox = $("facets");
const filtersBox = $("filters");
const timings = $("timings");
const panel = $("panel");

const state = {
  collections: [],
  collection: null,
  filters: [], // [{field, value}]
  active: -1,
  hits: [],
  seq: 0, // the latest search sent
  controller: null,
  compareController: null,
  timer: null,
  lastFocus: null,
};

function engine() {
  const checked = document.querySelector('input[name="engine"]:checked');
  return checked ? checked.value : "index";
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

// The error message of a failed response, in the documented shape when it is one.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  if (response.status === 503) return "The service is unavailable; retry in a moment.";
  return `The service answered ${response.status}.`;
}

function facetFields() {
  const c = state.collection;
  return c ? c.fields.filter((f) => f.facet && f.type === "keyword").map((f) => f.name) : [];
}

// The card title is a field named like a title, else the first text field declared;
// the rest follow in their declared order. Boosts rank; they don't name documents (boost
// `author` and every card would be titled with an author).
function displayFields() {
  const c = state.collection;
  const text = c ? c.fields.filter((f) => f.type === "text").map((f) => f.name) : [];
  const titled = ["title", "name", "label", "heading"]
    .map((wanted) => text.find((n) => n.toLowerCase() === wanted))
    .find((n) => n !== undefined);
  return titled ? [titled, ...text.filter((n) => n !== titled)] : text;
}

function filterExpression() {
  return state.filters
    .map((f) => `${f.field} = "${String(f.value).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`)
    .join(" AND ");
}

function searchUrl(q, engineName, limit) {
  const params = new URLSearchParams({ q, limit: String(limit), engine: engineName });
  const filter = filterExpression();
  if (filter) params.set("filter", filter);
  const facets = facetFields();
  if (facets.length && engineName === "index") params.set("facets", facets.join(","));
  return `/v1/collections/${encodeURIComponent(state.collection.name)}/search?${params}`;
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(search, DEBOUNCE_MS);
}

async function search() {
  if (!state.collection) return;
  const seq = ++state.seq;
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const q = input.value;
  const engineName = engine();
  let response;
  try {
    response = await fetch(searchUrl(q, engineName, 10), { signal: controller.signal });
  } catch (error) {
    if (error.name === "AbortError") return;
    if (seq === state.seq) showError("The service is unavailable; check that sift is running.");
    return;
  }
  if (seq !== state.seq) return; // a newer request is on its way
  if (!response.ok) {
    showError(await errorMessage(response));
    return;
  }
  let body;
  try {
    body = await response.json();
  } catch (error) {
    if (error.name !== "AbortError" && seq === state.seq) showError("The answer could not be read.");
    return;
  }
  if (seq !== state.seq) return;
  render(q, engineName, body);
}

function showError(message) {
  state.hits = [];
  results.replaceChildren();
  facetsBox.replaceChildren();
  setActive(-1);
  input.setAttribute("aria-expanded", "false");
  setStatus(message, true);
}

function render(q, engineName, body) {
  state.hits = body.hits;
  results.replaceChildren();
  const display = displayFields();
  body.hits.forEach((hit, i) => {
    const li = document.createElement("li");
    li.id = `result-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.dataset.id = hit.id;
    const title = document.createElement("div");
    title.className = "title";
    const main = display[0];
    if (main && hit.highlights && hit.highlights[main]) title.innerHTML = hit.highlights[main];
    else title.textContent = (main && hit.document[main]) || hit.id;
    li.appendChild(title);
    const second = display[1];
    if (second && (hit.document[second] || (hit.highlights && hit.highlights[second]))) {
      const snippet = document.createElement("div");
      snippet.className = "snippet";
      if (hit.highlights && hit.highlights[second]) snippet.innerHTML = hit.highlights[second];
      else snippet.textContent = String(hit.document[second]).slice(0, 200);
      li.appendChild(snippet);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = hit.id;
    li.appendChild(meta);
    li.addEventListener("click", () => {
      setActive(i);
      openDocument(hit.id);
    });
    results.appendChild(li);
  });
  setActive(body.hits.length ? 0 : -1);
  input.setAttribute("aria-expanded", body.hits.length ? "true" : "false");
  const where = body.cache ? ` · cache ${body.cache}` : "";
  if (!body.hits.length) {
    setStatus(q.trim() ? `No results for “${q}” (${body.tookMs} ms, ${engineName}).` : "No documents yet.");
  } else {
    setStatus(`${body.total} result${body.total === 1 ? "" : "s"} · ${body.tookMs} ms server time · ${engineName}${where}`);
  }
  renderFacets(body.facets || {});
}

function renderFacets(facets) {
  facetsBox.replaceChildren();
  for (const [field, found] of Object.entries(facets)) {
    // A value chosen as a filter stays on show (with 0) so it can be taken back; a
    // facet with nothing to show gets no heading.
    const counts = [...found];
    for (const f of state.filters) {
      if (f.field === field && !counts.some((c) => c.value === f.value)) counts.push({ value: f.value, count: 0 });
    }
    if (!counts.length) continue;
    const heading = document.createElement("h3");
    heading.textContent = field;
    facetsBox.appendChild(heading);
    const chips = document.createElement("div");
    chips.className = "chips";
    for (const { value, count } of counts) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      const on = state.filters.some((f) => f.field === field && f.value === value);
      chip.setAttribute("aria-pressed", on ? "true" : "false");
      chip.textContent = `${value} (${count})`;
      chip.addEventListener("click", () => toggleFilter(field, value));
      chips.appendChild(chip);
    }
    facetsBox.appendChild(chips);
  }
}

function toggleFilter(field, value) {
  const at = state.filters.findIndex((f) => f.field === field && f.value === value);
  if (at >= 0) state.filters.splice(at, 1);
  else state.filters.push({ field, value });
  renderFilters();
  search();
  compare();
}

function renderFilters() {
  filtersBox.replaceChildren();
  for (const f of state.filters) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip";
    chip.setAttribute("aria-pressed", "true");
    chip.setAttribute("aria-label", `Remove filter ${f.field} = ${f.value}`);
    chip.textContent = `${f.field}: ${f.value} ✕`;
    chip.addEventListener("click", () => toggleFilter(f.field, f.value));
    filtersBox.appendChild(chip);
  }
}

function setActive(i) {
  const items = results.querySelectorAll('[role="option"]');
  items.forEach((item, n) => item.setAttribute("aria-selected", n === i ? "true" : "false"));
  state.active = i;
  if (i >= 0 && items[i]) {
    input.setAttribute("aria-activedescendant", items[i].id);
    items[i].scrollIntoView({ block: "nearest" });
  } else {
    input.removeAttribute("aria-activedescendant");
  }
}

// Runs the query on every engine and shows their server times side by side.
async function compare() {
  if (!state.collection) return;
  if (state.compareController) state.compareController.abort();
  const controller = new AbortController();
  state.compareController = controller;
  const q = input.value;
  const rows = await Promise.all(ENGINES.map(async (name) => {
    try {
      const response = await fetch(searchUrl(q, name, 10), { signal: controller.signal });
      if (!response.ok) return [name, await errorMessage(response), "", ""];
      const body = await response.json();
      return [name, `${body.tookMs} ms`, String(body.total), body.cache || ""];
    } catch (error) {
      return error.name === "AbortError" ? null : [name, "unavailable", "", ""];
    }
  }));
  if (controller !== state.compareController || rows.some((r) => r === null)) return;
  const tbody = timings.querySelector("tbody");
  tbody.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.engine = row[0];
    for (const cell of row) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  timings.hidden = false;
}

async function openDocument(id) {
  const response = await fetch(
    `/v1/collections/${encodeURIComponent(state.collection.name)}/documents/${encodeURIComponent(id)}`,
  ).catch(() => null);
  if (!response) return setStatus("The service is unavailable.", true);
  if (!response.ok) return setStatus(await errorMessage(response), true);
  const body = await response.json();
  $("panel-title").textContent = id;
  $("panel-json").textContent = JSON.stringify(body, null, 2);
  state.lastFocus = document.activeElement;
  panel.hidden = false;
  $("panel-close").focus();
}

function closePanel() {
  if (panel.hidden) return false;
  panel.hidden = true;
  (state.lastFocus || input).focus();
  return true;
}

input.addEventListener("input", () => {
  schedule();
  clearTimeout(state.compareTimer);
  if (!timings.hidden) state.compareTimer = setTimeout(compare, 300);
});

input.addEventListener("keydown", (event) => {
  const count = state.hits.length;
  if (event.key === "ArrowDown" && count) {
    event.preventDefault();
    setActive((state.active + 1) % count);
  } else if (event.key === "ArrowUp" && count) {
    event.preventDefault();
    setActive(state.active <= 0 ? count - 1 : state.active - 1);
  } else if (event.key === "Enter") {
    event.preventDefault();
    const hit = state.hits[state.active];
    if (hit) openDocument(hit.id);
  } else if (event.key === "Escape") {
    if (!closePanel()) {
      setActive(-1);
      input.setAttribute("aria-expanded", "false");
    }
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) {
    event.preventDefault();
    closePanel();
  }
});
$("panel-close").addEventListener("click", closePanel);
panel.addEventListener("click", (event) => { if (event.target === panel) closePanel(); });

document.querySelectorAll('input[name="engine"]').forEach((radio) =>
  radio.addEventListener("change", () => {
    search();
    compare();
  }));

// The placeholder names the collection being searched.
function setPlaceholder() {
  input.placeholder = state.collection ? `Search ${state.collection.name}…` : "Search…";
}

// The collection chosen last is opened next time (per browser).
const REMEMBERED = "sift.collection";
// The demo collection `scripts/serve.sh` loads: what a first visit opens, rather than
// whatever sorts first (a benchmark's `bench-…` collection, say).
const DEMO = "products";

picker.addEventListener("change", () => {
  state.collection = state.collections.find((c) => c.name === picker.value) || null;
  try {
    localStorage.setItem(REMEMBERED, picker.value);
  } catch (_) {
    // Storage may be disabled; the choice is then only for this visit.
  }
  setPlaceholder();
  state.filters = [];
  renderFilters();
  search();
});

async function start() {
  let response;
  try {
    response = await fetch("/v1/collections");
  } catch (_) {
    return setStatus("The service is unavailable; check that sift is running.", true);
  }
  if (!response.ok) return setStatus(await errorMessage(response), true);
  const body = await response.json();
  state.collections = body.data;
  picker.replaceChildren();
  for (const c of state.collections) {
    const option = document.createElement("option");
    option.value = c.name;
    option.textContent = c.name;
    picker.appendChild(option);
  }
  if (!state.collections.length) {
    return setStatus("No collections yet: create one with POST /v1/collections (see Swagger UI).");
  }
  // `?collection=` first, then the one chosen last, then the demo, then the first.
  let remembered = null;
  try {
    remembered = localStorage.getItem(REMEMBERED);
  } catch (_) {
    // Storage disabled: nothing remembered.
  }
  const find = (name) => state.collections.find((c) => c.name === name);
  state.collection =
    find(new URLSearchParams(location.search).get("collection")) ||
    find(remembered) ||
    find(DEMO) ||
    state.collections[0];
  picker.value = state.collection.name;
  setPlaceholder();
  document.body.dataset.ready = "true";
  input.focus();
  search();
}

start();
