// Body chart: toggle regions on the SVG and refresh the ranked muscles, and the screen-first
// warnings of the marked regions, without a reload.
// The page works without this script through the region checkboxes and a normal GET.
(function () {
  "use strict";
  const layout = document.querySelector("[data-referral-url]");
  const form = document.getElementById("region-form");
  if (!layout || !form) return;
  const url = layout.dataset.referralUrl;
  const list = document.getElementById("candidates");
  const warnings = document.getElementById("screen-first");
  const summary = document.getElementById("selected-regions");
  const boxes = new Map();
  form.querySelectorAll('input[name="region"]').forEach((box) => boxes.set(box.value, box));

  function selected() {
    return [...boxes.values()].filter((box) => box.checked).map((box) => box.value);
  }

  function paint() {
    layout.querySelectorAll(".region").forEach((path) => {
      const on = boxes.get(path.id)?.checked || false;
      path.classList.toggle("is-selected", on);
      path.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function text(tag, content, className) {
    const node = document.createElement(tag);
    node.textContent = content;
    if (className) node.className = className;
    return node;
  }

  function renderWarnings(items) {
    if (!warnings) return;
    warnings.replaceChildren();
    for (const w of items) {
      const section = document.createElement("div");
      section.className = "screen-first-item";
      section.setAttribute("role", "note");
      section.setAttribute("aria-label", `Screen first: ${w.label}`);
      const title = document.createElement("p");
      title.className = "screen-first-title";
      title.append(text("strong", `Screen first: ${w.label}`), " ",
        text("span", `(${w.region_labels.join(", ")})`, "screen-first-regions"));
      const signs = document.createElement("ul");
      signs.className = "screen-first-signs";
      w.signs.forEach((sign) => signs.append(text("li", sign)));
      const cited = w.sources.map((s) => s.short || s.citation).join("; ");
      section.append(title, text("p", w.text), signs,
        text("p", `Source: ${cited}`, "screen-first-source"));
      warnings.append(section);
    }
  }

  function render(candidates, regions) {
    list.replaceChildren();
    summary.textContent = regions.length
      ? `Marked: ${regions.length} region${regions.length === 1 ? "" : "s"}`
      : "No region marked.";
    if (!candidates.length) {
      list.append(text("li", regions.length
        ? "No muscle in the catalogue typically refers to these regions."
        : "Mark painful regions on the chart to see muscles worth examining.", "empty"));
      return;
    }
    for (const c of candidates) {
      const item = document.createElement("li");
      const link = text("a", c.side ? `${c.name} (${c.side})` : c.name);
      link.href = `../muscles/${c.muscle}/${c.side ? "?side=" + c.side : ""}`;
      const reasons = document.createElement("ul");
      reasons.className = "reasons";
      c.reasons.forEach((r) => reasons.append(text("li", r)));
      item.append(link, " ", text("span", c.score.toFixed(2), "score"), " ",
        text("span", c.why_label, `why why--${c.why}`), reasons);
      list.append(item);
    }
  }

  async function refresh() {
    const regions = selected();
    const query = new URLSearchParams(regions.map((r) => ["region", r]));
    history.replaceState(null, "", query.toString() ? `?${query}` : location.pathname);
    const response = await fetch(`${url}?${query}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    renderWarnings(data.warnings);
    render(data.candidates, regions);
  }

  function toggle(path) {
    const box = boxes.get(path.id);
    if (!box) return;
    box.checked = !box.checked;
    paint();
    refresh();
  }

  layout.addEventListener("click", (event) => {
    const path = event.target.closest(".region");
    if (path) toggle(path);
  });
  layout.addEventListener("keydown", (event) => {
    const path = event.target.closest(".region");
    if (path && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      toggle(path);
    }
  });
  form.addEventListener("change", () => { paint(); refresh(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  paint();
})();
