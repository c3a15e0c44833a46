// sift's search page: a reference for wiring a type-ahead box to sift.
//
// * One request per keystroke, lightly debounced; each new request aborts the one
//   before (AbortController), and a response is drawn only if it answers the latest
//   request (sequence numbers), so a late answer never overwrites a newer one.
// * The results list is an ARIA combobox listbox: ↑/↓ move, Enter opens the document,
//   Esc closes the panel (or clears the selection).
// * Highlights arrive HTML-escaped from the server with <mark> tags, so they are the
//   only server text put in as HTML; everything else is set as text.
// * Facets are disjunctive, as on Algolia's and Meilisearch's demo pages: values of one
//   facet are OR-ed, facets are AND-ed, and each facet with a value chosen gets its
//   counts from a search without its own filter (so the other values keep their counts
//   and can be added). Numeric and date fields that can be filtered get a range.
// * Sort by relevance or any sortable field; "Load more" appends the next page.
// * What a card shows can be set per page: `?title=field&subtitle=field&image=field`
//   (the image field holds an http(s) URL).
"use strict";

const DEBOUNCE_MS = 60;
const PAGE = 10;
// The API pages up to offset + limit = 1000.
const MAX_HITS = 1000;
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
const sorter = $("sort");
const rangesBox = $("ranges");
const more = $("more");

const state = {
  collections: [],
  collection: null,
  filters: [], // [{field, value}]: values of one field are OR-ed, fields AND-ed
  ranges: {}, // field → {min, max} as typed ("" when open)
  total: 0,
  query: "", // the query the hits answer (for "Load more")
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

// What a card shows: the page's `?title=`, `?subtitle=` and `?image=` when they name
// fields of the collection; else as title a text field named like a title, else the
// first text field declared, and the next text field below it. Boosts rank; they
// don't name documents (boost `author` and every card would be titled with an author).
function display() {
  const c = state.collection;
  const names = c ? c.fields.map((f) => f.name) : [];
  const text = c ? c.fields.filter((f) => f.type === "text").map((f) => f.name) : [];
  const page = new URLSearchParams(location.search);
  const chosen = (param) => (names.includes(page.get(param)) ? page.get(param) : null);
  const titled = ["title", "name", "label", "heading"]
    .map((wanted) => text.find((n) => n.toLowerCase() === wanted))
    .find((n) => n !== undefined);
  const title = chosen("title") || titled || text[0] || null;
  const subtitle = chosen("subtitle") || text.find((n) => n !== title) || null;
  return { title, subtitle, image: chosen("image") };
}

// A field's value by its path: `author.name` is `name` in the object `author`.
const at = (doc, path) =>
  path.split(".").reduce((v, name) => (v !== null && typeof v === "object" && !Array.isArray(v) ? v[name] : undefined), doc);

const quoted = (value) => `"${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

// The filter of the page's choices, leaving out those on `except` (a facet's own).
function filterExpression(except = null) {
  const parts = [];
  const byField = new Map();
  for (const f of state.filters) {
    if (f.field === except) continue;
    if (!byField.has(f.field)) byField.set(f.field, []);
    byField.get(f.field).push(`${f.field} = ${quoted(f.value)}`);
  }
  for (const ors of byField.values()) parts.push(ors.length > 1 ? `(${ors.join(" OR ")})` : ors[0]);
  for (const [field, { min, max }] of Object.entries(state.ranges)) {
    const type = state.collection.fields.find((f) => f.name === field)?.type;
    // Dates as typed (YYYY-MM-DD) cover the whole day.
    const bound = (value, end) =>
      type === "datetime" ? quoted(`${value}T${end ? "23:59:59" : "00:00:00"}Z`) : Number(value);
    if (min !== "") parts.push(`${field} >= ${bound(min, false)}`);
    if (max !== "") parts.push(`${field} <= ${bound(max, true)}`);
  }
  return parts.join(" AND ");
}

function searchUrl(q, engineName, limit, { offset = 0, facets = facetFields(), except = null } = {}) {
  const params = new URLSearchParams({ q, limit: String(limit), engine: engineName });
  if (offset) params.set("offset", String(offset));
  const filter = filterExpression(except);
  if (filter) params.set("filter", filter);
  if (facets.length && engineName === "index") params.set("facets", facets.join(","));
  if (sorter.value) params.set("sort", sorter.value);
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
  // Facets with a value chosen are counted without their own filter, one search each.
  const chosen = engineName === "index" ? [...new Set(state.filters.map((f) => f.field))] : [];
  const open = facetFields().filter((f) => !chosen.includes(f));
  const urls = [
    searchUrl(q, engineName, PAGE, { facets: open }),
    ...chosen.map((field) => searchUrl(q, engineName, 1, { facets: [field], except: field })),
  ];
  let bodies;
  try {
    bodies = await Promise.all(urls.map(async (url) => {
      const response = await fetch(url, { signal: controller.signal });
      if (!response.ok) throw new Error(await errorMessage(response));
      return response.json();
    }));
  } catch (error) {
    if (error.name === "AbortError" || seq !== state.seq) return; // a newer request is on its way
    showError(error instanceof TypeError ? "The service is unavailable; check that sift is running." : error.message);
    return;
  }
  if (seq !== state.seq) return;
  const [body, ...own] = bodies;
  const facets = { ...(body.facets || {}) };
  chosen.forEach((field, i) => { facets[field] = (own[i].facets || {})[field] || []; });
  state.query = q;
  render(q, engineName, { ...body, facets });
}

// Appends the next page of the same search.
async function loadMore() {
  const seq = state.seq;
  const engineName = engine();
  const url = searchUrl(state.query, engineName, PAGE, { offset: state.hits.length, facets: [] });
  const response = await fetch(url).catch(() => null);
  if (seq !== state.seq) return; // the search changed meanwhile
  if (!response) return setStatus("The service is unavailable; check that sift is running.", true);
  if (!response.ok) return setStatus(await errorMessage(response), true);
  const body = await response.json();
  if (seq !== state.seq) return;
  const from = state.hits.length;
  state.hits = state.hits.concat(body.hits);
  body.hits.forEach((hit, i) => results.appendChild(card(hit, from + i)));
  setActive(from < state.hits.length ? from : state.active);
  showMore();
}

function showMore() {
  more.hidden = !(state.hits.length < state.total && state.hits.length < MAX_HITS);
}

function showError(message) {
  state.hits = [];
  results.replaceChildren();
  facetsBox.replaceChildren();
  setActive(-1);
  input.setAttribute("aria-expanded", "false");
  setStatus(message, true);
}

// One result card: highlighted text where the server marked it, plain text otherwise.
function card(hit, i) {
  const shown = display();
  const li = document.createElement("li");
  li.id = `result-${i}`;
  li.setAttribute("role", "option");
  li.setAttribute("aria-selected", "false");
  li.dataset.id = hit.id;
  const doc = hit.document || {};
  const highlights = hit.highlights || {};
  const imageUrl = shown.image && at(doc, shown.image);
  if (typeof imageUrl === "string" && /^https?:\/\//i.test(imageUrl)) {
    const img = document.createElement("img");
    img.src = imageUrl;
    img.alt = "";
    img.loading = "lazy";
    li.appendChild(img);
  }
  const title = document.createElement("div");
  title.className = "title";
  if (shown.title && highlights[shown.title]) title.innerHTML = highlights[shown.title];
  else title.textContent = shown.title && at(doc, shown.title) != null ? String(at(doc, shown.title)) : hit.id;
  li.appendChild(title);
  const second = shown.subtitle;
  if (second && (at(doc, second) != null || highlights[second])) {
    const snippet = document.createElement("div");
    snippet.className = "snippet";
    if (highlights[second]) snippet.innerHTML = highlights[second];
    else snippet.textContent = String(at(doc, second)).slice(0, 200);
    li.appendChild(snippet);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  // The id, and the value the results are sorted by, so the order can be seen.
  const sortedBy = sorter.value.split(":")[0];
  meta.textContent = sortedBy && at(doc, sortedBy) != null ? `${hit.id} · ${sortedBy} ${at(doc, sortedBy)}` : hit.id;
  li.appendChild(meta);
  li.addEventListener("click", () => {
    setActive(i);
    openDocument(hit.id);
  });
  return li;
}

function render(q, engineName, body) {
  state.hits = body.hits;
  state.total = body.total;
  results.replaceChildren(...body.hits.map((hit, i) => card(hit, i)));
  showMore();
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

// A value as a person reads it: lists joined, dates in the reader's locale.
function readable(value, type) {
  if (Array.isArray(value)) return value.map((v) => readable(v, type)).join(", ");
  if (type === "datetime" && typeof value === "string") {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date.toLocaleString();
  }
  if (type === "bool") return value ? "yes" : "no";
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

async function openDocument(id) {
  const response = await fetch(
    `/v1/collections/${encodeURIComponent(state.collection.name)}/documents/${encodeURIComponent(id)}`,
  ).catch(() => null);
  if (!response) return setStatus("The service is unavailable.", true);
  if (!response.ok) return setStatus(await errorMessage(response), true);
  const body = await response.json();
  $("panel-title").textContent = id;
  // The declared fields in their order, then any others the document holds.
  const doc = body.document || {};
  const declared = state.collection.fields;
  const names = [...declared.map((f) => f.name), ...Object.keys(doc).filter((k) => !declared.some((f) => f.name === k || f.name.startsWith(`${k}.`)))];
  const list = $("panel-fields");
  list.replaceChildren();
  for (const name of names) {
    if (at(doc, name) === undefined) continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = readable(at(doc, name), declared.find((f) => f.name === name)?.type);
    list.append(dt, dd);
  }
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

// The sort choices: relevance, then each sortable field both ways.
function renderSort() {
  sorter.replaceChildren(new Option("Relevance", ""));
  for (const f of (state.collection ? state.collection.fields : []).filter((f) => f.sortable)) {
    sorter.add(new Option(`${f.name} ↑`, `${f.name}:asc`));
    sorter.add(new Option(`${f.name} ↓`, `${f.name}:desc`));
  }
}

// A min/max pair for each numeric or date field that can be filtered.
function renderRanges() {
  rangesBox.replaceChildren();
  state.ranges = {};
  const ranged = (state.collection ? state.collection.fields : []).filter(
    (f) => (f.filterable || f.sortable || f.facet) && ["integer", "float", "datetime"].includes(f.type),
  );
  for (const f of ranged) {
    const set = document.createElement("fieldset");
    const legend = document.createElement("legend");
    legend.textContent = f.name;
    set.appendChild(legend);
    for (const side of ["min", "max"]) {
      const box = document.createElement("input");
      box.type = f.type === "datetime" ? "date" : "number";
      if (f.type !== "datetime") box.step = "any";
      box.id = `range-${f.name}-${side}`;
      box.placeholder = side;
      box.setAttribute("aria-label", `${f.name} ${side}`);
      box.addEventListener("input", () => {
        state.ranges[f.name] = state.ranges[f.name] || { min: "", max: "" };
        state.ranges[f.name][side] = box.value;
        schedule();
      });
      set.appendChild(box);
      if (side === "min") set.append(" – ");
    }
    rangesBox.appendChild(set);
  }
}

function collectionChosen() {
  state.filters = [];
  renderFilters();
  renderSort();
  renderRanges();
  setPlaceholder();
}

sorter.addEventListener("change", () => {
  search();
  compare();
});
more.addEventListener("click", loadMore);

picker.addEventListener("change", () => {
  state.collection = state.collections.find((c) => c.name === picker.value) || null;
  try {
    localStorage.setItem(REMEMBERED, picker.value);
  } catch (_) {
    // Storage may be disabled; the choice is then only for this visit.
  }
  collectionChosen();
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
  collectionChosen();
  // `?q=` starts with a query: a search can be linked to.
  input.value = new URLSearchParams(location.search).get("q") || "";
  document.body.dataset.ready = "true";
  input.focus();
  search();
}

start();
